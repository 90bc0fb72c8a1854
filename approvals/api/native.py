"""Lockbox's own API (/api/v1/): the access check, activity, requests, the audit feed."""

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse

from approvals import activity, policy, roles
from approvals import transitions as t
from approvals.access import check_access_with_token, note_use
from approvals.api import paging
from approvals.api.http import (
    ApiError,
    ApiRequest,
    ViewResult,
    api_view,
    authenticate_request,
    bearer,
    json_body,
    only_fields,
    refused,
    require_scopes,
    require_types,
)
from approvals.api.models import ApiToken, Scope
from approvals.models import AccessRequest, State, Tenant
from audit.encoding import format_time
from audit.export import event_record
from audit.models import AuditEvent
from lockbox_portal import clock, metrics
from lockbox_portal.db import limits
from lockbox_portal.db.replica import lag_tolerant

PAGE_MAX = 100
FEED_MAX = 1000
SEQ_MAX = 2**62


def _time(moment: datetime | None) -> str | None:
    return format_time(moment) if moment else None


def request_json(req: AccessRequest, now: datetime) -> dict[str, Any]:
    return {
        "id": str(req.pk),
        "reference": req.reference,
        "tenant": req.tenant.slug,
        "requester": req.requester.email,
        "case_reference": req.case_reference,
        "justification": req.justification,
        "reason_type": req.reason_type,
        "scope": req.scope,
        "access_level": req.access_level,
        "requested_seconds": int(req.requested_duration.total_seconds()),
        "touches_customer_content": req.touches_customer_content,
        "state": policy.effective_state(req, now).value,
        "required_approvals": req.required_approvals,
        "customer_step_skipped": req.customer_step_skipped or None,
        "created_at": _time(req.created_at),
        "internal_expires_at": _time(req.internal_expires_at),
        "customer_expires_at": _time(req.customer_expires_at),
        "access_starts_at": _time(req.access_starts_at),
        "access_ends_at": _time(req.access_ends_at),
        "closed_at": _time(req.closed_at),
    }


def _text(data: dict[str, Any], field: str, *, limit: int = 512) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ApiError(400, "invalid", f"{field}: a non-empty string of at most {limit}.")
    return value.strip()


# --- The data plane -----------------------------------------------------------------------------

def _counted(view: Callable[[HttpRequest], JsonResponse]) -> Callable[[HttpRequest], JsonResponse]:
    """Counts the 503 that api_view answers when the database could not (fail closed); the
    view counts its own yes and no. Refused tokens and bad input are not answers, and are seen
    only in the request metrics by status."""

    @wraps(view)
    def counted(request: HttpRequest) -> JsonResponse:
        response = view(request)
        if response.status_code == 503:
            metrics.count_access_check("unavailable")
        return response

    return counted


@_counted
@api_view(methods=["POST"], authenticate=False, atomic=False,
          unavailable={"allowed": False, "reason": "Lockbox could not answer, so the answer "
                                                   "is no."})
@limits.deadline("LOCKBOX_ACCESS_CHECK_TIMEOUT")
def access_check(request: HttpRequest) -> ViewResult:
    """May this engineer use this level on this resource of this tenant, now? Fails closed.

    The hot path: the token and the grants are read in one query (access.check_access_with_token),
    so the body is read before that query; it is bounded (http.json_body), and whatever is
    wrong with it is told only after the token has been checked: a caller without a usable
    token learns nothing but 401.
    """
    raw = bearer(request)
    try:
        data = json_body(request)
        only_fields(data, {"engineer", "tenant", "resource", "access_level", "operation"})
        level = data.get("access_level", "read_only")
        if level not in ("read_only", "read_write"):
            raise ApiError(400, "invalid", "access_level: read_only or read_write.")
        engineer, tenant = _text(data, "engineer", limit=254), _text(data, "tenant", limit=63)
        resource = _text(data, "resource")
        if "operation" in data:
            _text(data, "operation", limit=64)
    except ApiError:
        # As on every endpoint, who is asking is settled before what they sent.
        authenticate_request(request, [Scope.ACCESS_CHECK])
        raise
    now = clock.now()
    token, problem, answer = check_access_with_token(
        raw_token=raw, engineer_email=engineer, tenant_slug=tenant, resource=resource,
        level=level, now=now)
    if token is None or answer is None:  # both or neither (check_access_with_token)
        raise refused(problem)
    require_scopes(token.scopes, [Scope.ACCESS_CHECK])
    note_use(token, now)
    metrics.count_access_check("allowed" if answer.allowed else "denied")
    return 200, {"allowed": answer.allowed, "reason": answer.reason,
                 "request_id": answer.request_id, "ends_at": _time(answer.ends_at)}


@api_view(methods=["POST"], scopes=[Scope.ACTIVITY_WRITE], idempotent=True)
def record_activity(request: ApiRequest) -> ViewResult:
    data = json_body(request)
    only_fields(data, {"tenant", "engineer", "actions"})
    try:
        results = activity.record_batch(
            tenant_slug=_text(data, "tenant", limit=63),
            engineer_email=_text(data, "engineer", limit=254),
            actions=data.get("actions"), via=request.api_token.audit_label())
    except activity.BatchTooLarge as too_large:
        raise ApiError(413, "too_large", str(too_large)) from None
    except Tenant.DoesNotExist as missing:
        raise ApiError(404, "not_found", str(missing)) from None
    flagged = sum(1 for r in results if not r["in_scope"])
    return 200, {"recorded": len(results), "out_of_scope": flagged, "results": results}


# --- Provider automation ------------------------------------------------------------------------

