"""Evidence pages of both sites: receipts, keys and checkpoints, close-out attestations."""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from approvals import attestations, receipts, selectors
from approvals.errors import TransitionError
from approvals.models import Attestation, ProviderRole, TenantRole
from approvals.views.access import provider_page, tenant_page
from audit.checkpoints import as_document, checkpoint_chains
from audit.models import Checkpoint
from audit.signing import published_keys


def _json_download(body, filename):
    response = HttpResponse(json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                            content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _problem(refused):
    return getattr(refused, "message", None) or refused.messages[0]


# --- Portal -------------------------------------------------------------------------------------

@tenant_page()
def receipt(request, tenant, pk, decision_id):
    req = selectors.get_request_for_user(request.user, tenant, pk)
    decision = receipts.customer_decisions(req).filter(pk=decision_id).first()
    if decision is None:
        raise Http404("No such decision.")
    return _json_download(receipts.signed_receipt(decision),
                          f"lockbox-receipt-{req.reference}-{decision.pk}.json")


@tenant_page()
def tenant_keys(request, tenant):
    return _json_download({"keys": published_keys()}, "lockbox-keys.json")


@tenant_page()
def tenant_checkpoints(request, tenant):
    checkpoints = Checkpoint.objects.filter(chain=tenant.audit_chain).order_by("seq")
    return _json_download({"chain": tenant.audit_chain,
                           "checkpoints": [as_document(c) for c in checkpoints]},
                          f"lockbox-checkpoints-{tenant.slug}.json")


@require_POST
@tenant_page(TenantRole.APPROVER, TenantRole.ADMIN)
def answer_attestation(request, tenant, pk):
    req = selectors.get_request_for_user(request.user, tenant, pk)
    attestation = getattr(req, "attestation", None)
    if attestation is None:
        raise Http404("No summary was filed for this request.")
    acknowledge = request.POST.get("answer") == "acknowledge"
    try:
        attestations.answer(attestation=attestation, actor=request.user, acknowledge=acknowledge,
                            comment=request.POST.get("comment", ""))
    except (ValidationError, TransitionError) as refused:
        messages.error(request, "Say what you dispute." if isinstance(refused, ValidationError)
                       else _problem(refused))
    else:
        messages.success(request, "You acknowledged the summary." if acknowledge else
                         "You disputed the summary; the provider's auditors were told.")
    return redirect("portal:request", tenant.slug, req.pk)


# --- Internal site ------------------------------------------------------------------------------

@require_POST
@provider_page(ProviderRole.ENGINEER)
def file_attestation(request, pk):
    req = selectors.get_request_for_provider(request.user, pk)
    try:
        attestations.file(request=req, actor=request.user, summary=request.POST.get("summary"))
    except (ValidationError, TransitionError) as refused:
        messages.error(request, _problem(refused))
    else:
        messages.success(request, "Summary filed; the customer is asked to acknowledge it.")
    return redirect("internal:request", req.pk)


@require_POST
@provider_page(ProviderRole.AUDITOR)
def resolve_attestation(request, pk):
    req = selectors.get_request_for_provider(request.user, pk)
    attestation = get_object_or_404(Attestation, request=req)
    try:
        attestations.resolve(attestation=attestation, actor=request.user,
                             resolution=request.POST.get("resolution"))
    except (ValidationError, TransitionError) as refused:
        messages.error(request, _problem(refused))
    else:
        messages.success(request, "The dispute is resolved.")
    return redirect("internal:request", req.pk)


@provider_page()
def attestation_list(request):
    engineer_only = not request.provider_roles & {ProviderRole.AUDITOR,
                                                  ProviderRole.INTERNAL_APPROVER}
    lists = attestations.awaiting(engineer=request.user if engineer_only else None)
    return render(request, "internal/attestations.html", {"lists": lists,
                                                          "engineer_only": engineer_only})


@provider_page(ProviderRole.AUDITOR)
def all_keys(request):
    return _json_download({"keys": published_keys()}, "lockbox-keys.json")


@provider_page(ProviderRole.AUDITOR)
def all_checkpoints(request):
    chain = request.GET.get("chain")
    rows = Checkpoint.objects.order_by("chain", "seq")
    if chain:
        rows = rows.filter(chain=chain)
    return _json_download({"chain": chain, "checkpoints": [as_document(c) for c in rows]},
                          "lockbox-checkpoints.json")


@require_POST
@provider_page(ProviderRole.AUDITOR)
def checkpoint_now(request):
    made = checkpoint_chains()
    messages.success(request, f"Signed {len(made)} checkpoint(s)." if made else
                     "Every chain already has a checkpoint of its newest event.")
    return redirect("internal:audit")
