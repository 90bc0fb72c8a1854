"""Who holds which role. Each check is one query, run inside the caller's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from approvals.errors import NotPermitted
from approvals.models import (
    ProviderMembership,
    ProviderRole,
    Tenant,
    TenantMembership,
    TenantRole,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    # Anyone a check may be asked about: a request's person (perhaps not signed in), or a row's
    # user, or nobody (a system action).
    Person = User | AnonymousUser | None


def has_provider_role(user: Person, role: ProviderRole) -> bool:
    if user is None or not user.is_active:
        return False
    return ProviderMembership.objects.filter(user=user, role=role).exists()


def has_tenant_role(user: Person, tenant: Tenant, *roles: TenantRole) -> bool:
    if user is None or not user.is_active:
        return False
    return TenantMembership.objects.filter(user=user, tenant=tenant, role__in=roles).exists()


def is_engineer(user: Person) -> bool:
    return has_provider_role(user, ProviderRole.ENGINEER)


def is_internal_approver(user: Person) -> bool:
    return has_provider_role(user, ProviderRole.INTERNAL_APPROVER)


def is_provider_auditor(user: Person) -> bool:
    return has_provider_role(user, ProviderRole.AUDITOR)


def is_tenant_approver(user: Person, tenant: Tenant) -> bool:
    return has_tenant_role(user, tenant, TenantRole.APPROVER)


def may_revoke_for_tenant(user: Person, tenant: Tenant) -> bool:
    # Revoking only ever takes access away, so the tenant's admins may do it as well as approvers.
    return has_tenant_role(user, tenant, TenantRole.APPROVER, TenantRole.ADMIN)


def require_tenant_admin(actor: User | None, tenant: Tenant) -> None:
    """Refuse (NotPermitted) anyone but the tenant's admins: the guard of every settings change
    (policy, people, notification addresses, webhooks)."""
    if not has_tenant_role(actor, tenant, TenantRole.ADMIN):
        raise NotPermitted(f"Only {tenant.name}'s admins can change its settings.")
