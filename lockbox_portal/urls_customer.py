"""The customer portal (internet-facing). It must never include lockbox_portal.urls_internal."""

from django.urls import include, path

from approvals.views import compliance, customer, evidence, tenant_settings, tokens, webhooks
from audit import views as audit

portal = [
    path("", customer.home, name="home"),
    path("t/<slug:slug>/", customer.dashboard, name="tenant_dashboard"),
    path("t/<slug:slug>/requests/<uuid:pk>/", customer.request_detail, name="request"),
    path("t/<slug:slug>/requests/<uuid:pk>/approve/", customer.decide, {"verb": "approve"},
         name="approve"),
    path("t/<slug:slug>/requests/<uuid:pk>/reject/", customer.decide, {"verb": "reject"},
         name="reject"),
    path("t/<slug:slug>/requests/<uuid:pk>/revoke/", customer.decide, {"verb": "revoke"},
         name="revoke"),
    path("t/<slug:slug>/requests/<uuid:pk>/receipts/<int:decision_id>.json", evidence.receipt,
         name="receipt"),
    path("t/<slug:slug>/requests/<uuid:pk>/attestation/", evidence.answer_attestation,
         name="answer_attestation"),
    path("t/<slug:slug>/history/", customer.history, name="history"),
    path("t/<slug:slug>/audit/keys.json", evidence.tenant_keys, name="audit_keys"),
    path("t/<slug:slug>/audit/checkpoints.json", evidence.tenant_checkpoints,
         name="audit_checkpoints"),
    path("t/<slug:slug>/compliance/", compliance.portal_dashboard, name="compliance"),
    path("t/<slug:slug>/compliance/<slug:name>.csv", compliance.portal_csv,
         name="compliance_csv"),
    path("t/<slug:slug>/audit/", audit.search, name="audit"),
    path("t/<slug:slug>/audit/export.<str:fmt>", audit.download, name="audit_export"),
    path("t/<slug:slug>/settings/", tenant_settings.policy, name="settings"),
    path("t/<slug:slug>/settings/members/", tenant_settings.members, name="members"),
    path("t/<slug:slug>/settings/members/<int:number>/", tenant_settings.member,
         name="member"),
    path("t/<slug:slug>/settings/members/<int:number>/remove/",
         tenant_settings.remove_member, name="remove_member"),
    path("t/<slug:slug>/settings/notifications/", tenant_settings.notifications,
         name="notifications"),
    path("t/<slug:slug>/settings/tokens/", tokens.tenant_tokens, name="tokens"),
    path("t/<slug:slug>/settings/tokens/<int:pk>/revoke/", tokens.tenant_token_revoke,
         name="token_revoke"),
    path("t/<slug:slug>/settings/webhooks/", webhooks.webhook_list, name="webhooks"),
    path("t/<slug:slug>/settings/webhooks/<int:pk>/", webhooks.webhook_detail, name="webhook"),
    path("t/<slug:slug>/settings/webhooks/<int:pk>/test/", webhooks.webhook_test,
         name="webhook_test"),
    path("t/<slug:slug>/settings/webhooks/<int:pk>/enable/", webhooks.webhook_change,
         {"change": "enable"}, name="webhook_enable"),
    path("t/<slug:slug>/settings/webhooks/<int:pk>/disable/", webhooks.webhook_change,
         {"change": "disable"}, name="webhook_disable"),
    path("t/<slug:slug>/settings/webhooks/<int:pk>/delete/", webhooks.webhook_change,
         {"change": "delete"}, name="webhook_delete"),
]

urlpatterns = [
    path("", include((portal, "portal"))),
]
