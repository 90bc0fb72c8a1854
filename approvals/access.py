"""The data plane's question: may this engineer use this level on this resource of this tenant now?

Decided from the grant's timestamps on every call, so access ends on time even when no
background job runs. Anything not covered by an active grant is denied.
"""

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils.dateparse import parse_datetime

from approvals import policy, resources
from approvals.models import (
    AccessLevel,
    AccessRequest,
    ProviderMembership,
    ProviderRole,
    State,
    Tenant,
    TenantMembership,
    TenantRole,
)
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

@dataclass(frozen=True)
class TokenFacts:
    """What the access check needs to know about the bearer token, read in the same query."""
    id: int
    scopes: list
    last_used_at: datetime | None


@dataclass(frozen=True)
class _Grant:
    id: object
    scope: list
    access_level: str
    access_starts_at: datetime
    access_ends_at: datetime
    state: str = State.APPROVED


@cache
def _token_and_grants_sql():
    from approvals.api.models import ApiToken

    # Table names come from the models; every value is a bound parameter.
    roles = ", ".join(
        f"EXISTS (SELECT 1 FROM {ProviderMembership._meta.db_table} pm "  # noqa: S608
        f"WHERE pm.user_id = tok.owner_id AND pm.role = %(role_{role})s)"
        for role in ProviderRole.values)
    return f"""
        SELECT tok.id, tok.digest, tok.scopes, tok.revoked_at, tok.expires_at, tok.last_used_at,
               owner.is_active, tok.tenant_id,
               EXISTS (SELECT 1 FROM {TenantMembership._meta.db_table} tm
                       WHERE tm.user_id = tok.owner_id AND tm.tenant_id = tok.tenant_id
                         AND tm.role = %(admin)s),
               {roles},
               g.id, g.scope, g.access_level, g.access_starts_at, g.access_ends_at
        FROM {ApiToken._meta.db_table} tok
        JOIN {get_user_model()._meta.db_table} owner ON owner.id = tok.owner_id
        LEFT JOIN (
            SELECT r.id, r.scope, r.access_level, r.access_starts_at, r.access_ends_at
            FROM {AccessRequest._meta.db_table} r
            WHERE r.requester_id IN (SELECT e.id FROM {get_user_model()._meta.db_table} e
                                     WHERE UPPER(e.email) = UPPER(%(engineer)s))
              AND r.tenant_id = (SELECT t.id FROM {Tenant._meta.db_table} t
                                 WHERE t.slug = %(tenant)s)
              AND r.state = %(approved)s
              AND r.access_starts_at <= %(now)s AND r.access_ends_at > %(now)s
        ) g ON 1 = 1
        WHERE tok.prefix = %(prefix)s
        ORDER BY g.access_ends_at DESC
    """  # noqa: S608


def _moment(value):
    """A timestamp from a raw query: aware on PostgreSQL; text or naive UTC on SQLite."""
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str):
        value = parse_datetime(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _token_and_grants(**params):
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_token_and_grants_sql(), params)
            return cursor.fetchall()
    # On PostgreSQL, a prepared statement on the connection: planning the query costs more
    # than running it. Errors still surface as django.db errors, as from any cursor.
    # Django's cursors bind on the client and never prepare; this one binds on the server.
    # Django turns psycopg's preparing off (threshold None); a threshold nothing reaches turns
    # it back on for statements that ask, like this one, and for no other.
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = 2**31 - 1
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        return cursor.execute(_token_and_grants_sql(), params, prepare=True).fetchall()


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


# Answers the data plane may reuse, per process. An entry is trusted for LOCKBOX_ACCESS_CACHE
# seconds from the moment its query began, and only to say yes: a no is always asked of the
# database again, so a grant approved a moment ago works at once. Taking access away waits out
# the same interval after its commit (`access_taken_away`) before it returns, so by the time
# anyone is told "revoked", no process anywhere holds an answer from before: the very next
# check, in any process on any host, reads the database. Ends of grants need no waiting: every
# answer compares the grant's end with the time of the check.
_answers = {}
_touched = {}
_MAX_ANSWERS = 10_000


@dataclass(frozen=True)
class _Known:
    valid_until: float  # time.monotonic()
    digest: str
    revoked_at: datetime | None
    expires_at: datetime
    owner_active: bool
    role_problem: str
    token: TokenFacts
    grants: tuple


