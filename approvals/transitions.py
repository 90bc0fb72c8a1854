"""The only place an access request's state changes.

Every verb below is one function that, in one transaction:
  1. locks the request row (so two people deciding at once are serialised),
  2. checks that the move is allowed from the current state and at `now`,
  3. checks that the actor may make it,
  4. changes the state, appends the state history and writes the audit event.
A refused move raises a TransitionError and writes nothing. Which verb may act on which state,
and when, is approvals.policy's (the pages showing buttons ask it too).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from approvals import policy, roles
from approvals.access_cache import access_taken_away
from approvals.actions import Action
from approvals.errors import AlreadyDecided, IllegalTransition, NotPermitted
from approvals.models import (
    AccessLevel,
    AccessRequest,
    Decision,
    DecisionLevel,
    State,
    Tenant,
    Transition,
    Verdict,
)
from approvals.notifications import recipients
from approvals.policy import FINAL_STATES, Verb
from approvals.selectors import standing_approvals
from audit.services import record_event
from lockbox_portal import clock, metrics

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    RequestRef = AccessRequest | UUID | str  # the request, or its primary key


# --- Submitting ---------------------------------------------------------------------------------

def submit_request(*, requester: User, tenant: Tenant | str, case_reference: str,
                   justification: str, reason_type: str, scope: Any,
                   requested_duration: timedelta, access_level: str = AccessLevel.READ_ONLY,
                   touches_customer_content: bool = True, now: datetime | None = None,
                   via: dict[str, Any] | None = None) -> AccessRequest:
    """An engineer asks for access. Raises ValidationError (bad input) or NotPermitted."""
    now = now or clock.now()
    if not roles.is_engineer(requester):
        raise NotPermitted("Only support engineers can request access.")
    if not isinstance(tenant, Tenant):
        found = Tenant.objects.filter(slug=str(tenant)).first()
        if found is None:
            raise ValidationError({"tenant": f"There is no tenant {tenant!r}."})
        tenant = found
    cleaned = policy.clean_request(
        tenant=tenant, case_reference=case_reference, justification=justification,
        reason_type=reason_type, scope=scope, access_level=access_level,
        requested_duration=requested_duration,
    )
    with transaction.atomic():
        request = AccessRequest.objects.create(
            tenant=tenant,
            requester=requester,
            touches_customer_content=bool(touches_customer_content),
            state=State.PENDING_INTERNAL,
            created_at=now,
            internal_expires_at=now + settings.LOCKBOX_INTERNAL_APPROVAL_WINDOW,
            **cleaned,
        )
        _history(request, "", Verb.SUBMIT, requester, now)
        event = record_event(
            chain=tenant.audit_chain, action=Action.REQUEST_SUBMITTED, actor=requester,
            request_id=request.pk, now=now,
            data={
                "case_reference": request.case_reference,
                "reason_type": request.reason_type,
                "justification": request.justification,
                "scope": request.scope,
                "access_level": request.access_level,
                "requested_seconds": int(request.requested_duration.total_seconds()),
                "touches_customer_content": request.touches_customer_content,
                "internal_expires_at": _iso(request.internal_expires_at),
                **_via(via),
            },
        )
        recipients.request_event(request, event)
    return request


# --- The provider's internal step ---------------------------------------------------------------

def internal_approve(*, access_request: RequestRef, actor: User, comment: str = "",
                     now: datetime | None = None) -> AccessRequest:
    """A manager approves. Goes to the customer, or straight to APPROVED when the tenant has
    Lockbox off or the access touches no customer content (and says which)."""
    now = now or clock.now()
    with transaction.atomic():
        req = _lock(access_request, Verb.INTERNAL_APPROVE, now)
        _require_internal_approver(req, actor)
        _decide(req, DecisionLevel.INTERNAL, actor, Verdict.APPROVE, comment, now)
        req.internal_decided_at = now
        skip = policy.customer_step_skip_reason(
            lockbox_enabled=req.tenant.lockbox_enabled,
            touches_customer_content=req.touches_customer_content,
        )
        if skip:
            req.customer_step_skipped = skip
            _grant(req, actor, now, level=DecisionLevel.INTERNAL, comment=comment,
                   extra={"customer_step_skipped": skip})
        else:
            req.required_approvals = req.tenant.required_approvals
            req.customer_expires_at = now + req.tenant.customer_approval_window
            _move(req, State.PENDING_CUSTOMER, Verb.INTERNAL_APPROVE, actor, now,
                  action=Action.REQUEST_INTERNAL_APPROVED, note=comment,
                  data={"required_approvals": req.required_approvals,
                        "customer_expires_at": _iso(req.customer_expires_at)})
    return req


def internal_reject(*, access_request: RequestRef, actor: User, comment: str = "",
                    now: datetime | None = None) -> AccessRequest:
    now = now or clock.now()
    with transaction.atomic():
        req = _lock(access_request, Verb.INTERNAL_REJECT, now)
        _require_internal_approver(req, actor)
        _decide(req, DecisionLevel.INTERNAL, actor, Verdict.REJECT, comment, now)
        req.internal_decided_at = now
        _move(req, State.DENIED, Verb.INTERNAL_REJECT, actor, now,
              action=Action.REQUEST_INTERNAL_REJECTED, note=comment)
    return req


# --- The customer's step ------------------------------------------------------------------------

def customer_approve(*, access_request: RequestRef, actor: User, comment: str = "",
                     now: datetime | None = None, via: dict[str, Any] | None = None,
                     ends_at: datetime | None = None) -> AccessRequest:
    """One of the tenant's approvers approves, if they like only until `ends_at`.

    Access is granted when `required_approvals` distinct approvers have approvals that still
    stand; until then the request stays pending. Each approver's `ends_at` is kept with their
    decision, and the grant ends at the earliest of them, never later than the request or the
    policy allow. An approval whose `ends_at` passes before the quorum is reached stops counting:
    that approver's consent has run out (selectors.standing_approvals)."""
    now = now or clock.now()
    if ends_at is not None and ends_at <= now:
        raise IllegalTransition("The access would end before it starts; choose a later time.")
    with transaction.atomic():
        req = _lock(access_request, Verb.CUSTOMER_APPROVE, now)
        _require_customer_approver(req, actor)
        _decide(req, DecisionLevel.CUSTOMER, actor, Verdict.APPROVE, comment, now,
                ends_at=ends_at)
        standing = list(req.decisions.filter(standing_approvals(now))
                        .values_list("ends_at", flat=True))
        quorum = {"approvals": len(standing), "required_approvals": req.required_approvals,
                  **({"approval_ends_at": _iso(ends_at)} if ends_at else {}), **_via(via)}
        assert req.required_approvals is not None  # set when the customer step began
        if len(standing) >= req.required_approvals:
            _grant(req, actor, now, level=DecisionLevel.CUSTOMER, comment=comment, extra=quorum,
                   ends_at=policy.earliest_end(standing))
        else:
            record_event(chain=req.tenant.audit_chain, action=Action.REQUEST_CUSTOMER_APPROVED,
                         actor=actor, request_id=req.pk, now=now,
                         data={**quorum, "comment": comment, "state": req.state})
    return req


