"""Tenant admins' e-mail domains: claim one (step-up), see the DNS record to publish, check it,
remove it (a confirmation page and a step-up). approvals.domains writes every change."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from approvals import domains
from approvals.forms import ConfirmForm, DomainForm
from approvals.models import DomainClaim, TenantRole
from approvals.views.shared.guards import tenant_page
from lockbox_portal.security import stepup

ADMIN = TenantRole.ADMIN


@tenant_page(ADMIN)
def domain_list(request, tenant):
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:domain-new", DomainForm)
    form = confirmation.form
    claimed = []
    if confirmation.passed() and confirmation.apply(lambda: claimed.append(
            domains.claim_domain(tenant=tenant, actor=request.user,
                                 domain=form.cleaned_data["domain"]))):
        messages.success(request, f"{claimed[0].domain} added. Publish its DNS record below, "
                                  "then check it.")
        return redirect("portal:domains", tenant.slug)
    claims = DomainClaim.objects.filter(tenant=tenant).order_by("domain")
    return confirmation.render("customer/settings/domains.html", {
        "tenant": tenant, "form": form,
        "claims": [(claim, domains.record_name(claim), domains.record_value(claim))
                   for claim in claims],
        "lapse_days": domains.LAPSE_AFTER.days, "max_domains": domains.MAX_DOMAINS,
    })


def _claim(tenant, pk):
    return get_object_or_404(DomainClaim.objects.select_related("tenant"), pk=pk, tenant=tenant)


@require_POST
@tenant_page(ADMIN)
def domain_check(request, tenant, pk):
    """Asks DNS now. No step-up: the proof is the record, which the person cannot fake here."""
    outcome, said = domains.check_domain(claim=_claim(tenant, pk), actor=request.user)
    good = {domains.Outcome.VERIFIED, domains.Outcome.STILL_VERIFIED}
    (messages.success if outcome in good else messages.error)(request, said)
    return redirect("portal:domains", tenant.slug)


@tenant_page(ADMIN)
def domain_remove(request, tenant, pk):
    claim = _claim(tenant, pk)
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:domain:{claim.pk}",
                                       ConfirmForm)
    if confirmation.passed() and confirmation.apply(lambda: domains.remove_domain(
            claim=claim, actor=request.user)):
        messages.success(request, f"{claim.domain} was removed from {tenant.name}.")
        return redirect("portal:domains", tenant.slug)
    return confirmation.render("customer/settings/remove_domain.html",
                               {"tenant": tenant, "form": confirmation.form, "claim": claim})
