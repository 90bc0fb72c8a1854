"""Tenants, their policy and their people. Each change is written to an audit chain, with the
old and new values, in the same transaction.

A tenant's chain names people by e-mail address, never by account id: ids are handed out in
order, so one would tell the tenant how old someone's account is (see invite_member)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from approvals import roles as role_checks
from approvals.actions import Action
from approvals.errors import NotPermitted
from approvals.models import (
    ProviderMembership,
    ProviderRole,
    Tenant,
    TenantMembership,
    TenantRole,
)
from approvals.notifications import outbox
from approvals.tokens import revoke_tenant_tokens_of
from audit.encoding import PROVIDER_CHAIN
from audit.services import record_event, record_events
from lockbox_portal import clock

if TYPE_CHECKING:
    from django.contrib.auth.models import User


MAX_WINDOW = timedelta(days=7)
# Google's AccessApprovalSettings allow 50 notification addresses; the portal's form and the
# Access Approval API both save through set_notification_emails, so both allow as many.
MAX_NOTIFICATION_EMAILS = 50


def create_tenant(*, slug: str, name: str, actor: User | None = None,
                  lockbox_enabled: bool = True,
                  customer_approval_window: timedelta = timedelta(hours=12),
                  max_access_duration: timedelta = timedelta(hours=4),
                  required_approvals: int = 1, now: datetime | None = None) -> Tenant:
    now = now or clock.now()
    tenant = Tenant(
        slug=slug, name=name, lockbox_enabled=lockbox_enabled,
        customer_approval_window=customer_approval_window,
        max_access_duration=max_access_duration, required_approvals=required_approvals,
        created_at=now,
    )
    tenant.full_clean()
    for field in ("customer_approval_window", "max_access_duration"):
        value = getattr(tenant, field)
        if not timedelta(0) < value <= MAX_WINDOW:
            raise ValidationError({field: "Must be longer than zero and at most 7 days."})
    with transaction.atomic():
        tenant.save()
        record_event(
            chain=tenant.audit_chain, action=Action.TENANT_CREATED, actor=actor, now=now,
            data={
                "slug": slug,
                "name": name,
                "lockbox_enabled": lockbox_enabled,
                "customer_approval_window_seconds": int(
                    customer_approval_window.total_seconds()),
                "max_access_duration_seconds": int(max_access_duration.total_seconds()),
                "required_approvals": required_approvals,
            },
        )
    return tenant


def add_tenant_member(*, tenant: Tenant, user: User, role: str, actor: User | None = None,
                      now: datetime | None = None) -> TenantMembership:
    if role not in TenantRole.values:
        raise ValidationError({"role": f"Unknown tenant role {role!r}."})
    now = now or clock.now()
    with transaction.atomic():
        membership, created = TenantMembership.objects.get_or_create(
            tenant=tenant, user=user, role=role, defaults={"created_at": now}
        )
        if created:
            record_event(chain=tenant.audit_chain, action=Action.MEMBERSHIP_GRANTED, actor=actor,
                         now=now, data={"email": user.email, "role": role})
    return membership


def add_provider_role(*, user: User, role: str, actor: User | None = None,
                      now: datetime | None = None) -> ProviderMembership:
    if role not in ProviderRole.values:
        raise ValidationError({"role": f"Unknown provider role {role!r}."})
    now = now or clock.now()
    with transaction.atomic():
        membership, created = ProviderMembership.objects.get_or_create(
            user=user, role=role, defaults={"created_at": now}
        )
        if created:
            if not user.is_staff:
                # Provider people are staff; the admin site still admits only auditors.
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            record_event(chain=PROVIDER_CHAIN, action=Action.PROVIDER_ROLE_GRANTED, actor=actor,
                         now=now, data={"user_id": user.pk, "email": user.email, "role": role})
    return membership


# --- What a tenant admin changes ----------------------------------------------------------------

POLICY_FIELDS = ("lockbox_enabled", "customer_approval_window", "max_access_duration",
                 "required_approvals")


def update_policy(*, tenant: Tenant, actor: User, now: datetime | None = None,
                  **values: Any) -> dict[str, tuple[Any, Any]]:
    """Change the tenant's Lockbox policy. Returns the changes made ({} when nothing changed)."""
    role_checks.require_tenant_admin(actor, tenant)
    unknown = set(values) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown policy fields: {', '.join(sorted(unknown))}.")
    now = now or clock.now()
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        changes = {f: (getattr(locked, f), v) for f, v in values.items()
                   if getattr(locked, f) != v}
        if not changes:
            return {}
        for field, (_, new) in changes.items():
            setattr(locked, field, new)
        _check_policy(locked)
        locked.save(update_fields=list(changes))
        record_event(chain=locked.audit_chain, action=Action.TENANT_POLICY_CHANGED, actor=actor,
                     now=now, data={f: {"old": _plain(old), "new": _plain(new)}
                                    for f, (old, new) in changes.items()})
    for field, (_, new) in changes.items():
        setattr(tenant, field, new)
    return changes


