"""The portal's front pages: choosing a tenant, and a tenant's dashboard."""

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render

from approvals import attestations, selectors
from approvals.models import Decision, DecisionLevel, TenantRole
from approvals.views.shared.guards import tenant_page
from lockbox_portal import clock
from lockbox_portal.security.adapters import is_provider_only

APPROVER, ADMIN = TenantRole.APPROVER, TenantRole.ADMIN
DASHBOARD_ROWS = 20


def home(request):
    tenants = list(selectors.tenants_for_user(request.user))
    if not tenants and settings.LOCKBOX_SITE == "all" and is_provider_only(request.user):
        return redirect("internal:home")
    if len(tenants) == 1:
        return redirect("portal:tenant_dashboard", tenants[0].slug)
    return render(request, "customer/pick_tenant.html", {"tenants": tenants})


class _First(list):
    """The first rows of a list the dashboard shows, and how many there are in all."""

    def __init__(self, rows, total):
        super().__init__(rows)
        self.total = total
        self.more = total > len(rows)


def _first(rows, n=None):
    """The dashboard shows the first DASHBOARD_ROWS of each list (a count says how many more,
    and History lists them all): with hundreds waiting, a page of cards helps nobody.

    One statement per list: its rows carry the list's length, counted by a subquery that does
    not depend on the row, so PostgreSQL runs it once (an InitPlan) and still reads only the
    first rows in index order. (COUNT(*) OVER () would have read and annotated every row of
    the list before the LIMIT.) Every list is one tenant's, so grouped by tenant it is one
    row."""
    n = n or DASHBOARD_ROWS
    counted = rows.order_by().values("tenant").annotate(n=Count("pk")).values("n")
    shown = list(rows.annotate(in_all=Coalesce(Subquery(counted), 0))[:n])
    return _First(shown, shown[0].in_all if shown else 0)


@tenant_page()
def dashboard(request, tenant):
    now = clock.now()
    mine = Decision.objects.filter(request=OuterRef("pk"), level=DecisionLevel.CUSTOMER,
                                   actor=request.user)
    # Counted per row shown, not by grouping the join: a GROUP BY made PostgreSQL read and
    # group every waiting request before it could keep the first 20.
    approvals = (Decision.objects.filter(selectors.standing_approvals(now), request=OuterRef("pk"))
                 .order_by().values("request").annotate(n=Count("pk")).values("n"))
    waiting = selectors.awaiting_customer(tenant, now).annotate(
        approvals=Coalesce(Subquery(approvals), 0), decided_by_me=Exists(mine))
    awaiting = attestations.awaiting(tenant=tenant, now=now)
    return render(request, "customer/dashboard.html", {
        "tenant": tenant,
        "waiting": _first(waiting),
        "active": _first(selectors.active_grants(tenant, now)),
        "with_provider": _first(selectors.awaiting_provider(tenant, now)),
        "attestations": {"to_answer": _first(awaiting["to_answer"]),
                         "disputed": _first(awaiting["disputed"])},
        "can_decide": APPROVER in request.tenant_roles,
        "can_revoke": bool({APPROVER, ADMIN} & request.tenant_roles),
        "now": now,
    })
