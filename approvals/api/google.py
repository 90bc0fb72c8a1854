"""Customer automation in the shape of Google's Access Approval API v1.

A tenant is `organizations/{slug}`. The official google-cloud-access-approval client (REST
transport, `api_endpoint` set to this server, a Lockbox token as its bearer token) works against
these endpoints unmodified; Lockbox's own extra fields are ignored by it.
"""

import base64
import binascii

from django.db.models import Q
from django.utils.dateparse import parse_datetime

from approvals import policy
from approvals import transitions as t
from approvals.api.http import ApiError, api_view, json_body
from approvals.api.models import Scope
from approvals.models import AccessRequest, ReasonType, State
from approvals.tenants import set_notification_emails, update_policy
from audit.chain import format_time
from lockbox_portal import clock

REASONS = {
    ReasonType.CUSTOMER_INITIATED_SUPPORT: 1,
    ReasonType.PROVIDER_INITIATED_SERVICE: 2,
    ReasonType.PROVIDER_INITIATED_REVIEW: 3,
    ReasonType.THIRD_PARTY_DATA_REQUEST: 4,
    ReasonType.PRODUCTION_ALERT: 5,
}
REASON_NAMES = {1: "CUSTOMER_INITIATED_SUPPORT", 2: "GOOGLE_INITIATED_SERVICE",
                3: "GOOGLE_INITIATED_REVIEW", 4: "THIRD_PARTY_DATA_REQUEST",
                5: "GOOGLE_RESPONSE_TO_PRODUCTION_ALERT"}
DISMISSED = (State.DENIED, State.CANCELLED, State.EXPIRED)
VIA = "google-access-approval-v1"


def _ints(request):
    return "enum-encoding=int" in request.GET.get("$alt", "")


def _ts(moment):
    return format_time(moment) if moment else None


def _tenant(request, slug):
    token = request.api_token
    if token.tenant is None or token.tenant.slug != slug:
        raise ApiError(404, "not_found", f"organizations/{slug} was not found.")
    return token.tenant


def _decide_scope(request):
    if Scope.TENANT_DECIDE not in request.api_token.scopes:
        raise ApiError(403, "permission_denied", "This token may read but not decide.")


def approval_request(req, now, ints):
    """An ApprovalRequest resource; fields Google's client does not know are ignored by it."""
    shown = policy.effective_state(req, now)
    reason = REASONS[ReasonType(req.reason_type)]
    body = {
        "name": f"organizations/{req.tenant.slug}/approvalRequests/{req.pk}",
        "requestedResourceName": req.scope[0],
        "requestedResourceProperties": {"excludesDescendants": not req.scope[0].endswith("/*")},
        "requestedReason": {"type": reason if ints else REASON_NAMES[reason],
                            "detail": req.justification},
        "requestTime": _ts(req.internal_decided_at or req.created_at),
        "requestedExpiration": _ts(req.customer_expires_at or req.internal_expires_at),
        # Lockbox's own fields.
        "lockbox": {"state": shown.value, "reference": req.reference,
                    "requester": req.requester.email, "caseReference": req.case_reference,
                    "scope": req.scope, "accessLevel": req.access_level,
                    "requiredApprovals": req.required_approvals},
    }
    if req.access_starts_at:
        approve = {"approveTime": _ts(req.access_starts_at),
                   "expireTime": _ts(req.access_ends_at),
                   "autoApproved": bool(req.customer_step_skipped)}
        if req.state == State.REVOKED:
            approve["invalidateTime"] = _ts(req.closed_at)
        body["approve"] = approve
    elif shown in DISMISSED:
        moment = req.closed_at or policy.pending_expires_at(req)
        body["dismiss"] = {"dismissTime": _ts(moment), "implicit": shown != State.DENIED}
    return body


def _filtered(tenant, name, now):
    """Google's filters over the requests that reached the customer (or were granted without
    them); the provider's internal stage is not the customer's business yet."""
    rows = (AccessRequest.objects.select_related("tenant", "requester")
            .filter(tenant=tenant).exclude(state=State.PENDING_INTERNAL))
    pending = Q(state=State.PENDING_CUSTOMER, customer_expires_at__gt=now)
    active = Q(state=State.APPROVED, access_ends_at__gt=now)
    dismissed = (Q(state__in=[State.DENIED, State.CANCELLED, State.EXPIRED])
                 | Q(state=State.PENDING_CUSTOMER, customer_expires_at__lte=now))
    expired = (Q(state__in=[State.COMPLETED, State.REVOKED])
               | Q(state=State.APPROVED, access_ends_at__lte=now))
    filters = {"": pending | active, "ALL": Q(), "PENDING": pending, "ACTIVE": active,
               "DISMISSED": dismissed, "EXPIRED": expired,
               "HISTORY": active | dismissed | expired}
    if name not in filters:
        raise ApiError(400, "invalid", "filter: one of ALL, PENDING, ACTIVE, DISMISSED, "
                                       "EXPIRED, HISTORY.")
    return rows.filter(filters[name])