def _check_policy(tenant: Tenant) -> None:
    errors: dict[str, str] = {}
    for field in ("customer_approval_window", "max_access_duration"):
        if not timedelta(0) < getattr(tenant, field) <= MAX_WINDOW:
            errors[field] = "Must be longer than zero and at most 7 days."
    if not 1 <= tenant.required_approvals <= 10:
        errors["required_approvals"] = "Between 1 and 10."
    approvers = TenantMembership.objects.filter(tenant=tenant, role=TenantRole.APPROVER,
                                                user__is_active=True).count()
    if tenant.lockbox_enabled and tenant.required_approvals > approvers:
        errors["required_approvals"] = (
            f"{tenant.name} has {approvers} approver(s); requiring {tenant.required_approvals} "
            "approvals would let every request expire. Add approvers first."
        )
    if errors:
        raise ValidationError(errors)


def set_audit_retention(*, tenant: Tenant, actor: User, years: int, legal_hold: bool,
                        now: datetime | None = None) -> list[str]:
    """A tenant admin sets how long the audit stays in the database (1 to 10 years) and the
    legal hold; each field changed is its own audit event with old and new values. Returns the
    fields changed."""
    role_checks.require_tenant_admin(actor, tenant)
    if not 1 <= years <= 10:
        raise ValidationError({"audit_retention_years": "Between 1 and 10 years."})
    return _change_retention(tenant, actor, now, audit_retention_years=years,
                             legal_hold=legal_hold)


def set_provider_legal_hold(*, tenant: Tenant, actor: User, on: bool,
                            now: datetime | None = None) -> bool:
    """The provider's auditors place or lift their own legal hold on a tenant's history (they
    may have to keep it for their own legal reasons). It is kept apart from the tenant's hold,
    which the tenant's admins set (set_audit_retention): neither party can lift the other's.
    True when it changed."""
    if not role_checks.is_provider_auditor(actor):
        raise NotPermitted("Only the provider's auditors can place or lift the provider's "
                           "legal hold.")
    return bool(_change_retention(tenant, actor, now, provider_legal_hold=on))


_RETENTION_ACTIONS = {"audit_retention_years": Action.TENANT_RETENTION_CHANGED,
                      "legal_hold": Action.TENANT_LEGAL_HOLD_CHANGED,
                      "provider_legal_hold": Action.TENANT_LEGAL_HOLD_CHANGED}


def _change_retention(tenant: Tenant, actor: User, now: datetime | None,
                      **values: Any) -> list[str]:
    now = now or clock.now()
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        changed = [f for f, v in values.items() if getattr(locked, f) != v]
        if not changed:
            return []
        events = []
        for field in changed:
            events.append({"action": _RETENTION_ACTIONS[field], "actor": actor, "data": {
                field: {"old": getattr(locked, field), "new": values[field]}}})
            setattr(locked, field, values[field])
        locked.save(update_fields=changed)
        record_events(chain=locked.audit_chain, events=events, now=now)
    for field in changed:
        setattr(tenant, field, values[field])
    return changed


def set_notification_emails(*, tenant: Tenant, actor: User, emails: list[str],
                            now: datetime | None = None) -> bool:
    role_checks.require_tenant_admin(actor, tenant)
    cleaned: list[str] = []
    for raw in emails:
        address = raw.strip().lower()
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError({"emails": f"{raw.strip()!r} is not an e-mail address."}) \
                from None
        if address not in cleaned:
            cleaned.append(address)
    if len(cleaned) > MAX_NOTIFICATION_EMAILS:
        raise ValidationError({"emails": f"Use at most {MAX_NOTIFICATION_EMAILS} addresses "
                                         "(a list address counts once)."})
    now = now or clock.now()
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.notification_emails == cleaned:
            return False
        old = list(locked.notification_emails)
        locked.notification_emails = cleaned
        locked.save(update_fields=["notification_emails"])
        record_event(chain=locked.audit_chain, action=Action.TENANT_NOTIFICATIONS_CHANGED,
                     actor=actor, now=now, data={"old": old, "new": cleaned})
    tenant.notification_emails = cleaned
    return True


