"""What engineers did while they had access, as the data plane reports it.

Each reported action lands in the tenant's audit chain. One covered by a grant (right engineer,
resource in scope, level allowed, inside the time box as it really ended) is `activity.recorded`
on that request's timeline; anything else is `activity.out_of_scope`, flagged on the request
page and sent to the tenant's approvers and the provider's auditors.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from approvals import policy, resources
from approvals.actions import Action
from approvals.models import AccessLevel, AccessRequest, ProviderRole, Tenant, TenantRole
from approvals.notifications import outbox
from audit.services import record_events
from lockbox_portal import clock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from audit.models import AuditEvent

MAX_BATCH = 500
OUTCOMES = ("success", "failure", "denied")
CLOCK_SKEW = timedelta(minutes=5)
FIELDS = frozenset({"resource", "operation", "access_level", "at", "outcome"})
# TextChoices.values builds a new list on every call; a batch asks 500 times.
LEVELS = frozenset(AccessLevel.values)


class BatchTooLarge(ValueError):
    pass


def clean_actions(actions: Any, now: datetime) -> list[dict[str, Any]]:
    """Validate a whole batch first, so a bad item writes nothing."""
    if not isinstance(actions, list) or not actions:
        raise ValidationError({"actions": "Send a non-empty list of actions."})
    if len(actions) > MAX_BATCH:
        raise BatchTooLarge(f"At most {MAX_BATCH} actions per call; split the batch.")
    cleaned = []
    for i, item in enumerate(actions):
        where = f"actions[{i}]"
        if not isinstance(item, dict):
            raise ValidationError({where: "Each action is an object."})
        unknown = item.keys() - FIELDS
        if unknown:
            raise ValidationError({where: f"Unknown field {sorted(unknown)[0]!r}."})
        resource, operation = item.get("resource"), item.get("operation")
        if not isinstance(resource, str) or not resource.strip() or len(resource) > 512:
            raise ValidationError({where: "resource: a resource identifier of at most 512."})
        if not isinstance(operation, str) or not operation.strip() or len(operation) > 64:
            raise ValidationError({where: "operation: a name of at most 64 characters."})
        level = item.get("access_level", AccessLevel.READ_ONLY)
        if not isinstance(level, str) or level not in LEVELS:
            raise ValidationError({where: f"access_level: one of {', '.join(AccessLevel.values)}."})
        # Strict: an impossible date (February 30th) or no offset is bad input like any other.
        at = clock.parse_instant(item.get("at"))
        if at is None:
            raise ValidationError({where: "at: an ISO 8601 time with a time zone."})
        if at > now + CLOCK_SKEW:
            raise ValidationError({where: "at: this time is in the future."})
        outcome = item.get("outcome", "success")
        if outcome not in OUTCOMES:
            raise ValidationError({where: f"outcome: one of {', '.join(OUTCOMES)}."})
        cleaned.append({"resource": resource.strip(), "operation": operation.strip(),
                        "access_level": level, "at": at, "outcome": outcome})
    return cleaned


def record_batch(*, tenant_slug: str, engineer_email: str | None, actions: Any,
                 via: dict[str, Any] | None = None,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """Record a batch of actions; returns one result per action, in order."""
    now = now or clock.now()
    tenant = Tenant.objects.filter(slug=tenant_slug).first()
    if tenant is None:
        raise Tenant.DoesNotExist(f"There is no tenant {tenant_slug!r}.")
    cleaned = clean_actions(actions, now)
    engineer = (get_user_model().objects.filter(
        email__iexact=engineer_email or "", provider_memberships__role=ProviderRole.ENGINEER)
        .first())
    grants = list(AccessRequest.objects.filter(
        tenant=tenant, requester=engineer, access_starts_at__isnull=False,
    ).order_by("-access_starts_at")) if engineer else []
    # Each grant's scope parsed and its real end found once for the batch, not per action.
    known = [_Known(g, resources.CompiledScope(g.scope), _ended(g)) for g in grants]
    judged = []
    for action in cleaned:
        grant, problem = _judge(action, known, engineer)
        # A refused resource is stored with its invisible characters escaped (the log can hold
        # it, and readers see exactly what was sent); a canonical one is stored as it is.
        data = {**action, "resource": resources.visible(action["resource"]),
                "at": action["at"].isoformat(), "engineer": engineer_email,
                **({"via": via} if via else {})}
        if problem:
            data["problem"] = problem
        judged.append((grant, problem, {
            "action": Action.ACTIVITY_OUT_OF_SCOPE if problem else Action.ACTIVITY_RECORDED,
            "actor": engineer, "request_id": grant.pk if grant else None, "data": data}))
    with transaction.atomic():
        events = record_events(chain=tenant.audit_chain, events=[e for _, _, e in judged],
                               now=now)
        flagged = [event for event, (_, problem, _) in zip(events, judged, strict=True)
                   if problem]
        if flagged:
            _notify(tenant, flagged, now)
    results = [{"seq": event.seq, "in_scope": not problem,
                "request_id": str(grant.pk) if grant else None, "problem": problem or None}
               for event, (grant, problem, _) in zip(events, judged, strict=True)]
    return results


class _Known(NamedTuple):
    """A grant of the engineer in the tenant, with what judging an action asks of it."""
    grant: AccessRequest
    scope: resources.CompiledScope
    ended: datetime


def _judge(action: dict[str, Any], grants: list[_Known], engineer: User | None
           ) -> tuple[AccessRequest | None, str]:
    """The grant that covered the action, or (the most relevant grant, what was wrong)."""
    if engineer is None:
        return None, "No engineer with this e-mail address is known to Lockbox."
    at, resource = action["at"], action["resource"]
    in_time = [k for k in grants if k.grant.access_starts_at <= at < k.ended]
    malformed = resources.problem(resource)
    if malformed:
        # Recorded and flagged, not refused: the action happened, and an auditor wants an
        # attempt like "mailbox/alice/../bob" in the log, on the grant that was open if any.
        nearest = in_time[0] if in_time else grants[0] if grants else None
        return (nearest.grant if nearest else None), f"{malformed} No grant covers it."
    if not grants:
        return None, "The engineer had no grant in this tenant."
    first_in_scope = None
    for k in in_time:
        if k.scope.covers(resource):
            if policy.level_covers(k.grant.access_level, action["access_level"]):
                return k.grant, ""
            first_in_scope = first_in_scope or k.grant
    if first_in_scope:
        return first_in_scope, "A write under a read-only grant."
    if in_time:
        return in_time[0].grant, f"{resource} is outside the grant's scope."
    covering = [k.grant for k in grants if k.scope.covers(resource)]
    return (covering[0] if covering else grants[0].grant), "No grant was open at that time."


def _ended(grant: AccessRequest) -> datetime:
    """When access really ended: early for a revocation or a release."""
    assert grant.access_ends_at is not None  # a grant that started has an end
    if grant.closed_at and grant.closed_at < grant.access_ends_at:
        return grant.closed_at
    return grant.access_ends_at


def _notify(tenant: Tenant, events: list[AuditEvent], now: datetime) -> None:
    users = get_user_model().objects
    people: dict[str, User | None] = {u.email: u for u in users.filter(
        tenant_memberships__tenant=tenant, tenant_memberships__role=TenantRole.APPROVER,
        is_active=True)}
    people.update({u.email: u for u in users.filter(
        provider_memberships__role=ProviderRole.AUDITOR, is_active=True)})
    for address in tenant.notification_emails:
        people.setdefault(address, None)
    payload = {"seqs": [e.seq for e in events], "count": len(events)}
    # One write and one hand-over for everyone told, not one per person.
    outbox.enqueue([outbox.email_row(
        kind="out_of_scope", key=f"oos:{tenant.slug}:{events[0].seq}:{address}", user=user,
        address=address, tenant=tenant, req=None, payload=payload, now=now)
        for address, user in people.items()])
