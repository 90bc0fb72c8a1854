"""The data plane's one query: the bearer token, what the token rules need about its owner, and
the engineer's grants active now in the tenant, read together, without the ORM.

Every access an engineer makes waits for this query, and planning it costs more than running it,
so on PostgreSQL it is a statement prepared on the connection (see bench/README.md). It only
reads: the token rules (approvals.tokens) and the grant rules (approvals.access) decide.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import psycopg
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.dateparse import parse_datetime

from approvals.api.models import ApiToken
from approvals.models import (
    AccessRequest,
    ProviderMembership,
    ProviderRole,
    State,
    Tenant,
    TenantMembership,
    TenantRole,
)


@dataclass(frozen=True)
class TokenFacts:
    """What the access check needs to know about the bearer token, read in the same query."""
    id: int
    scopes: list[str]
    last_used_at: datetime | None


@dataclass(frozen=True)
class Grant:
    """An active grant as the query reads it: the fields the grant rules look at."""
    id: str
    scope: list[str]
    access_level: str
    access_starts_at: datetime
    access_ends_at: datetime
    state: str = State.APPROVED


@dataclass(frozen=True)
class TokenAndGrants:
    """The stored token, its owner's standing, and the engineer's grants active at the time
    asked, ordered by their end, latest first."""
    digest: str
    revoked_at: datetime | None
    expires_at: datetime
    owner_active: bool
    tenant_bound: bool
    tenant_admin: bool
    provider_roles: frozenset[str]
    token: TokenFacts
    grants: tuple[Grant, ...]


def token_and_grants(*, prefix: str, engineer_email: str, tenant_slug: str,
                     now: datetime) -> TokenAndGrants | None:
    """What the database says about the token with this prefix and this engineer's grants in
    this tenant, or None for a prefix no token has."""
    rows = _token_and_grants(prefix=prefix, engineer=engineer_email, tenant=tenant_slug,
                             approved=State.APPROVED.value, admin=TenantRole.ADMIN.value,
                             now=now, **{f"role_{r}": r for r in ProviderRole.values})
    if not rows:
        return None
    roles = len(ProviderRole.values)
    (token_id, digest, scopes, revoked_at, expires_at, last_used_at, owner_active, tenant_id,
     tenant_admin, *held) = rows[0][:9 + roles]
    scopes = _json(scopes)
    return TokenAndGrants(
        digest=digest, revoked_at=_moment(revoked_at), expires_at=_moment(expires_at),
        owner_active=bool(owner_active), tenant_bound=tenant_id is not None,
        tenant_admin=bool(tenant_admin),
        provider_roles=frozenset(r for r, yes in zip(ProviderRole.values, held, strict=True)
                                 if yes),
        token=TokenFacts(token_id, scopes, _moment(last_used_at)),
        grants=tuple(Grant(str(uuid.UUID(str(g[0]))), _json(g[1]), g[2], _moment(g[3]),
                           _moment(g[4]))
                     for g in (row[9 + roles:] for row in rows) if g[0] is not None))


@cache
def _token_and_grants_sql() -> str:
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


def _token_and_grants(**params: Any) -> list[tuple[Any, ...]]:
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_token_and_grants_sql(), params)
            return cursor.fetchall()
    # On PostgreSQL, a prepared statement on the connection: planning the query costs more
    # than running it. Errors still surface as django.db errors, as from any cursor.
    # Django's cursors bind on the client and never prepare; this one binds on the server.
    # Django turns psycopg's preparing off (threshold None); a threshold nothing reaches turns
    # it back on for statements that ask, like this one, and for no other.
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = 2**31 - 1
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        return cursor.execute(_token_and_grants_sql(), params, prepare=True).fetchall()


def _moment(value: Any) -> Any:
    """A timestamp from a raw query: aware on PostgreSQL; text or naive UTC on SQLite."""
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str):
        value = parse_datetime(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
