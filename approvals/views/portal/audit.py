"""A tenant's audit log in the portal: search, export, and whether the chain verifies."""

from django.shortcuts import render

from approvals.forms import AuditSearchForm
from approvals.models import TenantRole
from approvals.views.shared import archives, audit_log
from approvals.views.shared.guards import tenant_page
from audit import selectors
from audit.status import current_status
from lockbox_portal.db.replica import lag_tolerant

# Who may list and download a tenant's archives (the people who read and export its log).
ARCHIVE_ROLES = {TenantRole.ADMIN, TenantRole.COMPLIANCE_READER}


def _search(request, tenant, *, paged=False):
    form = AuditSearchForm(request.GET or None,
                           actions=selectors.actions_in_chain(tenant.audit_chain))
    return form, selectors.search_events(tenant.audit_chain, paged=paged, **form.filters())


@tenant_page()
@lag_tolerant
def search(request, tenant):
    form, found = _search(request, tenant, paged=True)
    return render(request, "customer/audit.html", {
        "tenant": tenant, "form": form, **audit_log.results_page(request, found),
        "verification": current_status(tenant.audit_chain, must_exist=True),
        "can_see_archives": bool(request.tenant_roles & ARCHIVE_ROLES),
        "archived_through": selectors.archived_through(tenant.audit_chain),
    })


@tenant_page()
@lag_tolerant
def download(request, tenant, fmt):
    return audit_log.download(fmt, lambda: _search(request, tenant)[1],
                              f"lockbox-audit-{tenant.slug}")


@tenant_page(*ARCHIVE_ROLES)
def archive_list(request, tenant):
    return render(request, "customer/archives.html", {
        "tenant": tenant, **archives.archives_page(request, tenant.audit_chain)})


@tenant_page(*ARCHIVE_ROLES)
def archive_download(request, tenant, first_seq, kind):
    return archives.download(tenant.audit_chain, first_seq, kind,
                             f"lockbox-archive-{tenant.slug}")
