"""The tenant's audit log in the portal: search, export, and whether the chain verifies."""

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render

from approvals.models import ProviderRole
from approvals.views.access import provider_page, tenant_page
from audit import export, selectors
from audit.chain import all_chains, current_status
from audit.forms import AuditSearchForm
from audit.models import ChainVerification
from lockbox_portal import clock

FORMATS = {
    "csv": (export.csv_lines, "text/csv; charset=utf-8"),
    "jsonl": (export.jsonl_lines, "application/x-ndjson; charset=utf-8"),
}


def _search(request, tenant):
    form = AuditSearchForm(request.GET or None,
                           actions=selectors.actions_in_chain(tenant.audit_chain))
    return form, selectors.search_events(tenant.audit_chain, **form.filters())


def _cursor(request, name):
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


@tenant_page()
def search(request, tenant):
    form, rows = _search(request, tenant)
    events, older, newer = selectors.keyset_page(
        rows, before=_cursor(request, "before"), after=_cursor(request, "after"))
    query = request.GET.copy()
    for key in ("before", "after"):
        query.pop(key, None)
    return render(request, "customer/audit.html", {
        "tenant": tenant, "form": form, "events": events, "older": older, "newer": newer,
        "query": query.urlencode(), "verification": current_status(tenant.audit_chain),
    })


@tenant_page()
def download(request, tenant, fmt):
    if fmt not in FORMATS:
        raise Http404
    lines, content_type = FORMATS[fmt]
    _, rows = _search(request, tenant)
    response = StreamingHttpResponse(lines(rows), content_type=content_type)
    name = f"lockbox-audit-{tenant.slug}-{clock.now().date().isoformat()}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- The provider auditor's view of every chain -------------------------------------------------

def _search_all(request):
    chains = all_chains()
    form = AuditSearchForm(request.GET or None, chains=chains,
                           actions=selectors.actions_in_chain(None))
    chain = form.cleaned_data.get("chain") if form.is_valid() else ""
    return form, selectors.search_events(chain or None, **form.filters()), chains


@provider_page(ProviderRole.AUDITOR)
def provider_search(request):
    form, rows, chains = _search_all(request)
    events, older, newer = selectors.keyset_page(
        rows, before=_cursor(request, "before"), after=_cursor(request, "after"))
    query = request.GET.copy()
    for key in ("before", "after"):
        query.pop(key, None)
    return render(request, "internal/audit.html", {
        "form": form, "events": events, "older": older, "newer": newer,
        "query": query.urlencode(),
        # Stored results of the last verification (verify_audit, or the daily beat entry):
        # checking a thousand chains live would make this page as slow as the biggest one.
        "verifications": ChainVerification.objects.order_by("chain"),
        "unverified": len(chains) - ChainVerification.objects.count(),
    })


@provider_page(ProviderRole.AUDITOR)
def provider_download(request, fmt):
    if fmt not in FORMATS:
        raise Http404
    lines, content_type = FORMATS[fmt]
    _, rows, _ = _search_all(request)
    response = StreamingHttpResponse(lines(rows), content_type=content_type)
    name = f"lockbox-audit-all-chains-{clock.now().date().isoformat()}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