def _visible_requests(token: ApiToken) -> QuerySet[AccessRequest]:
    owner = token.owner
    rows = AccessRequest.objects.select_related("tenant", "requester")
    if roles.is_internal_approver(owner) or roles.is_provider_auditor(owner):
        return rows
    return rows.filter(requester=owner)


def _one_request(token: ApiToken, pk: uuid.UUID) -> AccessRequest:
    found = _visible_requests(token).filter(pk=pk).first()
    if found is None:
        raise ApiError(404, "not_found", "There is no such request.")
    return found


@api_view(methods=["GET", "POST"], scopes=[Scope.REQUESTS_READ], idempotent=True)
def requests_collection(request: ApiRequest) -> ViewResult:
    if request.method == "POST":
        return _create_request(request)
    now = clock.now()
    rows = _visible_requests(request.api_token)
    state = request.GET.get("state")
    if state is not None:
        if state not in State.values:
            raise ApiError(400, "invalid", f"state: one of {', '.join(State.values)}.")
        rows = rows.filter(state=state)
    if request.GET.get("tenant"):
        rows = rows.filter(tenant__slug=request.GET["tenant"])
    limit = _int_param(request, "limit", 50, 1, PAGE_MAX)
    cursor = request.GET.get("cursor")
    if cursor:
        key = paging.read_token(cursor, encoded=False)
        if key is None:
            raise ApiError(400, "invalid", "cursor: use the next_cursor of the previous page.")
        rows = paging.after(rows, key)
    page = paging.newest_first(rows, limit)
    more = len(page) > limit
    page = page[:limit]
    next_cursor = paging.token(page[-1], encoded=False) if more else None
    return 200, {"requests": [request_json(r, now) for r in page], "next_cursor": next_cursor}


NEW_REQUEST = {"tenant": str, "case_reference": str, "justification": str, "reason_type": str,
               "scope": list, "access_level": str, "duration_minutes": int,
               "touches_customer_content": bool}
NEW_REQUEST_REQUIRED = ("tenant", "case_reference", "justification", "reason_type", "scope",
                        "duration_minutes")


def _create_request(request: ApiRequest) -> ViewResult:
    require_scopes(request.api_token.scopes, [Scope.REQUESTS_WRITE])
    data = json_body(request)
    only_fields(data, NEW_REQUEST)
    # Types here; what each value may be (lengths, reason types, the tenant's maximum) is
    # policy.clean_request's, one rule for the API and the site's form.
    require_types(data, NEW_REQUEST, NEW_REQUEST_REQUIRED)
    minutes = data["duration_minutes"]
    if abs(minutes) > 10**6:
        raise ApiError(400, "invalid", "duration_minutes: a whole number of minutes.")
    tenant = data["tenant"]
    if not Tenant.objects.filter(slug=tenant).exists():
        raise ApiError(404, "not_found", f"There is no tenant {tenant!r}.")
    req = t.submit_request(
        requester=request.api_token.owner, tenant=tenant,
        case_reference=data["case_reference"], justification=data["justification"],
        reason_type=data["reason_type"], scope=data["scope"],
        access_level=data.get("access_level", "read_only"),
        requested_duration=timedelta(minutes=minutes),
        touches_customer_content=data.get("touches_customer_content", True),
        via=request.api_token.audit_label())
    return 201, request_json(req, clock.now())


@api_view(methods=["GET"], scopes=[Scope.REQUESTS_READ])
def request_item(request: ApiRequest, pk: uuid.UUID) -> ViewResult:
    return 200, request_json(_one_request(request.api_token, pk), clock.now())


@api_view(methods=["POST"], scopes=[Scope.REQUESTS_WRITE], idempotent=True)
def cancel_request(request: ApiRequest, pk: uuid.UUID) -> ViewResult:
    req = _one_request(request.api_token, pk)
    data = json_body(request, allow_empty=True)
    only_fields(data, {"comment"})
    comment = data.get("comment", "")
    if not isinstance(comment, str) or len(comment) > 2000:
        raise ApiError(400, "invalid", "comment: a string of at most 2000 characters.")
    t.cancel(access_request=req.pk, actor=request.api_token.owner, comment=comment,
             via=request.api_token.audit_label())
    req.refresh_from_db()
    return 200, request_json(req, clock.now())


# --- The audit feed -----------------------------------------------------------------------------

@api_view(methods=["GET"], scopes=[Scope.TENANT_READ])
@lag_tolerant
def audit_feed(request: ApiRequest, slug: str) -> ViewResult:
    """Every event of the tenant's chain after `after_seq`, in order, with its hashes: fetch
    until has_more is false, and keep next_after_seq for the next run."""
    token = request.api_token
    if token.tenant is None or token.tenant.slug != slug:
        raise ApiError(404, "not_found", "There is no such tenant for this token.")
    after = _int_param(request, "after_seq", 0, 0, SEQ_MAX)
    limit = _int_param(request, "limit", 500, 1, FEED_MAX)
    events = list(AuditEvent.objects.filter(chain=token.tenant.audit_chain, seq__gt=after)
                  .order_by("seq")[:limit + 1])
    more = len(events) > limit
    events = events[:limit]
    return 200, {"events": [event_record(e) for e in events],
                 "next_after_seq": events[-1].seq if events else after, "has_more": more}


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    # ASCII digits only: int() would also take " 5", "5_000" and Arabic-Indic digits. The
    # length bound keeps int() from parsing thousands of digits only to refuse them.
    if not re.fullmatch(r"-?[0-9]{1,30}", raw):
        raise ApiError(400, "invalid", f"{name}: a whole number.")
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(400, "invalid", f"{name}: between {low} and {high}.")
    return value
