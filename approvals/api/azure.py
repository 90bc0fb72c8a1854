"""Customer automation in the shape of Azure's Customer Lockbox API (Microsoft.CustomerLockbox,
api-version 2018-02-28-preview). A subscription here is a Lockbox tenant's slug."""

import base64
import binascii

from approvals import policy
from approvals import transitions as t
from approvals.api.http import ApiError, api_view, json_body, only_fields
from approvals.api.models import Scope
from approvals.models import AccessRequest, State
from approvals.tenants import update_policy
from audit.chain import format_time
from lockbox_portal import clock

API_VERSION = "2018-02-28-preview"
PAGE = 50
VIA = "azure-customer-lockbox"
STATUS = {State.PENDING_CUSTOMER: "Pending", State.APPROVED: "Approved",
          State.DENIED: "Denied", State.EXPIRED: "Expired", State.CANCELLED: "Expired",
          State.REVOKED: "Revoked", State.COMPLETED: "Completed"}


def _version(request):
    given = request.GET.get("api-version")
    if not given:
        raise ApiError(400, "MissingApiVersionParameter",
                       f"The api-version query parameter is required: {API_VERSION}.")
    if given != API_VERSION:
        raise ApiError(400, "InvalidApiVersionParameter",
                       f"The api-version {given!r} is not supported; use {API_VERSION}.")


def _tenant(request, slug):
    token = request.api_token
    if token.tenant is None or token.tenant.slug != slug:
        raise ApiError(404, "SubscriptionNotFound", f"The subscription {slug!r} was not found.")
    return token.tenant


def lockbox_request(req, now):
    rid = str(req.pk)
    shown = policy.effective_state(req, now)
    return {
        "id": f"/subscriptions/{req.tenant.slug}/providers/Microsoft.CustomerLockbox/"
              f"requests/{rid}",
        "name": rid,
        "type": "requests",
        "properties": {
            "requestId": rid,
            "justification": req.justification,
            "status": STATUS[shown],
            "createdDateTime": format_time(req.internal_decided_at or req.created_at),
            "expirationDateTime": format_time(req.customer_expires_at
                                              or req.internal_expires_at),
            "duration": max(1, round(req.requested_duration.total_seconds() / 3600)),
            "resourceIds": ",".join(req.scope),
            "resourceType": req.get_access_level_display(),
            "supportRequest": req.case_reference,
            "supportCaseUrl": None,
            "workitemsource": req.get_reason_type_display(),
            "subscriptionId": req.tenant.slug,
            "accessLevel": req.access_level,
        },
    }


def _rows(tenant):
    return (AccessRequest.objects.select_related("tenant", "requester")
            .filter(tenant=tenant).exclude(state=State.PENDING_INTERNAL))


@api_view(methods=["GET"], scopes=[Scope.TENANT_READ], flavour="azure")
def list_requests(request, slug):
    """Azure's list call sends no api-version; one given is still checked."""
    if "api-version" in request.GET:
        _version(request)
    tenant = _tenant(request, slug)
    now = clock.now()
    rows = _rows(tenant)
    rows = list(rows.order_by("-created_at", "-id"))
    wanted = _status_filter(request.GET.get("$filter", ""))
    if wanted:
        # The status a person sees is decided at read time, so the filter runs on it too.
        rows = [r for r in rows if STATUS[policy.effective_state(r, now)] == wanted]
    skip = 0
    if request.GET.get("$skiptoken"):
        try:
            skip = int(base64.urlsafe_b64decode(request.GET["$skiptoken"].encode()).decode())
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ApiError(400, "InvalidSkipToken", "Use the nextLink you were given.") from None
    page = rows[skip:skip + PAGE]
    body = {"value": [lockbox_request(r, now) for r in page]}
    if len(rows) > skip + PAGE:
        token = base64.urlsafe_b64encode(str(skip + PAGE).encode()).decode()
        body["nextLink"] = request.build_absolute_uri(f"{request.path}?$skiptoken={token}")
    return 200, body


def _status_filter(expression):
    """Only the filter Azure's clients send: properties/status eq 'Pending'."""
    expression = expression.strip()
    if not expression:
        return ""
    prefix = "properties/status eq "
    if not expression.startswith(prefix) or len(expression) < len(prefix) + 3:
        raise ApiError(400, "InvalidFilter", "Filter on properties/status eq '<status>'.")
    return expression[len(prefix):].strip("'\"")


def _request(request, slug, rid):
    """The request `rid` of the token's own tenant, after the api-version check; else 404."""
    _version(request)
    req = _rows(_tenant(request, slug)).filter(pk=rid).first()
    if req is None:
        raise ApiError(404, "RequestNotFound", f"The request {rid} was not found.")
    return req


@api_view(methods=["GET"], scopes=[Scope.TENANT_READ], flavour="azure")
def get_request(request, slug, rid):
    return 200, lockbox_request(_request(request, slug, rid), clock.now())


@api_view(methods=["POST"], scopes=[Scope.TENANT_READ, Scope.TENANT_DECIDE], flavour="azure",
          idempotent=True)
def update_approval(request, slug, rid):
    req = _request(request, slug, rid)
    data = json_body(request)
    only_fields(data, {"status", "reason"})
    status, reason = data.get("status"), data.get("reason", "")
    if status not in ("Approve", "Deny"):
        raise ApiError(400, "InvalidStatus", "status: Approve or Deny.")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise ApiError(400, "InvalidReason", "reason: text of at most 2000 characters.")
    owner, via = request.api_token.owner, {**request.api_token.audit_label(), "api": VIA}
    decide = t.customer_approve if status == "Approve" else t.customer_reject
    decide(request=req.pk, actor=owner, via=via,
           comment=reason or f"{status}d through the Customer Lockbox API.")
    return 200, {"status": status, "reason": reason}


@api_view(methods=["GET"], scopes=[Scope.TENANT_READ], flavour="azure")
def tenant_opted_in(request, slug):
    _version(request)
    tenant = _tenant(request, slug)
    return 200, {"isOptedIn": tenant.lockbox_enabled}


@api_view(methods=["POST"], scopes=[Scope.TENANT_READ, Scope.TENANT_DECIDE], flavour="azure",
          idempotent=True)
def switch_lockbox(request, enable):
    _version(request)
    tenant = request.api_token.tenant
    if tenant is None:
        raise ApiError(404, "TenantNotFound", "This token belongs to no tenant.")
    update_policy(tenant=tenant, actor=request.api_token.owner, lockbox_enabled=enable)
    return 200, {}
