"""The compliance dashboard for a tenant's compliance readers and admins."""

from django.shortcuts import render

from approvals.models import TenantRole
from approvals.views.shared.compliance import csv_download, dashboard_context
from approvals.views.shared.guards import tenant_page
from lockbox_portal import clock
from lockbox_portal.db.replica import lag_tolerant


@tenant_page(TenantRole.COMPLIANCE_READER, TenantRole.ADMIN)
@lag_tolerant
def dashboard(request, tenant):
    return render(request, "compliance/dashboard.html",
                  {"tenant": tenant, "base": "base.html",
                   **dashboard_context(clock.now(), tenant)})


@tenant_page(TenantRole.COMPLIANCE_READER, TenantRole.ADMIN)
@lag_tolerant
def download(request, tenant, name):
    return csv_download(name, clock.now(), tenant)
