"""Who holds which role. Each check is one query, run inside the caller's transaction."""

from approvals.models import ProviderMembership, ProviderRole, TenantMembership, TenantRole


def has_provider_role(user, role):
    if user is None or not user.is_active:
        return False
    return ProviderMembership.objects.filter(user=user, role=role).exists()


def has_tenant_role(user, tenant, *roles):
    if user is None or not user.is_active:
        return False
    return TenantMembership.objects.filter(user=user, tenant=tenant, role__in=roles).exists()


def is_engineer(user):
    return has_provider_role(user, ProviderRole.ENGINEER)


def is_internal_approver(user):
    return has_provider_role(user, ProviderRole.INTERNAL_APPROVER)


def is_provider_auditor(user):
    return has_provider_role(user, ProviderRole.AUDITOR)


def is_tenant_approver(user, tenant):
    return has_tenant_role(user, tenant, TenantRole.APPROVER)


def may_revoke_for_tenant(user, tenant):
    # Revoking only ever takes access away, so the tenant's admins may do it as well as approvers.
    return has_tenant_role(user, tenant, TenantRole.APPROVER, TenantRole.ADMIN)
