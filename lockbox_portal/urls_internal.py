"""The internal (provider) site. Everything here lives under /internal/ so the customer
deployment, which never includes this module, cannot route any of it."""

from django.contrib import admin
from django.urls import include, path

from approvals.views.internal import (
    attestations,
    audit,
    compliance,
    evidence,
    notes,
    queue,
    requests,
    tokens,
)

site = [
    path("", queue.home, name="home"),
    path("requests/new/", requests.new_request, name="new_request"),
    path("requests/mine/", requests.my_requests, name="my_requests"),
    path("requests/<uuid:pk>/", requests.request_detail, name="request"),
    path("requests/<uuid:pk>/notes/", notes.add_note, name="add_note"),
    path("requests/<uuid:pk>/approve/", requests.move, {"verb": "approve"}, name="approve"),
    path("requests/<uuid:pk>/reject/", requests.move, {"verb": "reject"}, name="reject"),
    path("requests/<uuid:pk>/revoke/", requests.move, {"verb": "revoke"}, name="revoke"),
    path("requests/<uuid:pk>/cancel/", requests.move, {"verb": "cancel"}, name="cancel"),
    path("requests/<uuid:pk>/release/", requests.move, {"verb": "release"}, name="release"),
    path("queue/", queue.queue, name="queue"),
    path("requests/<uuid:pk>/attestation/", attestations.file_attestation,
         name="file_attestation"),
    path("requests/<uuid:pk>/attestation/resolve/", attestations.resolve_attestation,
         name="resolve_attestation"),
    path("attestations/", attestations.attestation_list, name="attestations"),
    path("audit/", audit.search, name="audit"),
    path("audit/keys.json", evidence.keys, name="audit_keys"),
    path("audit/checkpoints.json", evidence.checkpoints, name="audit_checkpoints"),
    path("audit/checkpoint/", evidence.checkpoint_now, name="checkpoint_now"),
    path("compliance/", compliance.dashboard, name="compliance"),
    path("compliance/<slug:name>.csv", compliance.download, name="compliance_csv"),
    path("tokens/", tokens.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", tokens.revoke, name="token_revoke"),
    path("audit/export.<str:fmt>", audit.download, name="audit_export"),
    path("audit/archives/", audit.archive_tenants, name="audit_archive_tenants"),
    path("audit/archives/<slug:slug>/", audit.archive_list, name="audit_archives"),
    path("audit/archives/<slug:slug>/<int:first_seq>.jsonl", audit.archive_download,
         {"kind": "jsonl"}, name="audit_archive_file"),
    path("audit/archives/<slug:slug>/<int:first_seq>.manifest.json", audit.archive_download,
         {"kind": "manifest"}, name="audit_archive_manifest"),
]

urlpatterns = [
    path("internal/admin/", admin.site.urls),
    path("internal/", include((site, "internal"))),
]
