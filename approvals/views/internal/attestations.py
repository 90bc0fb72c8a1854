"""Close-out summaries on the internal site: engineers file them, auditors resolve disputes."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from approvals import attestations, selectors
from approvals.errors import TransitionError
from approvals.models import Attestation, ProviderRole
from approvals.views.shared.guards import provider_page
from approvals.views.shared.refusals import refusal_message


def _act(request, req, call, done):
    """Run one close-out step; its refusal or success is said on the request page."""
    try:
        call()
    except (ValidationError, TransitionError) as refused:
        messages.error(request, refusal_message(refused))
    else:
        messages.success(request, done)
    return redirect("internal:request", req.pk)


@require_POST
@provider_page(ProviderRole.ENGINEER)
def file_attestation(request, pk):
    req = selectors.get_request_for_provider(request.user, pk)
    return _act(request, req, lambda: attestations.file(
        access_request=req, actor=request.user, summary=request.POST.get("summary")),
        "Summary filed; the customer is asked to acknowledge it.")


@require_POST
@provider_page(ProviderRole.AUDITOR)
def resolve_attestation(request, pk):
    req = selectors.get_request_for_provider(request.user, pk)
    attestation = get_object_or_404(Attestation, request=req)
    return _act(request, req, lambda: attestations.resolve(
        attestation=attestation, actor=request.user, resolution=request.POST.get("resolution")),
        "The dispute is resolved.")


@provider_page()
def attestation_list(request):
    engineer_only = not request.provider_roles & {ProviderRole.AUDITOR,
                                                  ProviderRole.INTERNAL_APPROVER}
    lists = attestations.awaiting(engineer=request.user if engineer_only else None)
    return render(request, "internal/attestations.html", {"lists": lists,
                                                          "engineer_only": engineer_only})
