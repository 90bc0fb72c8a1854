"""A tenant's own identity provider (OpenID Connect): its settings, its test sign-in, switching
it on and off, and what a sign-in through it does to the person's roles here.

The sign-in itself (allauth's openid_connect provider, the ID token's checks) is in
lockbox_portal.security.sso; everything it changes is written here, each change with its audit
event in the same transaction.

- A connection signs no one in until a test sign-in since its last change has shown the claims
  it receives, and an admin has switched it on (both with a step-up on the settings page).
  Changing the issuer, client or secret switches it off again; changing the role mapping does not.
- A person is signed in only with an e-mail address at a domain the tenant has verified
  (approvals.domains), and only when the claims give them at least one role. Their roles in
  this tenant become what the claims give; their roles in other tenants are not touched.
  Provider staff accounts are never signed in this way.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from approvals import roles as role_checks
from approvals.actions import Action
from approvals.models import (
    DomainClaim,
    ProviderMembership,
    SsoConnection,
    Tenant,
    TenantMembership,
    TenantRole,
)
from approvals.tokens import revoke_tenant_tokens_of
from audit.services import record_event
from lockbox_portal import clock
from lockbox_portal.security import outbound
from lockbox_portal.security import secrets as sealed

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ROLE_CLAIMS = ("groups", "roles")
# Fields whose change means another provider or client: switched off until tested again.
IDENTITY_FIELDS = ("issuer", "client_id", "client_secret", "role_claim")
MAPPING_FIELDS = ("admin_values", "approver_values", "reader_values")
# The ID token claims kept from a test sign-in, for the settings page.
SHOWN_CLAIMS = ("iss", "sub", "email", "email_verified", "name", "groups", "roles", "amr", "acr",
                "tid", "oid")
MAX_VALUES = 50


class SsoRefused(Exception):
    """A sign-in the connection does not allow; `message` is for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def clean_issuer(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (parts.scheme != "https" and not (parts.scheme == "http" and loopback
                                         and settings.LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK)) \
            or not parts.hostname or parts.query or parts.fragment or len(url) > 500:
        raise ValidationError({"issuer": "The issuer is the https:// address your identity "
                                         "provider names itself by, without a query, such as "
                                         "https://login.microsoftonline.com/<tenant id>/v2.0."})
    why = outbound.problem(url)
    if why:
        raise ValidationError({"issuer": f"Lockbox cannot use this issuer: {why}."})
    return url


def _values(text_or_list: Any, field: str) -> list[str]:
    items = text_or_list.splitlines() if isinstance(text_or_list, str) else list(text_or_list)
    values = sorted({str(item).strip() for item in items if str(item).strip()})
    if len(values) > MAX_VALUES or any(len(value) > 200 for value in values):
        raise ValidationError({field: f"At most {MAX_VALUES} values of at most 200 characters."})
    return values


@dataclass(frozen=True)
class Settings:
    issuer: str
    client_id: str
    client_secret: str  # "" keeps the saved one
    role_claim: str
    admin_values: list[str]
    approver_values: list[str]
    reader_values: list[str]


def save_connection(*, tenant: Tenant, actor: User, given: Settings,
                    now: datetime | None = None) -> SsoConnection:
    role_checks.require_tenant_admin(actor, tenant)
    now = now or clock.now()
    issuer = clean_issuer(given.issuer)
    client_id = given.client_id.strip()
    if not client_id or len(client_id) > 255:
        raise ValidationError({"client_id": "The client (application) id, as your identity "
                                            "provider shows it."})
    if given.role_claim not in ROLE_CLAIMS:
        raise ValidationError({"role_claim": "Choose groups or roles."})
    values: dict[str, Any] = {"admin_values": _values(given.admin_values, "admin_values"),
                               "approver_values": _values(given.approver_values,
                                                          "approver_values"),
                               "reader_values": _values(given.reader_values, "reader_values")}
    if not any(values.values()):
        raise ValidationError({"approver_values": "Name at least one group or role, or no one "
                                                  "could sign in."})
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        connection = SsoConnection.objects.filter(tenant=tenant).first()
        if connection is None and not given.client_secret:
            raise ValidationError({"client_secret": "The client secret is needed the first "
                                                    "time."})
        new = {"issuer": issuer, "client_id": client_id, "role_claim": given.role_claim,
               **values}
        if connection is None:
            connection = SsoConnection(tenant=tenant, created_at=now, changed_at=now,
                                       provider_id=f"t{tenant.pk}-{secrets.token_hex(4)}")
            changed = [*new, "client_secret"]
        else:
            changed = [f for f, v in new.items() if getattr(connection, f) != v]
            if given.client_secret and (not connection.client_secret or _readable(
                    connection) != given.client_secret):
                changed.append("client_secret")
        if not changed:
            return connection
        switched_off = connection.enabled and any(f in IDENTITY_FIELDS for f in changed)
        for field, value in new.items():
            setattr(connection, field, value)
        if "client_secret" in changed:
            connection.client_secret = sealed.seal(given.client_secret)
        if any(f in IDENTITY_FIELDS for f in changed):
            connection.changed_at = now
            connection.enabled = connection.required = False
        if connection.pk and "issuer" in changed:
            # Another provider: its subjects must not meet the old one's linked accounts.
            connection.provider_id = f"t{tenant.pk}-{secrets.token_hex(4)}"
        connection.save()
        record_event(chain=tenant.audit_chain, action=Action.SSO_CONFIGURED, actor=actor,
                     now=now, data={**{f: getattr(connection, f) for f in new},
                                    "changed": sorted(changed), "switched_off": switched_off})
    return connection


def _readable(connection: SsoConnection) -> str | None:
    try:
        return sealed.unseal(connection.client_secret)
    except sealed.Unreadable:
        return None


def client_secret(connection: SsoConnection) -> str:
    return sealed.unseal(connection.client_secret)


def record_test(*, connection: SsoConnection, actor: User, claims: dict[str, Any],
                now: datetime | None = None) -> dict[str, Any]:
    """A test sign-in reached us with these (verified) claims: keep what the page shows."""
    role_checks.require_tenant_admin(actor, connection.tenant)
    now = now or clock.now()
    shown = {name: claims[name] for name in SHOWN_CLAIMS if name in claims}
    with transaction.atomic():
        locked = SsoConnection.objects.select_for_update().select_related("tenant").get(
            pk=connection.pk)
        locked.tested_at, locked.test_claims = now, shown
        locked.save(update_fields=["tested_at", "test_claims"])
        record_event(chain=locked.tenant.audit_chain, action=Action.SSO_TESTED, actor=actor,
                     now=now, data={"issuer": locked.issuer, "sub": str(claims.get("sub", "")),
                                    "email": str(claims.get("email", "")),
                                    "roles": roles_from_claims(locked, claims)})
    return shown


def set_enabled(*, connection: SsoConnection, actor: User, on: bool,
                now: datetime | None = None) -> bool:
    role_checks.require_tenant_admin(actor, connection.tenant)
    now = now or clock.now()
    with transaction.atomic():
        locked = SsoConnection.objects.select_for_update().select_related("tenant").get(
            pk=connection.pk)
        if locked.enabled == on:
            return False
        if not on:
            locked.required = False  # nothing to require once it is off
        if on and not locked.tested_since_change:
            raise ValidationError("Run a test sign-in first: it shows the claims your identity "
                                  "provider sends since the settings last changed.")
        locked.enabled = on
        locked.save(update_fields=["enabled", "required"])
        record_event(chain=locked.tenant.audit_chain, actor=actor, now=now,
                     action=Action.SSO_ENABLED if on else Action.SSO_DISABLED,
                     data={"issuer": locked.issuer})
    connection.enabled = on
    return True


def set_required(*, connection: SsoConnection, actor: User, on: bool,
                 now: datetime | None = None) -> dict[str, int]:
    """Require single sign-on for the tenant's people, or stop requiring it. Once required,
    passwords stop working for its members (lockbox_portal.security.adapters), its pages open
    only to sessions signed in through this provider (approvals.views.shared.guards), and here:
    every member's session that did not sign in through it ends, and the tenant's API tokens of
    members whose address is not at a verified domain (who can no longer sign in) are revoked.
    The view checks that the admin's own session signed in through it first. Returns counts."""
    role_checks.require_tenant_admin(actor, connection.tenant)
    now = now or clock.now()
    ended: list[Any] = []
    revoked = 0
    with transaction.atomic():
        locked = SsoConnection.objects.select_for_update().select_related("tenant").get(
            pk=connection.pk)
        tenant = locked.tenant
        if locked.required == on:
            return {"sessions": 0, "tokens": 0}
        if on and not locked.enabled:
            raise ValidationError("Switch single sign-on on before you require it.")
        locked.required = on
        locked.save(update_fields=["required"])
        if on:
            members = get_user_model().objects.filter(tenant_memberships__tenant=tenant).distinct()
            for member in outside_verified_domains(tenant):
                revoked += len(revoke_tenant_tokens_of(
                    owner=member, tenant=tenant, now=now,
                    reason=f"{tenant.name} requires single sign-on, and its owner's address is "
                           "not at one of its verified domains."))
            ended = _sessions_not_through(locked.provider_id, members)
        record_event(chain=tenant.audit_chain, actor=actor, now=now,
                     action=Action.SSO_REQUIRED if on else Action.SSO_NOT_REQUIRED,
                     data={"issuer": locked.issuer, "sessions_ended": len(ended),
                           "tokens_revoked": revoked})
        # Sessions end once the requirement is committed (they may live outside the database).
        transaction.on_commit(lambda: [session.end() for session in ended])
    connection.required = on
    return {"sessions": len(ended), "tokens": revoked}


def outside_verified_domains(tenant: Tenant) -> list[User]:
    """The tenant's members whose address is not at one of its verified domains: they cannot
    sign in through its single sign-on, so requiring it shuts them out."""
    verified = set(DomainClaim.objects.filter(tenant=tenant, verified_at__isnull=False)
                   .values_list("domain", flat=True))
    members = (get_user_model().objects.filter(tenant_memberships__tenant=tenant).distinct()
               .order_by("email"))
    return [member for member in members if domain_of(member.email) not in verified]


def signed_in_through(records: Any, provider_id: str) -> bool:
    """Whether allauth's record of how a session signed in (its list of methods) shows a sign-in
    through that single sign-on provider."""
    return any(isinstance(record, dict) and record.get("method") == "socialaccount"
               and record.get("provider") == provider_id for record in records or [])


def _sessions_not_through(provider_id: str, members: Any) -> list[Any]:
    from importlib import import_module

    from allauth.usersessions.models import UserSession

    store = import_module(settings.SESSION_ENGINE).SessionStore
    ending = []
    for session in UserSession.objects.filter(user__in=members):
        stored = store(session_key=session.session_key)
        if not stored.exists(session.session_key):
            continue  # its key has changed since (a sign-in or step-up cycles it): noted anew
        records = stored.get("account_authentication_methods")
        if not signed_in_through(records, provider_id):
            ending.append(session)
    return ending


def required_for(user: User) -> SsoConnection | None:
    """The required single sign-on of a tenant this person belongs to, if any."""
    return (SsoConnection.objects.filter(enabled=True, required=True,
                                         tenant__memberships__user=user)
            .select_related("tenant").first())


def remove_connection(*, connection: SsoConnection, actor: User,
                      now: datetime | None = None) -> None:
    role_checks.require_tenant_admin(actor, connection.tenant)
    with transaction.atomic():
        locked = SsoConnection.objects.select_for_update().select_related("tenant").filter(
            pk=connection.pk).first()
        if locked is None:
            return
        record_event(chain=locked.tenant.audit_chain, action=Action.SSO_REMOVED, actor=actor,
                     now=now, data={"issuer": locked.issuer})
        locked.delete()


def _held(claims: dict[str, Any], claim: str) -> set[str]:
    """The values of a groups or roles claim: a list of strings (or one string); anything else
    holds nothing."""
    raw = claims.get(claim) or []
    if isinstance(raw, str):
        raw = [raw]
    return {str(value) for value in raw if isinstance(value, str | int)} \
        if isinstance(raw, list) else set()


def roles_from_claims(connection: SsoConnection, claims: dict[str, Any]) -> list[str]:
    held = _held(claims, connection.role_claim)
    roles = []
    for role, values in ((TenantRole.ADMIN, connection.admin_values),
                         (TenantRole.APPROVER, connection.approver_values),
                         (TenantRole.COMPLIANCE_READER, connection.reader_values)):
        if held & set(values):
            roles.append(str(role))
    return roles


def domain_of(email: str) -> str:
    """The address's domain as approvals.domains stores domains (xn-- for international ones);
    "" when there is none."""
    from approvals.domains import normalize

    if "@" not in email:
        return ""
    try:
        return normalize(email.rsplit("@", 1)[-1])
    except ValidationError:
        return ""


def belongs_to(email: str, connection: SsoConnection) -> bool:
    """Whether there is no one with this address yet, or they are a member of the connection's
    tenant: only they are sent to its provider when they also typed a password."""
    person = get_user_model().objects.filter(email__iexact=email.strip()).first()
    return person is None or TenantMembership.objects.filter(
        tenant=connection.tenant, user=person).exists()


def connection_for_email(email: str) -> SsoConnection | None:
    """The switched-on connection of the tenant that verified the address's domain."""
    domain = domain_of((email or "").strip())
    if not domain:
        return None
    claim = (DomainClaim.objects.filter(domain=domain, verified_at__isnull=False,
                                        tenant__sso__enabled=True)
             .select_related("tenant__sso").first())
    return claim.tenant.sso if claim else None


def sign_in_member(*, connection: SsoConnection, claims: dict[str, Any],
                   now: datetime | None = None) -> User:
    """The person these verified claims name, with their roles in the connection's tenant set
    to what the claims give. Refuses (SsoRefused) what the connection does not allow."""
    tenant = connection.tenant
    if not connection.enabled:
        raise SsoRefused(f"Single sign-on of {tenant.name} is switched off.")
    email = str(claims.get("email") or "").strip().lower()
    domain = domain_of(email)
    if not domain or not DomainClaim.objects.filter(tenant=tenant, domain=domain,
                                                    verified_at__isnull=False).exists():
        who = email or "someone with no e-mail address"
        raise SsoRefused(f"Your identity provider signed you in as {who}, which is not at a "
                         f"domain {tenant.name} has verified.")
    roles = roles_from_claims(connection, claims)
    now = now or clock.now()
    users = get_user_model().objects
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)  # one membership change at a time
        user = users.filter(email__iexact=email).first()
        if user is not None and ProviderMembership.objects.filter(user=user).exists():
            raise SsoRefused("This is a provider staff account; it cannot sign in through a "
                             "customer's identity provider.")
        if user is None and roles:
            user = users.create_user(username=email, email=email, password=None)  # SSO only
        if user is not None:
            _set_roles(connection, user, email, roles, now)
    if not roles:
        # The provider is the authority: whoever it no longer puts in a mapped group has lost
        # their roles here (above), and is not signed in.
        raise SsoRefused(f"Your identity provider gives you no role in {tenant.name}'s Lockbox. "
                         "Ask your administrator to add you to the right group.")
    assert user is not None
    return user


