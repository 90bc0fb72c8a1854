"""What a webhook delivery carries, and its signature.

Every delivery carries `Lockbox-Signature: t=<unix time>,v1=<hex>`, where the hex is
HMAC-SHA256 with the endpoint's secret over "<t>." followed by the exact request body. Receivers
recompute it, compare in constant time, and refuse timestamps older than a few minutes.
`Lockbox-Delivery` is the same on every retry of one delivery, so receivers can drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from audit.encoding import format_time

if TYPE_CHECKING:
    from approvals.models import AccessRequest
    from audit.models import AuditEvent


def event_payload(*, delivery_id: str, event: AuditEvent, req: AccessRequest) -> dict[str, Any]:
    """The JSON body of one request event's delivery; stored on the outbox row as it is sent."""
    return {
        "id": delivery_id,
        "type": event.action,
        "created_at": format_time(event.occurred_at),
        "tenant": req.tenant.slug,
        "audit": {"chain": event.chain, "seq": event.seq, "hash": event.hash},
        "actor": event.actor_email or None,
        "request": {
            "id": str(req.pk),
            "reference": req.reference,
            "state": req.state,
            "case_reference": req.case_reference,
            "requester": req.requester.email,
            "reason_type": req.reason_type,
            "scope": req.scope,
            "access_level": req.access_level,
            "requested_seconds": int(req.requested_duration.total_seconds()),
            "access_starts_at": (format_time(req.access_starts_at) if req.access_starts_at
                                 else None),
            "access_ends_at": format_time(req.access_ends_at) if req.access_ends_at else None,
        },
    }


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"
