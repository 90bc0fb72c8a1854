"""The internal site's front door, and the managers' queue of requests to decide."""

from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from approvals import selectors
from approvals.forms import QueueFilterForm
from approvals.models import ProviderRole
from approvals.views.shared.guards import provider_page
from lockbox_portal import clock

ENGINEER = ProviderRole.ENGINEER
MANAGER = ProviderRole.INTERNAL_APPROVER
AUDITOR = ProviderRole.AUDITOR
PAGE_SIZE = 25


@provider_page()
def home(request):
    """Straight to the page a person's main role needs."""
    for role, name in ((MANAGER, "internal:queue"), (ENGINEER, "internal:my_requests"),
                       (AUDITOR, "internal:audit")):
        if role in request.provider_roles:
            return redirect(name)
    raise AssertionError("provider_page admits only provider staff")


@provider_page(MANAGER)
def queue(request):
    now = clock.now()
    form = QueueFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rows = selectors.internal_queue(now, tenant=filters.get("tenant"),
                                    reason=filters.get("reason"))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "internal/queue.html",
                  {"form": form, "page": page, "now": now, "query": query.urlencode()})
