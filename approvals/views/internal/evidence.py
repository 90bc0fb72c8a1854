"""The provider auditor's evidence: every chain's signing keys and checkpoints, and signing a
checkpoint now."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from approvals.models import ProviderRole
from approvals.views.shared.downloads import json_download
from approvals.views.shared.guards import provider_page
from audit.checkpoints import as_document, checkpoint_chains
from audit.models import Checkpoint
from audit.signing import published_keys


@provider_page(ProviderRole.AUDITOR)
def keys(request):
    return json_download({"keys": published_keys()}, "lockbox-keys.json")


@provider_page(ProviderRole.AUDITOR)
def checkpoints(request):
    chain = request.GET.get("chain")
    rows = Checkpoint.objects.order_by("chain", "seq")
    if chain:
        rows = rows.filter(chain=chain)
    return json_download({"chain": chain, "checkpoints": [as_document(c) for c in rows]},
                         "lockbox-checkpoints.json")


@require_POST
@provider_page(ProviderRole.AUDITOR)
def checkpoint_now(request):
    made = checkpoint_chains()
    messages.success(request, f"Signed {len(made)} checkpoint(s)." if made else
                     "Every chain already has a checkpoint of its newest event.")
    return redirect("internal:audit")
