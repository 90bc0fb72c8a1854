"""Signed receipts of customer decisions, verifiable offline with tools/lockbox_verify.py."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from approvals.actions import DECISIONS, Action
from approvals.models import AccessRequest, Decision, DecisionLevel, Verdict
from audit.encoding import format_time
from audit.models import AuditEvent
from audit.signing import sign

RECEIPT_TYPE = "lockbox.decision_receipt"


def receipt_body(decision: Decision) -> dict[str, Any]:
    """The facts of one decision. Built from the records, so every download is identical."""
    req = decision.request
    event = (AuditEvent.objects.filter(chain=req.tenant.audit_chain, request_id=req.pk,
                                       actor_id=decision.actor_id,
                                       action__in=DECISIONS)
             .order_by("seq").first())
    starts, ends = req.access_starts_at, req.access_ends_at
    granted = (event is not None and event.action == Action.REQUEST_APPROVED
               and starts is not None and ends is not None)
    return {
        "v": 1,
        "type": RECEIPT_TYPE,
        "tenant": req.tenant.slug,
        "request_id": str(req.pk),
        "reference": req.reference,
        "case_reference": req.case_reference,
        "decision": "approve" if decision.verdict == Verdict.APPROVE else "reject",
        "comment": decision.comment,
        "person": {"id": decision.actor_id, "email": decision.actor.email},
        "decided_at": format_time(decision.decided_at),
        "grant": ({"starts_at": format_time(starts), "ends_at": format_time(ends)}
                  if granted and starts and ends else None),
        "audit": ({"chain": event.chain, "seq": event.seq, "hash": event.hash}
                  if event else None),
    }


def signed_receipt(decision: Decision) -> dict[str, Any]:
    body = receipt_body(decision)
    return {**body, "signature": sign(body)}


def customer_decisions(req: AccessRequest) -> QuerySet[Decision]:
    return (Decision.objects.filter(request=req, level=DecisionLevel.CUSTOMER)
            .select_related("actor", "request__tenant").order_by("decided_at", "id"))
