"""Google's AccessApprovalSettings for a tenant: who else is told, and whether Lockbox is on."""

from typing import Any

from django.db import transaction

from approvals.api.google import enum_ints, require_decide_scope, token_tenant
from approvals.api.http import ApiError, ApiRequest, ViewResult, api_view, json_body, only_fields
from approvals.api.models import Scope
from approvals.models import Tenant
from approvals.tenants import MAX_NOTIFICATION_EMAILS, set_notification_emails, update_policy

# The settings' fields (JSON names) and their types: the client sends back what it read.
FIELDS = {"name": str, "notificationEmails": list, "enrolledServices": list,
          "enrolledAncestor": bool, "activeKeyVersion": str,
          "ancestorHasActiveKeyVersion": bool, "invalidKeyVersion": bool, "lockbox": dict}
MASK = {"notificationEmails": "notification_emails", "enrolledServices": "enrolled_services"}


def settings_resource_body(tenant: Tenant, ints: bool) -> dict[str, Any]:
    return {
        "name": f"organizations/{tenant.slug}/accessApprovalSettings",
        "notificationEmails": tenant.notification_emails,
        "enrolledServices": ([{"cloudProduct": "all",
                               "enrollmentLevel": 1 if ints else "BLOCK_ALL"}]
                             if tenant.lockbox_enabled else []),
        "enrolledAncestor": False,
        # Lockbox's own fields.
        "lockbox": {
            "lockboxEnabled": tenant.lockbox_enabled,
            "requiredApprovals": tenant.required_approvals,
            "approvalWindowSeconds": int(tenant.customer_approval_window.total_seconds()),
            "maxAccessSeconds": int(tenant.max_access_duration.total_seconds()),
        },
    }


def _checked(data: dict[str, Any]) -> dict[str, Any]:
    """The settings as sent, or ApiError(400) naming the first field that is not as Google's
    AccessApprovalSettings describes it."""
    only_fields(data, FIELDS)
    for field, kind in FIELDS.items():
        if field in data and not isinstance(data[field], kind):
            raise ApiError(400, "invalid", f"{field}: not a {kind.__name__}.")
    emails = data.get("notificationEmails", [])
    if not all(isinstance(e, str) and e.strip() for e in emails):
        raise ApiError(400, "invalid", "notificationEmails: a list of addresses.")
    if len(emails) > MAX_NOTIFICATION_EMAILS:
        raise ApiError(400, "invalid", f"notificationEmails: at most "
                                       f"{MAX_NOTIFICATION_EMAILS} addresses.")
    for service in data.get("enrolledServices", []):
        if (not isinstance(service, dict) or set(service) - {"cloudProduct", "enrollmentLevel"}
                or not isinstance(service.get("cloudProduct", ""), str)
                or service.get("enrollmentLevel", 1) not in (1, "BLOCK_ALL")):
            raise ApiError(400, "invalid", "enrolledServices: entries of cloudProduct and "
                                           "enrollmentLevel BLOCK_ALL.")
    return data


def _mask(request: ApiRequest) -> set[str]:
    mask = request.GET.get("updateMask") or request.GET.get("update_mask") or ""
    paths = {p.strip() for p in mask.split(",") if p.strip()} or {"notification_emails"}
    paths = {MASK.get(p, p) for p in paths}
    unknown = paths - set(MASK.values())
    if unknown:
        raise ApiError(400, "invalid", f"updateMask: cannot update {sorted(unknown)[0]}.")
    return paths


@api_view(methods=["GET", "PATCH"], scopes=[Scope.TENANT_READ], flavour="google")
def settings_resource(request: ApiRequest, slug: str) -> ViewResult:
    """GET, or PATCH the fields the updateMask names (none: notificationEmails). Both fields
    change together or neither does."""
    tenant = token_tenant(request, slug)
    if request.method == "PATCH":
        require_decide_scope(request)
        data = _checked(json_body(request))
        paths, owner = _mask(request), request.api_token.owner
        with transaction.atomic():
            if "notification_emails" in paths:
                set_notification_emails(tenant=tenant, actor=owner,
                                        emails=data.get("notificationEmails", []))
            if "enrolled_services" in paths:
                update_policy(tenant=tenant, actor=owner,
                              lockbox_enabled=bool(data.get("enrolledServices")))
        tenant.refresh_from_db()
    return 200, settings_resource_body(tenant, enum_ints(request))