def _set_roles(connection: SsoConnection, user: User, email: str, roles: list[str],
               now: datetime) -> None:
    tenant = connection.tenant
    old = sorted(TenantMembership.objects.filter(tenant=tenant, user=user)
                 .values_list("role", flat=True))
    new = sorted(roles)
    if old == new:
        return
    # Never the tenant's last admin: someone must be able to fix the mapping.
    kept_admin = (TenantRole.ADMIN in old and TenantRole.ADMIN not in new
                  and not TenantMembership.objects.filter(
                      tenant=tenant, role=TenantRole.ADMIN).exclude(user=user).exists())
    if kept_admin:
        new = sorted([*new, str(TenantRole.ADMIN)])
        if old == new:
            return
    TenantMembership.objects.filter(tenant=tenant, user=user).exclude(role__in=new).delete()
    for role in set(new) - set(old):
        TenantMembership.objects.create(tenant=tenant, user=user, role=role, created_at=now)
    if TenantRole.ADMIN in old and TenantRole.ADMIN not in new:
        revoke_tenant_tokens_of(owner=user, tenant=tenant, now=now,
                                reason="Its owner is no longer an admin of the tenant.")
    action = (Action.MEMBERSHIP_GRANTED if not old else
              Action.MEMBERSHIP_REMOVED if not new else Action.MEMBERSHIP_CHANGED)
    record_event(chain=tenant.audit_chain, now=now, action=action, data={
        "email": email, "old": old, "new": new, "by": f"single sign-on ({connection.issuer})",
        **({"kept_admin": "the tenant's last admin keeps the role"} if kept_admin else {})})


