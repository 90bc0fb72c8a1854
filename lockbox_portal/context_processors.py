from approvals import selectors
from approvals.models import ProviderRole, TenantRole
from lockbox_portal import clock


def navigation(request):
    """The navigation of the page's site: the tenant a portal page is about, or the roles of
    the provider's staff on an internal page (both set by approvals.views.shared.guards)."""
    provider_roles = getattr(request, "provider_roles", None)
    if provider_roles is not None:
        return {
            "internal_roles": provider_roles,
            "internal_queue": selectors.count_internal_queue(clock.now())
            if ProviderRole.INTERNAL_APPROVER in provider_roles else None,
        }
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return {}
    roles = request.tenant_roles
    return {
        "nav_tenant": tenant,
        # Counted by the query that found the tenant (approvals.selectors.get_tenant_for_user).
        "nav_pending": tenant.nav_waiting,
        "nav_is_admin": TenantRole.ADMIN in roles,
        "nav_is_reader": TenantRole.COMPLIANCE_READER in roles,
        "nav_roles": sorted(TenantRole(r).label for r in roles),
        "nav_several_tenants": tenant.nav_elsewhere,
    }
