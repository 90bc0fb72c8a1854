"""Customer automation in the shape of Azure's Customer Lockbox API (Microsoft.CustomerLockbox,
api-version 2018-02-28-preview). A subscription here is a Lockbox tenant's slug.

Errors use Azure Resource Manager's shape and common codes ({"error": {"code", "message",
"target"?, "additionalInfo"}}); a decision on a request that is no longer pending is 409
Conflict with the request's currentStatus in additionalInfo, as the spec's ErrorAdditionalInfo
describes.
"""

import re
from typing import Any
from urllib.parse import quote, urlencode

from django.db.models import QuerySet

from approvals import policy, selectors
from approvals import transitions as t
from approvals.api import paging
from approvals.api.azure_shape import STATUS, STATUSES, lockbox_request, status_q
from approvals.api.http import (
    ApiError,
    ApiRequest,
    ViewResult,
    api_view,
    by_id,
    json_body,
    only_fields,
)
from approvals.api.models import Scope
from approvals.errors import AlreadyDecided, IllegalTransition
from approvals.models import AccessRequest, State, Tenant
from approvals.tenants import update_policy
from lockbox_portal import clock

API_VERSION = "2018-02-28-preview"
PAGE = 50
VIA = "azure-customer-lockbox"
_FILTER = re.compile(r"^\s*properties/status\s+eq\s+'([A-Za-z]+)'\s*$")


def _version(request: ApiRequest) -> None:
    given = request.GET.get("api-version")
    if not given:
        raise ApiError(400, "MissingApiVersionParameter",
                       f"The api-version query parameter is required: {API_VERSION}.")
    if given != API_VERSION:
        raise ApiError(400, "InvalidApiVersionParameter",
                       f"The api-version {given!r} is not supported; use {API_VERSION}.")


def _tenant(request: ApiRequest, slug: str) -> Tenant:
    token = request.api_token
    if token.tenant is None or token.tenant.slug != slug:
        raise ApiError(404, "SubscriptionNotFound", f"The subscription {slug!r} was not found.")
    return token.tenant


def _rows(tenant: Tenant) -> QuerySet[AccessRequest]:
    """What the customer sees: the provider's internal stage is not theirs yet."""
    return (AccessRequest.objects.select_related("tenant")
            .filter(tenant=tenant).exclude(state=State.PENDING_INTERNAL))


@api_view(methods=["GET"], scopes=[Scope.TENANT_READ], flavour="azure")
def list_requests(request: ApiRequest, slug: str) -> ViewResult:
    """Newest first, PAGE at a time, paged by key in SQL; the nextLink keeps the $filter.
    Azure's list call sends no api-version; one given is still checked."""
    if "api-version" in request.GET:
        _version(request)
    tenant = _tenant(request, slug)
    now = clock.now()
    rows = _rows(tenant)
    wanted = _status_filter(request.GET.get("$filter", ""))
    if wanted:
        rows = rows.filter(status_q(wanted, now))
    skip = request.GET.get("$skiptoken")
    if skip:
        key = paging.read_token(skip)
        if key is None:
            raise ApiError(400, "BadRequest", "The $skiptoken could not be decoded; follow the "
                           "nextLink you were given.", {"target": "$skiptoken"})
        rows = paging.after(rows, key)
    page = paging.newest_first(rows, PAGE)
    body: dict[str, Any] = {"value": [lockbox_request(r, now) for r in page[:PAGE]]}
    if len(page) > PAGE:
        body["nextLink"] = _next_link(request, page[PAGE - 1])
    return 200, body


def _status_filter(expression: str) -> str:
    """The one filter Azure documents: properties/status eq '<LockboxRequestStatus>'."""
    if not expression.strip():
        return ""
    found = _FILTER.match(expression)
    status = {s.lower(): s for s in STATUSES}.get(found.group(1).lower()) if found else None
    if status is None:
        raise ApiError(400, "BadRequest", "Only properties/status eq '<status>' is supported, "
                       f"with a status among {', '.join(STATUSES)}.", {"target": "$filter"})
    return status


def _next_link(request: ApiRequest, last: AccessRequest) -> str:
    params = {name: request.GET[name] for name in ("$filter", "api-version")
              if request.GET.get(name, "").strip()}
    params["$skiptoken"] = paging.token(last)
    query = urlencode(params, quote_via=quote, safe="$/'")
    return request.build_absolute_uri(f"{request.path}?{query}")


