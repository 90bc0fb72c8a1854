from approvals import selectors
from approvals.models import TenantRole
from lockbox_portal import clock


def navigation(request):
    """The portal's navigation for the tenant a page is about (set by approvals.views.access)."""
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return {}
    roles = request.tenant_roles
    return {
        "nav_tenant": tenant,
        "nav_pending": selectors.count_awaiting_customer(tenant, clock.now()),
        "nav_is_admin": TenantRole.ADMIN in roles,
        "nav_roles": sorted(TenantRole(r).label for r in roles),
        "nav_several_tenants": selectors.tenants_for_user(request.user)[1:2].exists(),
    }
