"""The provider auditor's view of every audit chain: search, export, and how the chains fared
at their last verification."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Min, Q
from django.shortcuts import get_object_or_404, redirect, render

from approvals import tenants
from approvals.forms import AuditSearchForm, LegalHoldForm
from approvals.models import ProviderRole, Tenant
from approvals.views.shared import archives, audit_log
from approvals.views.shared.guards import provider_page
from audit import selectors
from audit.models import AuditEvent, ChainHead, ChainVerification
from lockbox_portal.db.replica import lag_tolerant
from lockbox_portal.security import stepup

BROKEN_SHOWN = 50


def _search(request, *, paged=False):
    form = AuditSearchForm(request.GET or None, every_chain=True,
                           actions=selectors.actions_in_chain(None))
    if form.is_bound and not form.is_valid() and "chain" in form.errors:
        # Never "every chain" for a chain misspelt.
        nothing = AuditEvent.objects.none()
        return form, selectors.Paged(nothing) if paged else nothing
    chain = form.cleaned_data.get("chain") if form.is_valid() else ""
    return form, selectors.search_events(chain or None, paged=paged, **form.filters())


def _verification_summary():
    """How the chains fared at their last full check: counts, and the broken ones by name
    (there should be none; a list of a thousand that verify helps nobody)."""
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
@lag_tolerant
def search(request):
    form, found = _search(request, paged=True)
    return render(request, "internal/audit.html", {
        "form": form, **audit_log.results_page(request, found),
        # Stored results of the last verification (verify_audit, or the daily beat entry):
        # checking a thousand chains live would make this page as slow as the biggest one.
        **_verification_summary(),
    })


@provider_page(ProviderRole.AUDITOR)
@lag_tolerant
def download(request, fmt):
    return audit_log.download(fmt, lambda: _search(request)[1], "lockbox-audit-all-chains")


@provider_page(ProviderRole.AUDITOR)
def archive_tenants(request):
    """Which tenant's archives to look at: each tenant with its retention and legal hold."""
    listed = Paginator(Tenant.objects.order_by("name", "pk"), archives.PAGE_SIZE)
    return render(request, "internal/archive_tenants.html",
                  {"tenants": listed.get_page(request.GET.get("page"))})


@provider_page(ProviderRole.AUDITOR)
def archive_list(request, slug):
    """A tenant's archives, and the legal hold an auditor may place or lift (with step-up)."""
    tenant = get_object_or_404(Tenant, slug=slug)
    confirmation = stepup.Confirmation(request, f"internal:hold:{tenant.slug}", LegalHoldForm,
                                       initial={"legal_hold": tenant.provider_legal_hold})
    if confirmation.passed():
        on = confirmation.form.cleaned_data["legal_hold"]
        tenants.set_provider_legal_hold(tenant=tenant, actor=request.user, on=on)
        messages.success(request, f"The provider's legal hold is {'on' if on else 'off'} for "
                                  f"{tenant.name}.")
        return redirect("internal:audit_archives", tenant.slug)
    return confirmation.render("internal/archives.html", {
        "tenant": tenant, "form": confirmation.form,
        **archives.archives_page(request, tenant.audit_chain)})


@provider_page(ProviderRole.AUDITOR)
def archive_download(request, slug, first_seq, kind):
    tenant = get_object_or_404(Tenant, slug=slug)
    return archives.download(tenant.audit_chain, first_seq, kind,
                             f"lockbox-archive-{tenant.slug}")
