"""Signed receipts of customer decisions, verifiable offline with tools/lockbox_verify.py."""

from approvals.models import Decision, DecisionLevel, Verdict
from audit.encoding import format_time
from audit.models import AuditEvent
from audit.signing import sign

RECEIPT_TYPE = "lockbox.decision_receipt"
DECISION_ACTIONS = ("request.customer_approved", "request.approved", "request.customer_rejected")


def receipt_body(decision):
    """The facts of one decision. Built from the records, so every download is identical."""
    req = decision.request
    event = (AuditEvent.objects.filter(chain=req.tenant.audit_chain, request_id=req.pk,
                                       actor_id=decision.actor_id,
                                       action__in=DECISION_ACTIONS)
             .order_by("seq").first())
    granted = (event is not None and event.action == "request.approved"
               and req.access_starts_at is not None)
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
        "grant": ({"starts_at": format_time(req.access_starts_at),
                   "ends_at": format_time(req.access_ends_at)} if granted else None),
        "audit": ({"chain": event.chain, "seq": event.seq, "hash": event.hash}
                  if event else None),
    }


def signed_receipt(decision):
    body = receipt_body(decision)
    return {**body, "signature": sign(body)}


def customer_decisions(req):
    return (Decision.objects.filter(request=req, level=DecisionLevel.CUSTOMER)
            .select_related("actor", "request__tenant").order_by("decided_at", "id"))
