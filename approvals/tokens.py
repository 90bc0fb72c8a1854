"""API tokens: made by a person in one of the sites, shown once, stored as a hash.

A token acts as its owner, limited to its scopes: a tenant token to its tenant, and every
decision it makes still passes the owner's roles in approvals.transitions. What it changes is
audited under the owner's name with the token's prefix and name.

These are the token rules, whoever asks: the API's adapters (approvals.api.http) read the
Authorization header and turn a refusal into an HTTP answer; the data plane's access check
(approvals.access) applies the same `refusal` to what its one query read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from approvals import roles
from approvals.access_cache import access_taken_away
from approvals.actions import Action
from approvals.api.models import ApiToken, Scope
from approvals.errors import NotPermitted
from approvals.models import (
    ProviderMembership,
    ProviderRole,
    Tenant,
    TenantMembership,
    TenantRole,
)
from audit.encoding import PROVIDER_CHAIN
from audit.services import record_event
from lockbox_portal import clock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_LIFETIME = timedelta(days=365)
PURPOSES = {
    # Provider tokens, made on the internal site.
    "data_plane": [Scope.ACCESS_CHECK, Scope.ACTIVITY_WRITE],
    "support": [Scope.REQUESTS_READ, Scope.REQUESTS_WRITE],
    # Tenant tokens, made in the portal by a tenant admin.
    "tenant_read": [Scope.TENANT_READ],
    "tenant_decide": [Scope.TENANT_READ, Scope.TENANT_DECIDE],
}


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _check_purpose(owner: User, tenant: Tenant | None, purpose: str) -> None:
    if purpose == "data_plane" and not roles.is_internal_approver(owner):
        raise NotPermitted("Only internal approvers make tokens for the data plane.")
    if purpose == "support" and not (roles.is_engineer(owner) or roles.is_internal_approver(owner)
                                     or roles.is_provider_auditor(owner)):
        raise NotPermitted("Only provider staff make support tokens.")
    if purpose.startswith("tenant_"):
        if tenant is None or not roles.has_tenant_role(owner, tenant, TenantRole.ADMIN):
            raise NotPermitted("Only a tenant's admins make its automation tokens.")
        if purpose == "tenant_decide" and not roles.is_tenant_approver(owner, tenant):
            raise ValidationError({"purpose": "A token that decides acts as you, and you are "
                                              "not one of the tenant's approvers."})


def create_token(*, owner: User, name: str, purpose: str, days: int,
                 tenant: Tenant | None = None,
                 now: datetime | None = None) -> tuple[ApiToken, str]:
    """Returns (token, raw secret). The raw secret is shown once and never stored."""
    if purpose not in PURPOSES:
        raise ValidationError({"purpose": "Choose what the token is for."})
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": "Give the token a name of at most 100 characters."})
    if not isinstance(days, int) or not 1 <= days <= MAX_LIFETIME.days:
        raise ValidationError({"days": f"Between 1 and {MAX_LIFETIME.days} days."})
    _check_purpose(owner, tenant, purpose)
    now = now or clock.now()
    prefix = secrets.token_hex(6)
    raw = f"lbx_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            owner=owner, tenant=tenant, name=name, scopes=[str(s) for s in PURPOSES[purpose]],
            prefix=prefix, digest=_digest(raw), created_at=now,
            expires_at=now + timedelta(days=days))
        record_event(chain=tenant.audit_chain if tenant else PROVIDER_CHAIN,
                     action=Action.TOKEN_CREATED, actor=owner, now=now,
                     data={**token.audit_label(), "scopes": token.scopes,
                           "expires_at": token.expires_at.isoformat()})
    return token, raw


def revoke_token(*, token: ApiToken, actor: User,
                 now: datetime | None = None) -> ApiToken:
    allowed = actor.pk == token.owner_id or (
        token.tenant is not None and roles.has_tenant_role(actor, token.tenant, TenantRole.ADMIN))
    if not allowed:
        raise NotPermitted("Only the token's owner (or the tenant's admins) can revoke it.")
    now = now or clock.now()
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at = now
        locked.save(update_fields=["revoked_at"])
        access_taken_away()
        record_event(chain=locked.tenant.audit_chain if locked.tenant else PROVIDER_CHAIN,
                     action=Action.TOKEN_REVOKED, actor=actor, now=now, data=locked.audit_label())
    return locked


def split(raw: str | None) -> str | None:
    """The prefix of a well-formed bearer value, else None."""
    parts = (raw or "").split("_")
    return parts[1] if len(parts) >= 3 and parts[0] == "lbx" else None


MALFORMED = "Send a Lockbox API token as 'Authorization: Bearer lbx_…'."


# A token acts as its owner, so it can do only what the owner may still do: the role that let
# them make it must still be theirs at every use (removed from the tenant, a role taken away or
# switched off, the token stops at once). Provider roles per scope; tenant tokens need an admin.
PROVIDER_ROLES_FOR: dict[str, set[str]] = {
    Scope.ACCESS_CHECK: {ProviderRole.INTERNAL_APPROVER},
    Scope.ACTIVITY_WRITE: {ProviderRole.INTERNAL_APPROVER},
    Scope.REQUESTS_READ: {ProviderRole.ENGINEER, ProviderRole.INTERNAL_APPROVER,
                          ProviderRole.AUDITOR},
    Scope.REQUESTS_WRITE: {ProviderRole.ENGINEER, ProviderRole.INTERNAL_APPROVER,
                           ProviderRole.AUDITOR},
}


def role_problem(scopes: Iterable[str], *, tenant_bound: bool, tenant_admin: bool,
                 provider_roles: Iterable[str]) -> str:
    """Why the owner may no longer use a token with these scopes, or ""."""
    if tenant_bound:
        return "" if tenant_admin else ("The person who made this token is no longer an admin "
                                        "of its tenant.")
    for scope in scopes:
        needed = PROVIDER_ROLES_FOR.get(scope)
        if needed is not None and not needed & set(provider_roles):
            return "The person who made this token no longer has the role it needs."
    return ""


def refusal(raw: str, *, digest: str | None, revoked_at: datetime | None,
            expires_at: datetime, owner_active: bool, now: datetime,
            role_problem: str = "") -> str:
    """Why a stored token may not be used with this bearer value, or "" when it may. The one
    place these rules live: `authenticate` and the access check's single query (in
    approvals.access) both use it."""
    if digest is None or not hmac.compare_digest(digest, _digest(raw)):
        return "This token is not known."
    if revoked_at is not None:
        return "This token was revoked."
    if now >= expires_at:
        return "This token has expired."
    if not owner_active:
        return "The person who made this token can no longer use Lockbox."
    return role_problem


def _with_owner_roles(tokens: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
    """Annotate what `role_problem` needs, in the same query as the token."""
    def provider(role: str) -> Exists:
        return Exists(ProviderMembership.objects.filter(user=OuterRef("owner"), role=role))

    return tokens.annotate(
        owner_tenant_admin=Exists(TenantMembership.objects.filter(
            tenant=OuterRef("tenant"), user=OuterRef("owner"), role=TenantRole.ADMIN)),
        **{f"owner_is_{role}": provider(role) for role in ProviderRole.values})


def owner_roles(token: ApiToken) -> set[str]:
    return {role for role in ProviderRole.values if getattr(token, f"owner_is_{role}")}


def authenticate(raw: str, now: datetime) -> tuple[ApiToken | None, str]:
    """(token, "") for a usable bearer value, else (None, why). One query, with the owner and
    the roles the token needs."""
    prefix = split(raw)
    if prefix is None:
        return None, MALFORMED
    token = (_with_owner_roles(ApiToken.objects.select_related("owner", "tenant"))
             .filter(prefix=prefix).first())
    if token is None:
        return None, "This token is not known."
    problem = refusal(raw, digest=token.digest, revoked_at=token.revoked_at,
                      expires_at=token.expires_at, owner_active=token.owner.is_active, now=now,
                      role_problem=role_problem(token.scopes,
                                                tenant_bound=token.tenant_id is not None,
                                                tenant_admin=token.owner_tenant_admin,  # type: ignore[attr-defined]
                                                provider_roles=owner_roles(token)))
    return (None, problem) if problem else (token, "")


def revoke_tenant_tokens_of(*, owner: User, tenant: Tenant, reason: str,
                            now: datetime) -> list[ApiToken]:
    """Inside the caller's transaction: revoke what `owner` made for `tenant`, because they no
    longer hold the role it needs. Called when a tenant admin is removed or loses the role, so
    giving the role back later does not bring old tokens back."""
    revoked = list(ApiToken.objects.select_for_update()
                   .filter(owner=owner, tenant=tenant, revoked_at__isnull=True))
    for token in revoked:
        token.revoked_at = now
        token.save(update_fields=["revoked_at"])
        record_event(chain=tenant.audit_chain, action=Action.TOKEN_REVOKED, actor=None, now=now,
                     data={**token.audit_label(), "reason": reason})
    return revoked


def touch(token: ApiToken, now: datetime) -> None:
    """Note the last use at most once a minute, so the hot path rarely writes."""
    if touch_due(token.last_used_at, now):
        note_last_use(token.pk, now)
        token.last_used_at = now


def touch_due(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at > timedelta(minutes=1)


def note_last_use(token_id: int, now: datetime) -> None:
    ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