def _lookup(prefix, engineer_email, tenant_slug, now):
    started = time.monotonic()
    rows = _token_and_grants(prefix=prefix, engineer=engineer_email, tenant=tenant_slug,
                             approved=State.APPROVED.value, admin=TenantRole.ADMIN.value,
                             now=now, **{f"role_{r}": r for r in ProviderRole.values})
    if not rows:
        return None
    from approvals.api.tokens import role_problem

    roles = len(ProviderRole.values)
    (token_id, digest, scopes, revoked_at, expires_at, last_used_at, owner_active, tenant_id,
     tenant_admin, *held) = rows[0][:9 + roles]
    scopes = _json(scopes)
    return _Known(
        started + settings.LOCKBOX_ACCESS_CACHE, digest, _moment(revoked_at),
        _moment(expires_at), bool(owner_active),
        role_problem(scopes, tenant_bound=tenant_id is not None, tenant_admin=bool(tenant_admin),
                     provider_roles={r for r, yes in zip(ProviderRole.values, held, strict=True)
                                     if yes}),
        TokenFacts(token_id, scopes, _moment(last_used_at)),
        tuple(_Grant(str(uuid.UUID(str(g[0]))), _json(g[1]), g[2], _moment(g[3]), _moment(g[4]))
              for g in (row[9 + roles:] for row in rows) if g[0] is not None))


def _answer(known, raw_token, resource, level, now):
    from approvals.api import tokens

    if known is None:
        return None, "This token is not known.", None
    problem = tokens.refusal(raw_token, digest=known.digest, revoked_at=known.revoked_at,
                             expires_at=known.expires_at, owner_active=known.owner_active,
                             now=now, role_problem=known.role_problem)
    if problem:
        return None, problem, None
    return known.token, "", _decide(known.grants, resource, level, now)


def check_access_with_token(*, raw_token, engineer_email, tenant_slug, resource,
                            level=AccessLevel.READ_ONLY, now=None):
    """The access check as the data plane calls it: authenticate the bearer token and decide.
    Every access an engineer makes waits for this answer, so it asks the database once, with a
    prepared statement and without the ORM, and may reuse a recent yes (see `_answers` above
    and bench/README.md).

    Returns (TokenFacts, "", AccessDecision) or (None, why the token is refused, None). The
    token rules are api.tokens.refusal's and the grant rules check_access's.
    """
    from approvals.api import tokens

    now = now or clock.now()
    prefix = tokens.split(raw_token)
    if prefix is None:
        return None, tokens.MALFORMED, None
    if level not in AccessLevel.values:
        raise ValueError(f"Unknown access level {level!r}.")
    key = (prefix, engineer_email, tenant_slug)
    known = _answers.get(key)
    if known is not None and known.valid_until > time.monotonic():
        token, problem, answer = _answer(known, raw_token, resource, level, now)
        if answer is not None and answer.allowed:
            return token, problem, answer
    known = _lookup(prefix, engineer_email, tenant_slug, now)
    token, problem, answer = _answer(known, raw_token, resource, level, now)
    if settings.LOCKBOX_ACCESS_CACHE > 0 and answer is not None and answer.allowed:
        if len(_answers) >= _MAX_ANSWERS:
            _answers.clear()
        _answers[key] = known
    return token, problem, answer


def note_use(token, now):
    """Record the token's last use at most once a minute (per process), off the answer's path
    in all but one call a minute."""
    from approvals.api.models import ApiToken
    from approvals.api.tokens import touch_due

    last = max(filter(None, (token.last_used_at, _touched.get(token.id))), default=None)
    if touch_due(last, now):
        ApiToken.objects.filter(pk=token.id).update(last_used_at=now)
        if len(_touched) >= _MAX_ANSWERS:
            _touched.clear()
        _touched[token.id] = now


def access_taken_away():
    """Call inside any transaction that takes access away (a revocation, a release, a token
    revoked, its owner switched off). Once it commits, wait until every answer a process may
    have kept from before has lapsed, so the next check anywhere reads the database."""
    if settings.LOCKBOX_ACCESS_CACHE <= 0:
        return
    pending = getattr(transaction.get_connection(), "run_on_commit", [])
    if any(func is _wait_out_cached_answers for _, func, *_ in pending):
        return  # one wait covers every change in the transaction
    transaction.on_commit(_wait_out_cached_answers, robust=True)


def _wait_out_cached_answers():
    time.sleep(settings.LOCKBOX_ACCESS_CACHE)