def customer_reject(*, access_request: RequestRef, actor: User, comment: str = "",
                    now: datetime | None = None,
                    via: dict[str, Any] | None = None) -> AccessRequest:
    """Any one of the tenant's approvers can reject; that ends the request."""
    now = now or clock.now()
    with transaction.atomic():
        req = _lock(access_request, Verb.CUSTOMER_REJECT, now)
        _require_customer_approver(req, actor)
        _decide(req, DecisionLevel.CUSTOMER, actor, Verdict.REJECT, comment, now)
        _move(req, State.DENIED, Verb.CUSTOMER_REJECT, actor, now,
              action=Action.REQUEST_CUSTOMER_REJECTED, note=comment, data=_via(via))
    return req


# --- Ending a request ---------------------------------------------------------------------------

def cancel(*, access_request: RequestRef, actor: User | None, comment: str = "",
           now: datetime | None = None, via: dict[str, Any] | None = None) -> AccessRequest:
    """The requester withdraws a request that is still pending."""
    now = now or clock.now()
    with transaction.atomic():
        req = _lock(access_request, Verb.CANCEL, now)
        if not policy.is_requester(req, _id(actor)):
            raise NotPermitted("Only the engineer who made the request can cancel it.")
        _move(req, State.CANCELLED, Verb.CANCEL, actor, now, action=Action.REQUEST_CANCELLED,
              note=comment, data=_via(via))
    return req


def expire(*, access_request: RequestRef, now: datetime | None = None) -> AccessRequest:
    """The system closes a request whose approval window has lapsed."""
    now = now or clock.now()
    with transaction.atomic():
        req = _lock(access_request, Verb.EXPIRE, now)
        _move(req, State.EXPIRED, Verb.EXPIRE, None, now, action=Action.REQUEST_EXPIRED,
              data={"window_ended_at": _iso(policy.pending_expires_at(req)),
                    "stage": req.state})
    return req


def revoke(*, access_request: RequestRef, actor: User | None, comment: str = "",
           now: datetime | None = None, via: dict[str, Any] | None = None) -> AccessRequest:
    """The customer (an approver or admin of the tenant) or the provider (an internal approver)
    takes away access before its time box ends."""
    now = now or clock.now()
    with transaction.atomic():
        req = _lock(access_request, Verb.REVOKE, now)
        if policy.is_requester(req, _id(actor)):
            raise NotPermitted("You cannot revoke your own access; release it instead.")
        if roles.may_revoke_for_tenant(actor, req.tenant):
            side = "customer"
        elif roles.is_internal_approver(actor):
            side = "provider"
        else:
            raise NotPermitted(
                f"Only {req.tenant.name}'s approvers and admins, or the provider's internal "
                "approvers, can revoke this access."
            )
        access_taken_away()
        _move(req, State.REVOKED, Verb.REVOKE, actor, now, action=Action.REQUEST_REVOKED,
              note=comment, data={"side": side, "scheduled_end": _iso(req.access_ends_at),
                                  **_via(via)})
    return req