def invite_member(*, tenant: Tenant, email: str | None, roles: list[str], actor: User,
                  now: datetime | None = None) -> str:
    """Give a person roles in the tenant and queue their e-mail; returns the address.

    The admin's answer, and the tenant's audit event (address and roles), are the same whoever
    the address belongs to, so the form cannot tell anyone who has an account elsewhere. Only
    the e-mail, which goes to the address itself, differs:
    1. nobody has the address: an account is made, with a one-time link to choose a password;
    2. someone has it (another tenant's person): they get the roles, and an e-mail saying so;
       they sign in as they already do;
    3. it is a provider staff account: customer roles never reach the provider's people
       (DESIGN: provider roles never decide for a customer), so nothing is granted; the
       provider's chain records the refusal, and the person is told.
    """
    role_checks.require_tenant_admin(actor, tenant)
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid e-mail address."}) from None
    roles = _clean_roles(roles)
    now = now or clock.now()
    User = get_user_model()
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)  # one membership change at a time
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            account = "new"
            user = User.objects.create_user(username=email, email=email, password=None)
        elif TenantMembership.objects.filter(tenant=tenant, user=user).exists():
            raise ValidationError({"email": f"{email} is already a member of {tenant.name}; "
                                            "change their roles instead."})
        else:
            account = "provider_staff" if _is_provider_staff(user) else "existing"
        if account == "provider_staff":
            record_event(chain=PROVIDER_CHAIN, action=Action.MEMBERSHIP_REFUSED, actor=actor,
                         now=now, data={"tenant": tenant.slug, "user_id": user.pk, "email": email,
                               "roles": roles})
        else:
            for role in roles:
                TenantMembership.objects.create(tenant=tenant, user=user, role=role,
                                                created_at=now)
        event = record_event(chain=tenant.audit_chain, action=Action.MEMBERSHIP_INVITED,
                             actor=actor, now=now, data={"email": email, "roles": roles})
        outbox.tenant_email(kind="invitation", key=f"invitation:{tenant.slug}:{event.seq}",
                            address=email, user=user, tenant=tenant, now=now,
                            payload={"inviter": actor.email, "roles": roles, "account": account})
    return email


def _is_provider_staff(user: User) -> bool:
    return (user.is_staff or user.is_superuser
            or ProviderMembership.objects.filter(user=user).exists())


def set_member_roles(*, tenant: Tenant, user: User, roles: list[str], actor: User,
                     now: datetime | None = None) -> bool:
    role_checks.require_tenant_admin(actor, tenant)
    roles = _clean_roles(roles)
    now = now or clock.now()
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)  # one membership change at a time
        old = sorted(TenantMembership.objects.filter(tenant=tenant, user=user)
                     .values_list("role", flat=True))
        if not old:
            raise ValidationError("That person is not a member of this tenant.")
        if old == roles:
            return False
        if TenantRole.ADMIN in old and TenantRole.ADMIN not in roles:
            _keep_an_admin(tenant, user)
        TenantMembership.objects.filter(tenant=tenant, user=user).exclude(role__in=roles).delete()
        for role in set(roles) - set(old):
            TenantMembership.objects.create(tenant=tenant, user=user, role=role, created_at=now)
        record_event(chain=tenant.audit_chain, action=Action.MEMBERSHIP_CHANGED, actor=actor,
                     now=now, data={"email": user.email, "old": old, "new": roles})
        if TenantRole.ADMIN in old and TenantRole.ADMIN not in roles:
            revoke_tenant_tokens_of(owner=user, tenant=tenant, now=now,
                                    reason="Its owner is no longer an admin of the tenant.")
    return True


def remove_member(*, tenant: Tenant, user: User, actor: User,
                  now: datetime | None = None) -> None:
    role_checks.require_tenant_admin(actor, tenant)
    now = now or clock.now()
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        old = sorted(TenantMembership.objects.filter(tenant=tenant, user=user)
                     .values_list("role", flat=True))
        if not old:
            raise ValidationError("That person is not a member of this tenant.")
        if TenantRole.ADMIN in old:
            _keep_an_admin(tenant, user)
        TenantMembership.objects.filter(tenant=tenant, user=user).delete()
        record_event(chain=tenant.audit_chain, action=Action.MEMBERSHIP_REMOVED, actor=actor,
                     now=now, data={"email": user.email, "old": old})
        revoke_tenant_tokens_of(owner=user, tenant=tenant, now=now,
                                reason="Its owner was removed from the tenant.")


def _clean_roles(roles: list[str] | None) -> list[str]:
    roles = sorted(set(roles or []))
    if not roles:
        raise ValidationError({"roles": "Choose at least one role."})
    unknown = [r for r in roles if r not in TenantRole.values]
    if unknown:
        raise ValidationError({"roles": f"Unknown role {unknown[0]!r}."})
    return roles


def _keep_an_admin(tenant: Tenant, leaving: User) -> None:
    others = (TenantMembership.objects.filter(tenant=tenant, role=TenantRole.ADMIN)
              .exclude(user=leaving).filter(user__is_active=True).exists())
    if not others:
        raise ValidationError(f"{tenant.name} needs at least one admin; make someone else an "
                              "admin first.")


def _plain(value: Any) -> Any:
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    return value