@api_view(methods=["GET"], scopes=[Scope.TENANT_READ], flavour="google")
def list_requests(request, slug):
    tenant = _tenant(request, slug)
    now = clock.now()
    rows = _filtered(tenant, request.GET.get("filter", "").upper(), now)
    try:
        size = int(request.GET.get("pageSize") or 50)
    except ValueError:
        raise ApiError(400, "invalid", "pageSize: a whole number.") from None
    size = max(1, min(size, 100))
    token = request.GET.get("pageToken")
    if token:
        try:
            created, _, pk = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ApiError(400, "invalid", "pageToken: use the nextPageToken you were given.") \
                from None
        moment = parse_datetime(created)
        if moment is None:
            raise ApiError(400, "invalid", "pageToken: use the nextPageToken you were given.")
        rows = rows.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=pk))
    page = list(rows.order_by("-created_at", "-id")[:size + 1])
    body = {"approvalRequests": [approval_request(r, now, _ints(request)) for r in page[:size]]}
    if len(page) > size:
        last = page[size - 1]
        body["nextPageToken"] = base64.urlsafe_b64encode(
            f"{last.created_at.isoformat()}|{last.pk}".encode()).decode()
    return 200, body


def _request(tenant, rid):
    found = (AccessRequest.objects.select_related("tenant", "requester")
             .filter(tenant=tenant, pk=rid).exclude(state=State.PENDING_INTERNAL).first())
    if found is None:
        raise ApiError(404, "not_found", f"approvalRequests/{rid} was not found.")
    return found


@api_view(methods=["GET", "POST"], scopes=[Scope.TENANT_READ], flavour="google",
          idempotent=True)
def request_resource(request, slug, rid, verb=None):
    tenant = _tenant(request, slug)
    req = _request(tenant, rid)
    if verb is None:
        if request.method != "GET":
            raise ApiError(405, "method_not_allowed", "Use GET here.")
        return 200, approval_request(req, clock.now(), _ints(request))
    if request.method != "POST":
        raise ApiError(405, "method_not_allowed", "Use POST here.")
    _decide_scope(request)
    data = json_body(request, allow_empty=True)
    owner, via = request.api_token.owner, {**request.api_token.audit_label(), "api": VIA}
    if verb == "approve":
        ends_at = None
        if data.get("expireTime"):
            ends_at = parse_datetime(str(data["expireTime"]))
            if ends_at is None or ends_at.tzinfo is None:
                raise ApiError(400, "invalid", "expireTime: an RFC 3339 time.")
        t.customer_approve(request=req.pk, actor=owner, via=via, ends_at=ends_at,
                           comment="Approved through the Access Approval API.")
    elif verb == "dismiss":
        t.customer_reject(request=req.pk, actor=owner, via=via,
                          comment="Dismissed through the Access Approval API.")
    else:
        t.revoke(request=req.pk, actor=owner, via=via,
                 comment="Invalidated through the Access Approval API.")
    req.refresh_from_db()
    return 200, approval_request(req, clock.now(), _ints(request))


def settings_resource_body(tenant, ints):
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


@api_view(methods=["GET", "PATCH"], scopes=[Scope.TENANT_READ], flavour="google")
def settings_resource(request, slug):
    tenant = _tenant(request, slug)
    if request.method == "PATCH":
        _decide_scope(request)
        data = json_body(request)
        mask = request.GET.get("updateMask") or request.GET.get("update_mask") or ""
        paths = {p.strip() for p in mask.split(",") if p.strip()} or {"notification_emails"}
        paths = {{"notificationEmails": "notification_emails",
                  "enrolledServices": "enrolled_services"}.get(p, p) for p in paths}
        unknown = paths - {"notification_emails", "enrolled_services"}
        if unknown:
            raise ApiError(400, "invalid", f"updateMask: cannot update {sorted(unknown)[0]}.")
        owner = request.api_token.owner
        if "notification_emails" in paths:
            emails = data.get("notificationEmails", [])
            if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
                raise ApiError(400, "invalid", "notificationEmails: a list of addresses.")
            set_notification_emails(tenant=tenant, actor=owner, emails=emails)
        if "enrolled_services" in paths:
            services = data.get("enrolledServices", [])
            if not isinstance(services, list):
                raise ApiError(400, "invalid", "enrolledServices: a list.")
            update_policy(tenant=tenant, actor=owner, lockbox_enabled=bool(services))
        tenant.refresh_from_db()
    return 200, settings_resource_body(tenant, _ints(request))
