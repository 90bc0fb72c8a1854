"""A provider person's own API tokens: for the data plane or support tooling."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from approvals import roles, tokens
from approvals.api.models import ApiToken
from approvals.forms import TokenForm
from approvals.views.shared.guards import provider_page
from approvals.views.shared.tokens import create_token
from lockbox_portal.security import stepup


def _purposes(user):
    choices = []
    if roles.is_internal_approver(user):
        choices.append(("data_plane", "Ask access checks and report engineers' actions "
                                      "(for the data plane)"))
    choices.append(("support", "Read requests, and make or cancel my own (support tooling)"))
    return choices


@provider_page()
def token_list(request):
    confirmation = stepup.Confirmation(request, "internal:token-new", TokenForm,
                                       purposes=_purposes(request.user))
    if confirmation.passed():
        made = create_token(request, confirmation)
        if made:
            return render(request, "tokens/created.html", {
                "token": made[0], "raw": made[1], "base": "internal/base.html"})
    return confirmation.render("internal/tokens.html", {
        "form": confirmation.form,
        "tokens": ApiToken.objects.filter(owner=request.user, tenant=None),
    })


@require_POST
@provider_page()
def revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, owner=request.user, tenant=None)
    tokens.revoke_token(token=token, actor=request.user)
    messages.success(request, f"The token “{token.name}” no longer works.")
    return redirect("internal:tokens")