def _request(request: ApiRequest, slug: str, rid: str) -> AccessRequest:
    """The request `rid` of the token's own tenant, after the api-version check; else 404."""
    _version(request)
    tenant = _tenant(request, slug)
    found = by_id(_rows(tenant), rid)
    if found is None:
        raise ApiError(404, "ResourceNotFound", f"The Lockbox request {rid!r} was not found.")
    return selectors.logged(found)


@api_view(methods=["GET"], scopes=[Scope.TENANT_READ], flavour="azure")
def get_request(request: ApiRequest, slug: str, rid: str) -> ViewResult:
    return 200, lockbox_request(_request(request, slug, rid), clock.now())


@api_view(methods=["POST"], scopes=[Scope.TENANT_READ, Scope.TENANT_DECIDE], flavour="azure",
          idempotent=True)
def update_approval(request: ApiRequest, slug: str, rid: str) -> ViewResult:
    req = _request(request, slug, rid)
    data = json_body(request)
    only_fields(data, {"status", "reason"})
    status, reason = data.get("status"), data.get("reason", "")
    if status not in ("Approve", "Deny"):
        raise ApiError(400, "InvalidRequestContent", "status: Approve or Deny.",
                       {"target": "status"})
    if not isinstance(reason, str) or len(reason) > 2000:
        raise ApiError(400, "InvalidRequestContent", "reason: text of at most 2000 characters.",
                       {"target": "reason"})
    owner, via = request.api_token.owner, {**request.api_token.audit_label(), "api": VIA}
    decide = t.customer_approve if status == "Approve" else t.customer_reject
    try:
        decide(access_request=req.pk, actor=owner, via=via,
               comment=reason or f"{status}d through the Customer Lockbox API.")
    except (IllegalTransition, AlreadyDecided) as refused:
        req.refresh_from_db()
        current = STATUS.get(policy.effective_state(req, clock.now()), "Unknown")
        raise ApiError(409, "Conflict", refused.message, {"additionalInfo": [
            {"type": "LockboxRequestStatus", "info": {"currentStatus": current}}]}) from None
    return 200, {"status": status, "reason": reason}


@api_view(methods=["GET"], scopes=[Scope.TENANT_READ], flavour="azure")
def tenant_opted_in(request: ApiRequest, slug: str) -> ViewResult:
    _version(request)
    tenant = request.api_token.tenant
    if tenant is None or tenant.slug != slug:
        raise ApiError(404, "ResourceNotFound", f"The tenant {slug!r} was not found.")
    return 200, {"isOptedIn": tenant.lockbox_enabled}


@api_view(methods=["POST"], scopes=[Scope.TENANT_READ, Scope.TENANT_DECIDE], flavour="azure",
          idempotent=True)
def switch_lockbox(request: ApiRequest, enable: bool) -> ViewResult:
    _version(request)
    tenant = request.api_token.tenant
    if tenant is None:
        raise ApiError(404, "ResourceNotFound", "This token belongs to no tenant.")
    update_policy(tenant=tenant, actor=request.api_token.owner, lockbox_enabled=enable)
    return 200, {}


OPERATIONS = [
    ("operations/read", "Lockbox Operations", "Read Lockbox Operations"),
    ("requests/read", "Customer Lockbox Request", "Read Lockbox Request"),
    ("requests/UpdateApproval/action", "Customer Lockbox Request",
     "Approve or Deny Lockbox Request"),
    ("tenantOptedIn/read", "Customer Lockbox", "Read whether the tenant is opted in"),
    ("enableLockbox/action", "Customer Lockbox", "Enable Customer Lockbox"),
    ("disableLockbox/action", "Customer Lockbox", "Disable Customer Lockbox"),
]


@api_view(methods=["GET"], flavour="azure")
def operations(request: ApiRequest) -> ViewResult:
    """Operations_List: what this provider serves, in the spec's shape (isDataAction is text)."""
    _version(request)
    return 200, {"value": [
        {"name": f"Microsoft.CustomerLockbox/{name}", "isDataAction": "false",
         "origin": "user,system",
         "display": {"provider": "Microsoft Customer Lockbox", "resource": resource,
                     "operation": label, "description": label}}
        for name, resource, label in OPERATIONS]}