# --- The provider's own staff ---------------------------------------------------------------

STAFF_PROVIDER_ID = "provider-staff"


def staff_sso_configured() -> bool:
    return bool(settings.LOCKBOX_STAFF_OIDC_ISSUER)


def staff_roles_from_claims(claims: dict[str, Any]) -> list[str]:
    held = _held(claims, settings.LOCKBOX_STAFF_OIDC_ROLE_CLAIM)
    return [role for role, values in settings.LOCKBOX_STAFF_OIDC_ROLES.items()
            if held & set(values)]


def sign_in_staff(*, claims: dict[str, Any], now: datetime | None = None) -> User:
    """A member of the provider's staff, signed in through the provider's identity provider:
    their provider roles become what the claims give (each change in the provider's chain).
    Refuses addresses outside LOCKBOX_STAFF_OIDC_DOMAINS and any customer account."""
    from approvals.tenants import add_provider_role
    from audit.encoding import PROVIDER_CHAIN

    email = str(claims.get("email") or "").strip().lower()
    if domain_of(email) not in settings.LOCKBOX_STAFF_OIDC_DOMAINS:
        raise SsoRefused(f"{email or 'This account'} is not a provider staff address.")
    roles = staff_roles_from_claims(claims)
    now = now or clock.now()
    users = get_user_model().objects
    with transaction.atomic():
        user = users.filter(email__iexact=email).first()
        if user is not None and TenantMembership.objects.filter(user=user).exists():
            raise SsoRefused("This is a customer account; it cannot sign in to the internal "
                             "site.")
        if user is None and roles:
            user = users.create_user(username=email, email=email, password=None)
        if user is not None:
            old = set(ProviderMembership.objects.filter(user=user)
                      .values_list("role", flat=True))
            for role in set(roles) - old:
                add_provider_role(user=user, role=role, now=now)
            gone = sorted(old - set(roles))
            if gone:
                ProviderMembership.objects.filter(user=user, role__in=gone).delete()
                record_event(chain=PROVIDER_CHAIN, action=Action.PROVIDER_ROLE_REMOVED, now=now,
                             data={"email": email, "roles": gone,
                                   "by": "single sign-on (the provider's identity provider)"})
    if not roles:
        raise SsoRefused("The provider's identity provider gives you no role in Lockbox.")
    assert user is not None
    return user
