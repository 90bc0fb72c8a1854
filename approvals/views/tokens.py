"""API tokens in both sites: made by a person, shown once, revocable, audited."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from approvals import roles, tokens
from approvals.api.models import ApiToken
from approvals.errors import NotPermitted
from approvals.forms import ConfirmForm, TokenForm
from approvals.models import TenantRole
from approvals.views.access import provider_page, tenant_page
from approvals.views.tenant_settings import _apply, _form, _guarded

TENANT_PURPOSES = [("tenant_read", "Read requests, settings and the audit log"),
                   ("tenant_decide", "Read, and approve, dismiss or revoke as me (I am an "
                                     "approver); change settings as me")]


def _create(request, form, tenant=None):
    made = []

    def run():
        try:
            made.append(tokens.create_token(
                owner=request.user, tenant=tenant, name=form.cleaned_data["name"],
                purpose=form.cleaned_data["purpose"], days=form.cleaned_data["days"]))
        except NotPermitted as refused:
            raise ValidationError({"purpose": refused.message}) from None

    return made[0] if _apply(form, run) else None


@tenant_page(TenantRole.ADMIN)
def tenant_tokens(request, tenant):
    form = _form(request, TokenForm, f"settings:{tenant.slug}:token-new",
                 purposes=TENANT_PURPOSES)
    if _guarded(request, form):
        made = _create(request, form, tenant)
        if made:
            return render(request, "tokens/created.html", {
                "tenant": tenant, "token": made[0], "raw": made[1], "base": "base.html"})
    return render(request, "customer/settings/tokens.html", {
        "tenant": tenant, "form": form,
        "tokens": ApiToken.objects.filter(tenant=tenant).select_related("owner"),
    }, status=400 if form.errors else 200)


@require_POST
@tenant_page(TenantRole.ADMIN)
def tenant_token_revoke(request, tenant, pk):
    token = get_object_or_404(ApiToken, pk=pk, tenant=tenant)
    form = _form(request, ConfirmForm, f"settings:{tenant.slug}:token:{token.pk}")
    if _guarded(request, form):
        tokens.revoke_token(token=token, actor=request.user)
        messages.success(request, f"The token “{token.name}” no longer works.")
    else:
        messages.error(request, form.errors.get("code", ["Confirm with your second factor."])[0])
    return redirect("portal:tokens", tenant.slug)


def _provider_purposes(user):
    choices = []
    if roles.is_internal_approver(user):
        choices.append(("data_plane", "Ask access checks and report engineers' actions "
                                      "(for the data plane)"))
    choices.append(("support", "Read requests, and make or cancel my own (support tooling)"))
    return choices


@provider_page()
def provider_tokens(request):
    form = _form(request, TokenForm, "internal:token-new",
                 purposes=_provider_purposes(request.user))
    if _guarded(request, form):
        made = _create(request, form)
        if made:
            return render(request, "tokens/created.html", {
                "token": made[0], "raw": made[1], "base": "internal/base.html"})
    return render(request, "internal/tokens.html", {
        "form": form, "tokens": ApiToken.objects.filter(owner=request.user, tenant=None),
    }, status=400 if form.errors else 200)


@require_POST
@provider_page()
def provider_token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, owner=request.user, tenant=None)
    tokens.revoke_token(token=token, actor=request.user)
    messages.success(request, f"The token “{token.name}” no longer works.")
    return redirect("internal:tokens")
