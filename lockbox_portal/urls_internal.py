"""The internal (provider) site. Everything here lives under /internal/ so the customer
deployment, which never includes this module, cannot route any of it."""

from django.contrib import admin
from django.urls import include, path

from approvals.views import compliance, evidence, internal, tokens
from audit import views as audit

site = [
    path("", internal.home, name="home"),
    path("requests/new/", internal.new_request, name="new_request"),
    path("requests/mine/", internal.my_requests, name="my_requests"),
    path("requests/<uuid:pk>/", internal.request_detail, name="request"),
    path("requests/<uuid:pk>/notes/", internal.add_note, name="add_note"),
    path("requests/<uuid:pk>/approve/", internal.move, {"verb": "approve"}, name="approve"),
    path("requests/<uuid:pk>/reject/", internal.move, {"verb": "reject"}, name="reject"),
    path("requests/<uuid:pk>/revoke/", internal.move, {"verb": "revoke"}, name="revoke"),
    path("requests/<uuid:pk>/cancel/", internal.move, {"verb": "cancel"}, name="cancel"),
    path("requests/<uuid:pk>/release/", internal.move, {"verb": "release"}, name="release"),
    path("queue/", internal.queue, name="queue"),
    path("requests/<uuid:pk>/attestation/", evidence.file_attestation,
         name="file_attestation"),
    path("requests/<uuid:pk>/attestation/resolve/", evidence.resolve_attestation,
         name="resolve_attestation"),
    path("attestations/", evidence.attestation_list, name="attestations"),
    path("audit/", audit.provider_search, name="audit"),
    path("audit/keys.json", evidence.all_keys, name="audit_keys"),
    path("audit/checkpoints.json", evidence.all_checkpoints, name="audit_checkpoints"),
    path("audit/checkpoint/", evidence.checkpoint_now, name="checkpoint_now"),
    path("compliance/", compliance.internal_dashboard, name="compliance"),
    path("compliance/<slug:name>.csv", compliance.internal_csv, name="compliance_csv"),
    path("tokens/", tokens.provider_tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", tokens.provider_token_revoke, name="token_revoke"),
    path("audit/export.<str:fmt>", audit.provider_download, name="audit_export"),
]

urlpatterns = [
    path("internal/admin/", admin.site.urls),
    path("internal/", include((site, "internal"))),
]