def release(*, access_request: RequestRef, actor: User | None, comment: str = "",
            now: datetime | None = None) -> AccessRequest:
    """The engineer gives access back before the time box ends."""
    now = now or clock.now()
    with transaction.atomic():
        req = _lock(access_request, Verb.RELEASE, now)
        if not policy.is_requester(req, _id(actor)):
            raise NotPermitted("Only the engineer who holds the access can release it.")
        access_taken_away()
        _move(req, State.COMPLETED, Verb.RELEASE, actor, now, action=Action.REQUEST_RELEASED,
              note=comment, data={"scheduled_end": _iso(req.access_ends_at)})
    return req


def complete(*, access_request: RequestRef, now: datetime | None = None) -> AccessRequest:
    """The system records that a time box has run out. Access already ended at
    `access_ends_at` whether or not this ran: the access check reads the timestamps."""
    now = now or clock.now()
    with transaction.atomic():
        req = _lock(access_request, Verb.COMPLETE, now)
        _move(req, State.COMPLETED, Verb.COMPLETE, None, now, action=Action.REQUEST_COMPLETED,
              data={"ended_at": _iso(req.access_ends_at)})
    return req


# --- Shared steps -------------------------------------------------------------------------------

def _lock(access_request: RequestRef, verb: Verb, now: datetime) -> AccessRequest:
    """Lock the row, then check the move is allowed from its state and at `now`."""
    pk = access_request.pk if isinstance(access_request, AccessRequest) else access_request
    req = (AccessRequest.objects.select_for_update(of=("self",))
           .select_related("tenant").filter(pk=pk).first())
    if req is None:
        raise IllegalTransition("There is no such request.")
    refusal = policy.state_refusal(verb, req, now)
    if refusal:
        raise IllegalTransition(refusal)
    return req


def _id(actor: User | None) -> Any:
    return actor.pk if actor is not None else None


def _require_internal_approver(req: AccessRequest, actor: User) -> None:
    if policy.is_requester(req, _id(actor)):
        raise NotPermitted("Nobody can decide on their own request.")
    if not roles.is_internal_approver(actor):
        raise NotPermitted("Only the provider's internal approvers can decide this step.")


def _require_customer_approver(req: AccessRequest, actor: User) -> None:
    if policy.is_requester(req, _id(actor)):
        raise NotPermitted("Nobody can decide on their own request.")
    if not roles.is_tenant_approver(actor, req.tenant):
        raise NotPermitted(f"Only {req.tenant.name}'s lockbox approvers can decide this request.")


def _decide(req: AccessRequest, level: DecisionLevel, actor: User, verdict: Verdict,
            comment: str, now: datetime, ends_at: datetime | None = None) -> None:
    if req.decisions.filter(level=level, actor=actor).exists():
        raise AlreadyDecided("You have already decided on this request; a person counts once.")
    Decision.objects.create(request=req, level=level, actor=actor, verdict=verdict,
                            comment=comment or "", decided_at=now, ends_at=ends_at)
    metrics.count_decision_on_commit(level=str(level), verdict=str(verdict))


def _grant(req: AccessRequest, actor: User, now: datetime, *, level: DecisionLevel,
           comment: str, extra: dict[str, Any], ends_at: datetime | None = None) -> None:
    start, end = policy.grant_window(
        approved_at=now, requested=req.requested_duration, maximum=req.tenant.max_access_duration
    )
    if ends_at is not None:
        end = min(end, ends_at)
    req.access_starts_at, req.access_ends_at = start, end
    verb = Verb.INTERNAL_APPROVE if level == DecisionLevel.INTERNAL else Verb.CUSTOMER_APPROVE
    _move(req, State.APPROVED, verb, actor, now, action=Action.REQUEST_APPROVED, note=comment,
          data={
              "level": level,
              "access_starts_at": _iso(start),
              "access_ends_at": _iso(end),
              "capped_by_policy": end - start < req.requested_duration,
              **extra,
          })


def _move(req: AccessRequest, to_state: State, verb: Verb, actor: User | None, now: datetime,
          *, action: Action, note: str = "", data: dict[str, Any] | None = None) -> None:
    from_state = req.state
    req.state = to_state
    if to_state in FINAL_STATES:
        req.closed_at = now
    req.save()
    _history(req, from_state, verb, actor, now, note=note)
    event = record_event(
        chain=req.tenant.audit_chain, action=action, actor=actor, request_id=req.pk, now=now,
        data={"from_state": from_state, "to_state": to_state, "comment": note or "",
              **(data or {})},
    )
    # Telling people is part of the same transaction: the outbox rows commit with the move.
    recipients.request_event(req, event)


def _history(req: AccessRequest, from_state: str, verb: Verb, actor: User | None,
             now: datetime, note: str = "") -> None:
    Transition.objects.create(request=req, from_state=from_state, to_state=req.state, verb=verb,
                              actor=actor, at=now, note=note or "")


def _via(via: dict[str, Any] | None) -> dict[str, Any]:
    """Audit data naming the API token a change came through, if any."""
    return {"via": via} if via else {}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
