"""Customer automation in the shape of Google's Access Approval API v1.

A tenant is `organizations/{slug}`. The official google-cloud-access-approval client (REST
transport, `api_endpoint` set to this server, a Lockbox token as its bearer token) works against
these endpoints unmodified; Lockbox's own extra fields are ignored by it.
"""

from datetime import datetime
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from approvals import selectors
from approvals import transitions as t
from approvals.api import paging
from approvals.api.google_shape import approval_request
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
from approvals.models import AccessRequest, Decision, State, Tenant
from approvals.selectors import shown_as, standing_approvals
from lockbox_portal import clock

VIA = "google-access-approval-v1"
DEFAULT_PAGE, MAX_PAGE = 50, 100
VERBS = ("approve", "dismiss", "invalidate")


def enum_ints(request: ApiRequest) -> bool:
    return "enum-encoding=int" in request.GET.get("$alt", "")


def token_tenant(request: ApiRequest, slug: str) -> Tenant:
    token = request.api_token
    if token.tenant is None or token.tenant.slug != slug:
        raise ApiError(404, "not_found", f"organizations/{slug} was not found.")
    return token.tenant


def require_decide_scope(request: ApiRequest) -> None:
    if Scope.TENANT_DECIDE not in request.api_token.scopes:
        raise ApiError(403, "permission_denied", "This token may read but not decide.")


def _rows(tenant: Tenant) -> QuerySet[AccessRequest]:
    """The requests that reached the customer (or were granted without them); the provider's
    internal stage is not the customer's business yet."""
    return (AccessRequest.objects.select_related("tenant", "requester")
            .filter(tenant=tenant).exclude(state=State.PENDING_INTERNAL))


def _filtered(tenant: Tenant, name: str, now: datetime) -> QuerySet[AccessRequest]:
    # Google's names for what a person is shown (the customer's rows are never pending
    # internally): policy.effective_state, as query conditions.
    pending = shown_as(State.PENDING_CUSTOMER, now)
    active = shown_as(State.APPROVED, now)
    dismissed = (shown_as(State.DENIED, now) | shown_as(State.CANCELLED, now)
                 | shown_as(State.EXPIRED, now))
    expired = shown_as(State.COMPLETED, now) | shown_as(State.REVOKED, now)
    filters = {"": pending | active, "ALL": Q(), "PENDING": pending, "ACTIVE": active,
               "DISMISSED": dismissed, "EXPIRED": expired,
               "HISTORY": active | dismissed | expired}
    if name not in filters:
        raise ApiError(400, "invalid", "filter: one of ALL, PENDING, ACTIVE, DISMISSED, "
                                       "EXPIRED, HISTORY.")
    return _rows(tenant).filter(filters[name])


def _page_size(text: str | None) -> int:
    """Google's page_size is an int32; 0 (or none) asks for the server's default."""
    try:
        size = 0 if text is None else int(text)
    except ValueError:
        raise ApiError(400, "invalid", "pageSize: a whole number.") from None
    if not 0 <= size <= 2**31 - 1:
        raise ApiError(400, "invalid", "pageSize: zero or more (an int32).")
    return min(size, MAX_PAGE) or DEFAULT_PAGE


@api_view(methods=["GET"], scopes=[Scope.TENANT_READ], flavour="google")
def list_requests(request: ApiRequest, slug: str) -> ViewResult:
    tenant = token_tenant(request, slug)
    now = clock.now()
    rows = _filtered(tenant, request.GET.get("filter", "").upper(), now)
    size = _page_size(request.GET.get("pageSize"))
    if request.GET.get("pageToken"):
        key = paging.read_token(request.GET["pageToken"])
        if key is None:
            raise ApiError(400, "invalid", "pageToken: use the nextPageToken you were given.")
        rows = paging.after(rows, key)
    standing = Decision.objects.filter(standing_approvals(now)).order_by("decided_at", "id")
    page = paging.newest_first(
        rows.prefetch_related(Prefetch("decisions", standing, to_attr="standing")), size)
    body: dict[str, Any] = {
        "approvalRequests": [approval_request(r, now, enum_ints(request)) for r in page[:size]]}
    if len(page) > size:
        body["nextPageToken"] = paging.token(page[size - 1])
    return 200, body


def _request(tenant: Tenant, rid: str) -> AccessRequest:
    found = by_id(_rows(tenant), rid)
    if found is None:
        raise ApiError(404, "not_found", f"approvalRequests/{rid} was not found.")
    return selectors.logged(found)


def _expire_time(data: dict[str, Any]) -> datetime | None:
    """The approver's expireTime: an RFC 3339 moment still to come, or None."""
    given = data.get("expireTime")
    if given is None:
        return None
    moment = clock.parse_instant(given)
    if moment is None:
        raise ApiError(400, "invalid", "expireTime: an RFC 3339 time such as "
                                       "2030-01-01T00:00:00Z.")
    if moment <= clock.now():
        raise ApiError(400, "invalid", "expireTime: a time in the future.")
    return moment


@api_view(methods=["GET", "POST"], scopes=[Scope.TENANT_READ], flavour="google",
          idempotent=True)
def request_resource(request: ApiRequest, slug: str, rid: str,
                     verb: str | None = None) -> ViewResult:
    """GET one request, or POST :approve / :dismiss / :invalidate. A request that is not in a
    state for the verb is HTTP 400 FAILED_PRECONDITION, as Google documents."""
    if verb is not None and verb not in VERBS:
        raise ApiError(404, "not_found", f"There is no method {verb!r}; use "
                                         f"{', '.join(VERBS)}.")
    tenant = token_tenant(request, slug)
    req = _request(tenant, rid)
    if verb is None:
        if request.method != "GET":
            raise ApiError(405, "method_not_allowed", "Use GET here.")
        return 200, approval_request(req, clock.now(), enum_ints(request))
    if request.method != "POST":
        raise ApiError(405, "method_not_allowed", "Use POST here.")
    require_decide_scope(request)
    data = json_body(request, allow_empty=True)
    only_fields(data, {"name", "expireTime"} if verb == "approve" else {"name"})
    if not isinstance(data.get("name", ""), str):
        raise ApiError(400, "invalid", "name: the request's resource name.")
    owner, via = request.api_token.owner, {**request.api_token.audit_label(), "api": VIA}
    if verb == "approve":
        t.customer_approve(access_request=req.pk, actor=owner, via=via, ends_at=_expire_time(data),
                           comment="Approved through the Access Approval API.")
    elif verb == "dismiss":
        t.customer_reject(access_request=req.pk, actor=owner, via=via,
                          comment="Dismissed through the Access Approval API.")
    else:
        t.revoke(access_request=req.pk, actor=owner, via=via,
                 comment="Invalidated through the Access Approval API.")
    req.refresh_from_db()
    return 200, approval_request(req, clock.now(), enum_ints(request))
