"""A tenant's evidence: signed receipts, the signing keys and checkpoints, and its answer to a
close-out summary."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from approvals import attestations, receipts, selectors
from approvals.errors import TransitionError
from approvals.models import TenantRole
from approvals.views.shared.downloads import json_download
from approvals.views.shared.guards import tenant_page
from approvals.views.shared.refusals import refusal_message
from audit.checkpoints import as_document
from audit.models import Checkpoint
from audit.signing import published_keys


@tenant_page()
def receipt(request, tenant, pk, decision_id):
    req = selectors.get_request_for_user(request.user, tenant, pk)
    decision = receipts.customer_decisions(req).filter(pk=decision_id).first()
    if decision is None:
        raise Http404("No such decision.")
    return json_download(receipts.signed_receipt(decision),
                         f"lockbox-receipt-{req.reference}-{decision.pk}.json")


@tenant_page()
def keys(request, tenant):
    return json_download({"keys": published_keys()}, "lockbox-keys.json")


@tenant_page()
def checkpoints(request, tenant):
    rows = Checkpoint.objects.filter(chain=tenant.audit_chain).order_by("seq")
    return json_download({"chain": tenant.audit_chain,
                          "checkpoints": [as_document(c) for c in rows]},
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
                       else refusal_message(refused))
    else:
        messages.success(request, "You acknowledged the summary." if acknowledge else
                         "You disputed the summary; the provider's auditors were told.")
    return redirect("portal:request", tenant.slug, req.pk)
