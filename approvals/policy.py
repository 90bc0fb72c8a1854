"""Pure rules of the lifecycle. Every function that depends on time takes `now`.

Nothing here touches the database, so time boundaries are tested without freezing a clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import models

from approvals import resources
from approvals.models import (
    PENDING_STATES,
    AccessLevel,
    AccessRequest,
    ProviderRole,
    ReasonType,
    State,
    Tenant,
    TenantRole,
)

MAX_CASE_REFERENCE = 64
MAX_JUSTIFICATION = 4000
MAX_SCOPE_ITEMS = 50

SKIP_LOCKBOX_DISABLED = "lockbox_disabled"
SKIP_NO_CUSTOMER_CONTENT = "no_customer_content"

# Access that was granted and is over, by a person's hand or by the sweep.
ENDED_STATES = (State.COMPLETED, State.REVOKED)


# --- Validating a new request -------------------------------------------------------------------

def clean_request(*, tenant: Tenant, case_reference: str | None, justification: str | None,
                  reason_type: str, scope: Any, access_level: str,
                  requested_duration: Any) -> dict[str, Any]:
    """Validate and normalise what an engineer asks for; raise one ValidationError naming every
    bad field, so nothing is written for bad input."""
    errors: dict[str, str] = {}
    case_reference = (case_reference or "").strip()
    if not case_reference:
        errors["case_reference"] = "A support case reference is required."
    elif len(case_reference) > MAX_CASE_REFERENCE:
        errors["case_reference"] = f"Use at most {MAX_CASE_REFERENCE} characters."

    justification = (justification or "").strip()
    if not justification:
        errors["justification"] = "A justification is required: say why the access is needed."
    elif len(justification) > MAX_JUSTIFICATION:
        errors["justification"] = f"Use at most {MAX_JUSTIFICATION} characters."

    if reason_type not in ReasonType.values:
        errors["reason_type"] = f"Unknown reason type {reason_type!r}."
    if access_level not in AccessLevel.values:
        errors["access_level"] = f"Unknown access level {access_level!r}."

    try:
        scope = normalise_scope(scope)
    except ValidationError as exc:
        errors["scope"] = exc.messages[0]

    problem = duration_problem(requested_duration, tenant.max_access_duration)
    if problem:
        errors["requested_duration"] = problem

    if errors:
        raise ValidationError(errors)
    return {
        "case_reference": case_reference,
        "justification": justification,
        "reason_type": reason_type,
        "scope": scope,
        "access_level": access_level,
        "requested_duration": requested_duration,
    }


def normalise_scope(scope: Any) -> list[str]:
    """A non-empty list of distinct resource identifiers, in the order given.

    Accepts a list, or text with one identifier per line or separated by commas. Each must be
    in the canonical form of approvals.resources, and may end in "/*" to cover what is below it.
    """
    if isinstance(scope, str):
        scope = re.split(r"[,\n]", scope)
    if not isinstance(scope, (list, tuple)):
        raise ValidationError("Scope must be a list of resource identifiers.")
    items: list[str] = []
    for raw in scope:
        if not isinstance(raw, str):
            raise ValidationError("Each resource identifier must be text.")
        item = raw.strip()
        if not item:
            continue
        try:
            item = resources.canonical(item, pattern=True)
        except resources.ResourceError as refused:
            raise ValidationError(str(refused)) from None
        if item not in items:
            items.append(item)
    if not items:
        raise ValidationError("Name at least one resource the access is for.")
    if len(items) > MAX_SCOPE_ITEMS:
        raise ValidationError(f"Name at most {MAX_SCOPE_ITEMS} resources.")
    return items


def duration_problem(requested: Any, maximum: timedelta) -> str:
    if not isinstance(requested, timedelta):
        return "The duration must be a length of time."
    if requested <= timedelta(0):
        return "The duration must be longer than zero."
    if requested > maximum:
        return f"The tenant allows at most {format_duration(maximum)}."
    return ""


def format_duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes or not parts:
        parts.append(f"{minutes} min")
    return " ".join(parts)


# --- Which steps a request takes ----------------------------------------------------------------

def customer_step_skip_reason(*, lockbox_enabled: bool, touches_customer_content: bool) -> str:
    """Why the customer step is skipped, or "" when the customer must approve."""
    if not lockbox_enabled:
        return SKIP_LOCKBOX_DISABLED
    if not touches_customer_content:
        return SKIP_NO_CUSTOMER_CONTENT
    return ""


def grant_window(*, approved_at: datetime, requested: timedelta,
                 maximum: timedelta) -> tuple[datetime, datetime]:
    """The access clock starts at approval and runs for the request's duration, capped by the
    tenant's maximum at the time of approval."""
    return approved_at, approved_at + min(requested, maximum)


