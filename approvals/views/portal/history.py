"""A tenant's history: every request, newest first, filtered by state and dates."""

from django.core.paginator import Paginator
from django.shortcuts import render

from approvals import policy, selectors
from approvals.forms import HistoryFilterForm
from approvals.views.shared.guards import tenant_page
from lockbox_portal import clock
from lockbox_portal.db.replica import lag_tolerant

PAGE_SIZE = 25


@tenant_page()
@lag_tolerant
def history(request, tenant):
    now = clock.now()
    form = HistoryFilterForm(request.GET or None)
    since, until = form.bounds()
    rows = selectors.tenant_history(tenant, now=now, since=since, until=until,
                                    state=form.cleaned_data.get("state") if form.is_valid()
                                    else None)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "customer/history.html", {
        "tenant": tenant, "form": form, "page": page, "query": query.urlencode(), "now": now,
        "rows": [(r, policy.effective_state(r, now)) for r in page],
    })
