"""Pure rules of the lifecycle. Every function that depends on time takes `now`.

Nothing here touches the database, so time boundaries are tested without freezing a clock.
"""

import re
from datetime import timedelta

from django.core.exceptions import ValidationError

from approvals import resources
from approvals.models import PENDING_STATES, AccessLevel, ReasonType, State

MAX_CASE_REFERENCE = 64
MAX_JUSTIFICATION = 4000
MAX_SCOPE_ITEMS = 50

SKIP_LOCKBOX_DISABLED = "lockbox_disabled"
SKIP_NO_CUSTOMER_CONTENT = "no_customer_content"


# --- Validating a new request -------------------------------------------------------------------

def clean_request(*, tenant, case_reference, justification, reason_type, scope, access_level,
                  requested_duration):
    """Validate and normalise what an engineer asks for; raise one ValidationError naming every
    bad field, so nothing is written for bad input."""
    errors = {}
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


def normalise_scope(scope):
    """A non-empty list of distinct resource identifiers, in the order given.

    Accepts a list, or text with one identifier per line or separated by commas. Each must be
    in the canonical form of approvals.resources, and may end in "/*" to cover what is below it.
    """
    if isinstance(scope, str):
        scope = re.split(r"[,\n]", scope)
    if not isinstance(scope, (list, tuple)):
        raise ValidationError("Scope must be a list of resource identifiers.")
    items = []
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


def duration_problem(requested, maximum):
    if not isinstance(requested, timedelta):
        return "The duration must be a length of time."
    if requested <= timedelta(0):
        return "The duration must be longer than zero."
    if requested > maximum:
        return f"The tenant allows at most {format_duration(maximum)}."
    return ""


def format_duration(delta):
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes or not parts:
        parts.append(f"{minutes} min")
    return " ".join(parts)


# --- Which steps a request takes ----------------------------------------------------------------

def customer_step_skip_reason(*, lockbox_enabled, touches_customer_content):
    """Why the customer step is skipped, or "" when the customer must approve."""
    if not lockbox_enabled:
        return SKIP_LOCKBOX_DISABLED
    if not touches_customer_content:
        return SKIP_NO_CUSTOMER_CONTENT
    return ""


def grant_window(*, approved_at, requested, maximum):
    """The access clock starts at approval and runs for the request's duration, capped by the
    tenant's maximum at the time of approval."""
    return approved_at, approved_at + min(requested, maximum)


def earliest_end(ends):
    """The earliest of the ends approvers chose (None: they chose none), or None."""
    chosen = [end for end in ends if end is not None]
    return min(chosen) if chosen else None


# --- Reading state at a moment ------------------------------------------------------------------

def pending_expires_at(request):
    if request.state == State.PENDING_INTERNAL:
        return request.internal_expires_at
    if request.state == State.PENDING_CUSTOMER:
        return request.customer_expires_at
    return None


def window_open(expires_at, now):
    return expires_at is not None and now < expires_at


def is_access_active(request, now):
    """Access is active only while APPROVED and inside the time box: end is exclusive."""
    return (
        request.state == State.APPROVED
        and request.access_starts_at is not None
        and request.access_starts_at <= now < request.access_ends_at
    )


def effective_state(request, now):
    """The state a person should be shown: a lapsed window or an ended time box counts even
    before the sweep has recorded it."""
    if request.state in PENDING_STATES and not window_open(pending_expires_at(request), now):
        return State.EXPIRED
    if request.state == State.APPROVED and now >= request.access_ends_at:
        return State.COMPLETED
    return State(request.state)


# --- The data plane's question ------------------------------------------------------------------

def scope_covers(scope, resource):
    """True when one of the scope's identifiers names `resource`, or is "prefix/*" above it,
    segment by segment; never for a resource (or scope item) that is not canonical."""
    return resources.covered_by_any(scope, resource)


def level_covers(granted, wanted):
    return granted == AccessLevel.READ_WRITE or wanted == AccessLevel.READ_ONLY