def earliest_end(ends: Iterable[datetime | None]) -> datetime | None:
    """The earliest of the ends approvers chose (None: they chose none), or None."""
    chosen = [end for end in ends if end is not None]
    return min(chosen) if chosen else None


# --- Reading state at a moment -------------------------------------------------------------------
# One pure function per state predicate, for one request. approvals.selectors holds the matching
# query condition of each (named in its docstring), so lists and pages never disagree.

def pending_expires_at(request: AccessRequest) -> datetime | None:
    if request.state == State.PENDING_INTERNAL:
        return request.internal_expires_at
    if request.state == State.PENDING_CUSTOMER:
        return request.customer_expires_at
    return None


def window_open(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and now < expires_at


def is_awaiting_decision(request: AccessRequest, now: datetime, *,
                         stage: State | None = None) -> bool:
    """Pending (at `stage`, when given) and its approval window still open: it can still be
    decided or cancelled. selectors.awaiting_decision."""
    if request.state not in PENDING_STATES or stage not in (None, request.state):
        return False
    return window_open(pending_expires_at(request), now)


def has_lapsed(request: AccessRequest, now: datetime) -> bool:
    """Pending, but its approval window has closed: expired, whether or not the sweep has
    recorded it yet. selectors.lapsed."""
    return request.state in PENDING_STATES and not window_open(pending_expires_at(request), now)


class TimeBoxed(Protocol):
    """What the time-box rule reads: a request, or a grant as the access check's query reads it."""

    @property
    def state(self) -> str: ...
    @property
    def access_starts_at(self) -> datetime | None: ...
    @property
    def access_ends_at(self) -> datetime | None: ...


def is_access_active(request: TimeBoxed, now: datetime) -> bool:
    """Access is active only while APPROVED and inside the time box: end is exclusive.
    selectors.access_active."""
    return (
        request.state == State.APPROVED
        and request.access_starts_at is not None
        and request.access_ends_at is not None
        and request.access_starts_at <= now < request.access_ends_at
    )


def has_run_out(request: AccessRequest, now: datetime) -> bool:
    """APPROVED, but the time box has ended: completed, whether or not the sweep has recorded
    it yet. selectors.run_out."""
    return (request.state == State.APPROVED and request.access_ends_at is not None
            and now >= request.access_ends_at)


def access_has_ended(request: AccessRequest, now: datetime) -> bool:
    """The grant is over: revoked, released or completed, or its time box has run out.
    selectors.access_ended."""
    return request.state in ENDED_STATES or has_run_out(request, now)


def summary_due(request: AccessRequest, now: datetime) -> bool:
    """Access was granted and is over, so the engineer can say what they did with it.
    selectors.summary_due."""
    return request.access_starts_at is not None and access_has_ended(request, now)


def effective_state(request: AccessRequest, now: datetime) -> State:
    """The state a person should be shown: a lapsed window or an ended time box counts even
    before the sweep has recorded it. selectors.shown_as."""
    if has_lapsed(request, now):
        return State.EXPIRED
    if has_run_out(request, now):
        return State.COMPLETED
    return State(request.state)


# --- Which verbs a person may use ---------------------------------------------------------------

class Verb(models.TextChoices):
    SUBMIT = "submit", "submitted"
    INTERNAL_APPROVE = "internal_approve", "approved internally"
    INTERNAL_REJECT = "internal_reject", "rejected internally"
    CUSTOMER_APPROVE = "customer_approve", "approved by the customer"
    CUSTOMER_REJECT = "customer_reject", "rejected by the customer"
    CANCEL = "cancel", "cancelled"
    EXPIRE = "expire", "expired"
    REVOKE = "revoke", "revoked"
    RELEASE = "release", "released"
    COMPLETE = "complete", "completed"


# The lifecycle of DESIGN.md: which verb may act on which state, and where each can lead.
ALLOWED: dict[Verb, set[State]] = {
    Verb.INTERNAL_APPROVE: {State.PENDING_INTERNAL},
    Verb.INTERNAL_REJECT: {State.PENDING_INTERNAL},
    Verb.CUSTOMER_APPROVE: {State.PENDING_CUSTOMER},
    Verb.CUSTOMER_REJECT: {State.PENDING_CUSTOMER},
    Verb.CANCEL: set(PENDING_STATES),
    Verb.EXPIRE: set(PENDING_STATES),
    Verb.REVOKE: {State.APPROVED},
    Verb.RELEASE: {State.APPROVED},
    Verb.COMPLETE: {State.APPROVED},
}
FINAL_STATES = {State.DENIED, State.EXPIRED, State.CANCELLED, State.REVOKED, State.COMPLETED}

INTERNAL_DECISIONS = (Verb.INTERNAL_APPROVE, Verb.INTERNAL_REJECT)
CUSTOMER_DECISIONS = (Verb.CUSTOMER_APPROVE, Verb.CUSTOMER_REJECT)
# Verbs a person uses; expiring and completing are the sweep's, when time has decided.
PERSON_VERBS = (*INTERNAL_DECISIONS, *CUSTOMER_DECISIONS, Verb.CANCEL, Verb.REVOKE,
                Verb.RELEASE)


@dataclass(frozen=True)
class Person:
    """Who wants to act, as the rules see them: their user id and the roles they hold (tenant
    roles in the request's tenant, provider roles). A page passes the roles of its own site."""

    user_id: int | None
    tenant_roles: frozenset[str] = frozenset()
    provider_roles: frozenset[str] = frozenset()


def is_requester(request: AccessRequest, user_id: int | None) -> bool:
    return user_id is not None and user_id == request.requester_id


def state_refusal(verb: Verb, request: AccessRequest, now: datetime) -> str:
    """Why `verb` cannot act on the request in its state at `now`, or "" when it can.

    Who acts is not considered here (allowed_verbs adds that); approvals.transitions raises
    this message, so a page and a refusal always agree."""
    if request.state not in ALLOWED[verb]:
        return (f"Request {request.reference} is {request.get_state_display().lower()}; "
                f"it cannot be {verb.label} now.")
    if verb in (*INTERNAL_DECISIONS, *CUSTOMER_DECISIONS, Verb.CANCEL) \
            and not is_awaiting_decision(request, now):
        return (f"Request {request.reference} expired at {_iso(pending_expires_at(request))}; "
                f"it can no longer be {verb.label}.")
    if verb == Verb.EXPIRE and not has_lapsed(request, now):
        return (f"Request {request.reference} can still be decided until "
                f"{_iso(pending_expires_at(request))}.")
    if verb in (Verb.REVOKE, Verb.RELEASE) and not is_access_active(request, now):
        return (f"Access for request {request.reference} already ended at "
                f"{_iso(request.access_ends_at)}.")
    if verb == Verb.COMPLETE and not has_run_out(request, now):
        return (f"Access for request {request.reference} runs until "
                f"{_iso(request.access_ends_at)}.")
    return ""


def allowed_verbs(request: AccessRequest, person: Person, *, now: datetime,
                  has_decided: bool = False) -> frozenset[Verb]:
    """The verbs `person` may use on the request at `now`: what approvals.transitions accepts
    from them, and so the buttons a page shows.

    Separation of duties: nobody decides on or revokes their own request; a person decides once
    (`has_decided`: they already decided at the request's current stage); only the requester
    cancels or gives access back. An internal decision moves the request on at once, so nobody
    has decided while it waits for the provider.
    """
    mine = is_requester(request, person.user_id)
    allowed = set()
    for verb in PERSON_VERBS:
        if state_refusal(verb, request, now):
            continue
        if verb in INTERNAL_DECISIONS:
            may = (not mine and not has_decided
                   and ProviderRole.INTERNAL_APPROVER in person.provider_roles)
        elif verb in CUSTOMER_DECISIONS:
            may = not mine and not has_decided and TenantRole.APPROVER in person.tenant_roles
        elif verb == Verb.REVOKE:
            may = not mine and bool(
                {TenantRole.APPROVER, TenantRole.ADMIN} & person.tenant_roles
                or ProviderRole.INTERNAL_APPROVER in person.provider_roles)
        else:  # cancelling and giving access back
            may = mine
        if may:
            allowed.add(verb)
    return frozenset(allowed)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


# --- The data plane's question ------------------------------------------------------------------

def scope_covers(scope: Iterable[str], resource: str) -> bool:
    """True when one of the scope's identifiers names `resource`, or is "prefix/*" above it,
    segment by segment; never for a resource (or scope item) that is not canonical."""
    return resources.covered_by_any(scope, resource)


def level_covers(granted: str, wanted: str) -> bool:
    return granted == AccessLevel.READ_WRITE or wanted == AccessLevel.READ_ONLY
