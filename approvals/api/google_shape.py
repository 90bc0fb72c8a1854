"""How a Lockbox request reads as Google's ApprovalRequest (google.cloud.accessapproval.v1).

Google's request names one resource for one approval; a Lockbox request names up to fifty
resources at one access level, with a quorum of approvers. The mapping, field by field:

- requestedResourceName: the one resource, or every resource separated by ", " (Lockbox's
  identifiers hold no spaces, so the list splits back without doubt).
- requestedResourceProperties.excludesDescendants: false as soon as one identifier covers what
  is below it ("prefix/*").
- requestedReason.detail: the case, the access level and the justification, in that order
  ("Case Number: ..." is how Google writes a customer-initiated case), since Google's request
  has no field for the level.
- requestedLocations: left out: Lockbox does not know where the engineer sits.
- requestedExpiration: what Google's comment says: the end of the access if it were approved
  now, i.e. now plus the duration asked (capped by the policy). Once granted: the grant's start
  plus that duration; a request that closed unapproved: from the moment it closed.
- approve: set as soon as one approval stands. Until the quorum is reached approveTime is the
  latest approval and expireTime the end the access would have if granted now (the earliest
  end any approver chose, else requestedExpiration); `lockbox.approvals` counts them. Once
  granted, the grant's own start and end.
"""

from datetime import datetime
from typing import Any

from approvals import policy
from approvals.models import AccessLevel, AccessRequest, Decision, ReasonType, State
from approvals.selectors import standing_approvals
from audit.encoding import format_time

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


def _ts(moment: datetime | None) -> str | None:
    return format_time(moment) if moment else None


def name(req: AccessRequest) -> str:
    return f"organizations/{req.tenant.slug}/approvalRequests/{req.pk}"


def standing(req: AccessRequest, now: datetime) -> list[Decision]:
    """The approvals that count now, oldest first (prefetched as `standing` by lists)."""
    if hasattr(req, "standing"):
        return req.standing
    return list(req.decisions.filter(standing_approvals(now)).order_by("decided_at", "id"))


def requested_expiration(req: AccessRequest, now: datetime) -> datetime:
    if req.access_starts_at:
        start = req.access_starts_at
    elif policy.is_awaiting_decision(req, now, stage=State.PENDING_CUSTOMER):
        start = now
    else:
        start = req.closed_at or policy.pending_expires_at(req) or now
    return policy.grant_window(approved_at=start, requested=req.requested_duration,
                               maximum=req.tenant.max_access_duration)[1]


def _approve(req: AccessRequest, shown: State, now: datetime) -> dict[str, Any] | None:
    if req.access_starts_at:
        approve: dict[str, Any] = {"approveTime": _ts(req.access_starts_at),
                   "expireTime": _ts(req.access_ends_at),
                   "autoApproved": bool(req.customer_step_skipped)}
        if req.state == State.REVOKED:
            approve["invalidateTime"] = _ts(req.closed_at)
        return approve
    given = standing(req, now) if shown == State.PENDING_CUSTOMER else []
    if not given:
        return None
    ends = [d.ends_at for d in given] + [requested_expiration(req, now)]
    return {"approveTime": _ts(max(d.decided_at for d in given)),
            "expireTime": _ts(policy.earliest_end(ends)), "autoApproved": False}


def approval_request(req: AccessRequest, now: datetime, ints: bool) -> dict[str, Any]:
    """An ApprovalRequest resource; fields Google's client does not know are ignored by it."""
    shown = policy.effective_state(req, now)
    reason = REASONS[ReasonType(req.reason_type)]
    level = AccessLevel(req.access_level).label
    body: dict[str, Any] = {
        "name": name(req),
        "requestedResourceName": ", ".join(req.scope),
        "requestedResourceProperties": {
            "excludesDescendants": not any(item.endswith("/*") for item in req.scope)},
        "requestedReason": {
            "type": reason if ints else REASON_NAMES[reason],
            "detail": f"Case Number: {req.case_reference}. Access level: {level}. "
                      f"{req.justification}"},
        "requestTime": _ts(req.internal_decided_at or req.created_at),
        "requestedExpiration": _ts(requested_expiration(req, now)),
        # Lockbox's own fields.
        "lockbox": {"state": shown.value, "reference": req.reference,
                    "requester": req.requester.email, "caseReference": req.case_reference,
                    "scope": req.scope, "accessLevel": req.access_level,
                    "requiredApprovals": req.required_approvals},
    }
    if shown == State.PENDING_CUSTOMER:
        body["lockbox"]["approvals"] = len(standing(req, now))
    approve = _approve(req, shown, now)
    if approve:
        body["approve"] = approve
    elif shown in DISMISSED:
        moment = req.closed_at or policy.pending_expires_at(req)
        body["dismiss"] = {"dismissTime": _ts(moment), "implicit": shown != State.DENIED}
    return body
