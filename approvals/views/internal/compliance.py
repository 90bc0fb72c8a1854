"""The compliance dashboard for provider auditors: every tenant, or the one they choose."""

from django.http import Http404
from django.shortcuts import render

from approvals.models import ProviderRole, Tenant
from approvals.views.shared.compliance import csv_download, dashboard_context
from approvals.views.shared.guards import provider_page
from lockbox_portal import clock
from lockbox_portal.db.replica import lag_tolerant


def _chosen_tenant(request):
    slug = request.GET.get("tenant")
    if not slug:
        return None
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise Http404("No such tenant.")
    return tenant


@provider_page(ProviderRole.AUDITOR)
@lag_tolerant
def dashboard(request):
    tenant = _chosen_tenant(request)
    return render(request, "compliance/dashboard.html", {
        "tenant": tenant, "base": "internal/base.html", "tenants": Tenant.objects.all(),
        "internal": True, **dashboard_context(clock.now(), tenant)})


@provider_page(ProviderRole.AUDITOR)
@lag_tolerant
def download(request, name):
    return csv_download(name, clock.now(), _chosen_tenant(request))
