"""Creating tenants and giving people roles. Each change is written to an audit chain."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction

from approvals.models import (
    ProviderMembership,
    ProviderRole,
    Tenant,
    TenantMembership,
    TenantRole,
)
from audit.chain import PROVIDER_CHAIN
from audit.services import record_event
from lockbox_portal import clock

MAX_WINDOW = timedelta(days=7)


def create_tenant(*, slug, name, actor=None, lockbox_enabled=True,
                  customer_approval_window=timedelta(hours=12),
                  max_access_duration=timedelta(hours=4), required_approvals=1, now=None):
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
            chain=tenant.audit_chain, action="tenant.created", actor=actor, now=now,
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


def add_tenant_member(*, tenant, user, role, actor=None, now=None):
    if role not in TenantRole.values:
        raise ValidationError({"role": f"Unknown tenant role {role!r}."})
    now = now or clock.now()
    with transaction.atomic():
        membership, created = TenantMembership.objects.get_or_create(
            tenant=tenant, user=user, role=role, defaults={"created_at": now}
        )
        if created:
            record_event(chain=tenant.audit_chain, action="membership.granted", actor=actor,
                         now=now, data={"user_id": user.pk, "email": user.email, "role": role})
    return membership


def add_provider_role(*, user, role, actor=None, now=None):
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
            record_event(chain=PROVIDER_CHAIN, action="provider_role.granted", actor=actor,
                         now=now, data={"user_id": user.pk, "email": user.email, "role": role})
    return membership
