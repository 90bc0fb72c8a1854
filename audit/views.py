"""The tenant's audit log in the portal: search, export, and whether the chain verifies."""

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render

from approvals.models import ProviderRole
from approvals.views.access import provider_page, tenant_page
from audit import export, selectors
from audit.forms import AuditSearchForm
from audit.models import AuditEvent, ChainHead, ChainVerification
from audit.status import current_status
from lockbox_portal import clock

FORMATS = {
    "csv": (export.csv_lines, "text/csv; charset=utf-8"),
    "jsonl": (export.jsonl_lines, "application/x-ndjson; charset=utf-8"),
}


def _search(request, tenant, *, paged=False):
    form = AuditSearchForm(request.GET or None,
                           actions=selectors.actions_in_chain(tenant.audit_chain))
    return form, selectors.search_events(tenant.audit_chain, paged=paged, **form.filters())


def _cursor(request, name):
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


@tenant_page()
def search(request, tenant):
    form, found = _search(request, tenant, paged=True)
    events, older, newer = selectors.keyset_page(
        found, before=_cursor(request, "before"), after=_cursor(request, "after"))
    query = request.GET.copy()
    for key in ("before", "after"):
        query.pop(key, None)
    return render(request, "customer/audit.html", {
        "tenant": tenant, "form": form, "events": events, "older": older, "newer": newer,
        "query": query.urlencode(),
        "verification": current_status(tenant.audit_chain, must_exist=True),
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

def _search_all(request, *, paged=False):
    form = AuditSearchForm(request.GET or None, every_chain=True,
                           actions=selectors.actions_in_chain(None))
    if form.is_bound and not form.is_valid() and "chain" in form.errors:
        # Never "every chain" for a chain misspelt.
        nothing = AuditEvent.objects.none()
        return form, selectors.Paged(nothing) if paged else nothing
    chain = form.cleaned_data.get("chain") if form.is_valid() else ""
    return form, selectors.search_events(chain or None, paged=paged, **form.filters())


BROKEN_SHOWN = 50


def _verification_summary():
    """How the chains fared at their last full check: counts, and the broken ones by name
    (there should be none; a list of a thousand that verify helps nobody)."""
    from django.db.models import Count, Min, Q

    totals = ChainVerification.objects.aggregate(
        verifying=Count("chain", filter=Q(ok=True)),
        failing=Count("chain", filter=Q(ok=False)), oldest=Min("full_verified_at"))
    return {
        "verified_ok": totals["verifying"], "broken_count": totals["failing"],
        "oldest_check": totals["oldest"],
        "broken": ChainVerification.objects.filter(ok=False).order_by("chain")[:BROKEN_SHOWN],
        "unverified": max(ChainHead.objects.count() - totals["verifying"] - totals["failing"],
                          0),
    }


@provider_page(ProviderRole.AUDITOR)
def provider_search(request):
    form, found = _search_all(request, paged=True)
    events, older, newer = selectors.keyset_page(
        found, before=_cursor(request, "before"), after=_cursor(request, "after"))
    query = request.GET.copy()
    for key in ("before", "after"):
        query.pop(key, None)
    return render(request, "internal/audit.html", {
        "form": form, "events": events, "older": older, "newer": newer,
        "query": query.urlencode(),
        # Stored results of the last verification (verify_audit, or the daily beat entry):
        # checking a thousand chains live would make this page as slow as the biggest one.
        **_verification_summary(),
    })


@provider_page(ProviderRole.AUDITOR)
def provider_download(request, fmt):
    if fmt not in FORMATS:
        raise Http404
    lines, content_type = FORMATS[fmt]
    _, rows = _search_all(request)
    response = StreamingHttpResponse(lines(rows), content_type=content_type)
    name = f"lockbox-audit-all-chains-{clock.now().date().isoformat()}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
