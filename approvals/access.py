"""The data plane's question: may this engineer use this level on this resource of this tenant now?

Decided from the grant's timestamps on every call, so access ends on time even when no
background job runs. Anything not covered by an active grant is denied.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from approvals import access_cache, policy, resources, tokens
from approvals.access_query import Grant, TokenAndGrants, TokenFacts, token_and_grants
from approvals.models import AccessLevel, AccessRequest, Tenant
from approvals.selectors import access_active
from lockbox_portal import clock

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    reason: str
    request_id: str | None = None
    ends_at: datetime | None = None

    def __bool__(self) -> bool:
        return self.allowed


def check_access(*, engineer: User, tenant: Tenant, resource: str,
                 level: str = AccessLevel.READ_ONLY,
                 now: datetime | None = None) -> AccessDecision:
    """Return an AccessDecision. One query: the engineer's approved grants in this tenant."""
    now = now or clock.now()
    if level not in AccessLevel.values:
        return AccessDecision(False, f"Unknown access level {level!r}.")
    grants = list(
        AccessRequest.objects.filter(access_active(now), requester=engineer, tenant=tenant)
        .only("id", "scope", "access_level", "access_starts_at", "access_ends_at", "state")
        .order_by("-access_ends_at")
    )
    return _decide(grants, resource, level, now)


def _decide(grants: Sequence[AccessRequest | Grant], resource: str, level: str,
            now: datetime) -> AccessDecision:
    # A resource not in canonical form ("a/x/../y") is refused whatever the grants, and the
    # answer names the rule it broke.
    malformed = resources.problem(resource)
    if malformed:
        return AccessDecision(False, malformed)
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


# --- The data plane's hot path ------------------------------------------------------------------

Answer = tuple[TokenFacts | None, str, AccessDecision | None]


def check_access_with_token(*, raw_token: str, engineer_email: str, tenant_slug: str,
                            resource: str, level: str = AccessLevel.READ_ONLY,
                            now: datetime | None = None) -> Answer:
    """The access check as the data plane calls it: authenticate the bearer token and decide.
    Every access an engineer makes waits for this answer, so it asks the database once
    (approvals.access_query) and may reuse a recent yes (approvals.access_cache).

    Returns (TokenFacts, "", AccessDecision) or (None, why the token is refused, None). The
    token rules are tokens.refusal's and the grant rules check_access's.
    """
    now = now or clock.now()
    prefix = tokens.split(raw_token)
    if prefix is None:
        return None, tokens.MALFORMED, None
    if level not in AccessLevel.values:
        raise ValueError(f"Unknown access level {level!r}.")
    key = (prefix, engineer_email, tenant_slug)
    kept = access_cache.recall(key)
    if kept is not None:
        token, problem, answer = _answer(kept, raw_token, resource, level, now)
        if answer is not None and answer.allowed:
            return token, problem, answer
    asked_at = time.monotonic()
    found = token_and_grants(prefix=prefix, engineer_email=engineer_email,
                             tenant_slug=tenant_slug, now=now)
    token, problem, answer = _answer(found, raw_token, resource, level, now)
    if found is not None and answer is not None and answer.allowed:
        access_cache.keep(key, found, asked_at=asked_at)
    return token, problem, answer


def _answer(found: TokenAndGrants | None, raw_token: str, resource: str, level: str,
            now: datetime) -> Answer:
    if found is None:
        return None, "This token is not known.", None
    problem = tokens.refusal(
        raw_token, digest=found.digest, revoked_at=found.revoked_at,
        expires_at=found.expires_at, owner_active=found.owner_active, now=now,
        role_problem=tokens.role_problem(found.token.scopes, tenant_bound=found.tenant_bound,
                                         tenant_admin=found.tenant_admin,
                                         provider_roles=found.provider_roles))
    if problem:
        return None, problem, None
    return found.token, "", _decide(found.grants, resource, level, now)


def note_use(token: TokenFacts, now: datetime) -> None:
    """Record the token's last use at most once a minute (per process), off the answer's path
    in all but one call a minute."""
    last = max(filter(None, (token.last_used_at, access_cache.last_touched(token.id))),
               default=None)
    if tokens.touch_due(last, now):
        tokens.note_last_use(token.id, now)
        access_cache.note_touched(token.id, now)
