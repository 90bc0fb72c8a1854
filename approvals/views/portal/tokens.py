"""A tenant's API tokens: made by an admin, shown once, revocable, audited."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from approvals import tokens
from approvals.api.models import ApiToken
from approvals.forms import ConfirmForm, TokenForm
from approvals.models import TenantRole
from approvals.views.shared.guards import tenant_page
from approvals.views.shared.tokens import create_token
from lockbox_portal.security import stepup

TENANT_PURPOSES = [("tenant_read", "Read requests, settings and the audit log"),
                   ("tenant_decide", "Read, and approve, dismiss or revoke as me (I am an "
                                     "approver); change settings as me")]


@tenant_page(TenantRole.ADMIN)
def token_list(request, tenant):
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:token-new", TokenForm,
                                       purposes=TENANT_PURPOSES)
    if confirmation.passed():
        made = create_token(request, confirmation, tenant)
        if made:
            return render(request, "tokens/created.html", {
                "tenant": tenant, "token": made[0], "raw": made[1], "base": "base.html"})
    return confirmation.render("customer/settings/tokens.html", {
        "tenant": tenant, "form": confirmation.form,
        "tokens": ApiToken.objects.filter(tenant=tenant).select_related("owner"),
    })


@require_POST
@tenant_page(TenantRole.ADMIN)
def revoke(request, tenant, pk):
    token = get_object_or_404(ApiToken, pk=pk, tenant=tenant)
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:token:{token.pk}",
                                       ConfirmForm)
    if confirmation.passed():
        tokens.revoke_token(token=token, actor=request.user)
        messages.success(request, f"The token “{token.name}” no longer works.")
    else:
        messages.error(request, confirmation.refused())
    return redirect("portal:tokens", tenant.slug)
