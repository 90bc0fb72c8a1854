"""The data plane's question: may this engineer use this level on this resource of this tenant now?

Decided from the grant's timestamps on every call, so access ends on time even when no
background job runs. Anything not covered by an active grant is denied.
"""

from dataclasses import dataclass
from datetime import datetime

from approvals import policy
from approvals.models import AccessLevel, AccessRequest, State
from lockbox_portal import clock


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    reason: str
    request_id: str | None = None
    ends_at: datetime | None = None

    def __bool__(self):
        return self.allowed


def check_access(*, engineer, tenant, resource, level=AccessLevel.READ_ONLY, now=None):
    """Return an AccessDecision. One query: the engineer's approved grants in this tenant."""
    now = now or clock.now()
    if level not in AccessLevel.values:
        return AccessDecision(False, f"Unknown access level {level!r}.")
    grants = list(
        AccessRequest.objects.filter(
            requester=engineer, tenant=tenant, state=State.APPROVED,
            access_starts_at__lte=now, access_ends_at__gt=now,
        ).only("id", "scope", "access_level", "access_starts_at", "access_ends_at", "state")
        .order_by("-access_ends_at")
    )
    return _decide(grants, resource, level, now)


def _decide(grants, resource, level, now):
    if not grants:
        return AccessDecision(False, "No active grant for this engineer in this tenant.")
    in_scope = [g for g in grants if policy.scope_covers(g.scope, resource)]
    if not in_scope:
        return AccessDecision(False, f"No active grant covers resource {resource!r}.")
    for grant in in_scope:
        # The query already bounded the time; checking again keeps this function honest if the
        # query is ever changed.
        if policy.is_access_active(grant, now) and policy.level_covers(grant.access_level, level):
            return AccessDecision(True, "Covered by an active grant.", str(grant.id),
                                  grant.access_ends_at)
    return AccessDecision(False, f"The active grant for {resource!r} is read-only.")


def check_access_by_name(*, engineer_email, tenant_slug, resource, level=AccessLevel.READ_ONLY,
                         now=None):
    """check_access for the data plane, which knows people and tenants by name: one query."""
    now = now or clock.now()
    if level not in AccessLevel.values:
        return AccessDecision(False, f"Unknown access level {level!r}.")
    grants = list(
        AccessRequest.objects.filter(
            requester__email__iexact=engineer_email, tenant__slug=tenant_slug,
            state=State.APPROVED, access_starts_at__lte=now, access_ends_at__gt=now,
        ).only("id", "scope", "access_level", "access_starts_at", "access_ends_at", "state")
        .order_by("-access_ends_at")
    )
    return _decide(grants, resource, level, now)
