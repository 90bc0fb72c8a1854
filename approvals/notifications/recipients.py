"""Who is told about what: the e-mails and webhooks one request event queues.

approvals.transitions calls `request_event` inside the transaction that made the change, so the
rows commit or roll back with it (see approvals.notifications.outbox).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model

from approvals.actions import ACCESS_ENDINGS, Action
from approvals.models import ProviderRole, State, TenantRole
from approvals.notifications import outbox
from approvals.notifications.models import Channel, OutboxMessage, WebhookEndpoint
from approvals.notifications.webhooks.signing import event_payload

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from approvals.models import AccessRequest
    from audit.models import AuditEvent

# Which site an e-mail links to: the customer's portal or the provider's internal site.
CUSTOMER, PROVIDER = "customer", "provider"

# (user, or None for a tenant's extra notification address; address; audience)
Recipient = tuple["User | None", str, str]


def request_event(req: AccessRequest, event: AuditEvent) -> None:
    """Queue the e-mails and webhooks for one request event (an audit event)."""
    action = event.action
    people: list[tuple[str, User | None, str, str]] = []  # (kind, user, address, audience)
    requester: list[Recipient] = [(req.requester, req.requester.email, PROVIDER)]
    if action == Action.REQUEST_SUBMITTED:
        people += [("awaiting_internal", u, u.email, PROVIDER) for u in managers(req)]
    elif action == Action.REQUEST_INTERNAL_APPROVED:
        people += [("awaiting_customer", *r) for r in customer_audience(req)]
    elif action == Action.REQUEST_APPROVED:
        people += [("access_started", *r) for r in requester]
        people += [("decided", *r) for r in customer_audience(req)]
    elif action == Action.REQUEST_INTERNAL_REJECTED:
        people += [("decided", *r) for r in requester]
    elif action == Action.REQUEST_CUSTOMER_REJECTED:
        people += [("decided", *r) for r in requester + customer_audience(req)]
    elif action == Action.REQUEST_EXPIRED:
        audience = customer_audience(req) if event.data.get("stage") == State.PENDING_CUSTOMER \
            else []
        people += [("expired", *r) for r in requester + audience]
    elif action == Action.REQUEST_REVOKED:
        people += [("revoked", *r) for r in requester + customer_audience(req)]
    elif action in ACCESS_ENDINGS:
        people += [("access_ended", *r) for r in requester + customer_audience(req)]
    payload = {"action": action, "actor": event.actor_email,
               "comment": event.data.get("comment", ""), "event_seq": event.seq}
    rows = [
        outbox.email_row(key=f"{req.pk}:{action}:email:{address}", kind=kind, user=user,
                         address=address, tenant=req.tenant, req=req,
                         payload={**payload, "audience": audience}, now=event.occurred_at)
        for kind, user, address, audience in people
    ]
    rows += _webhook_rows(req, event)
    outbox.enqueue(rows)


def managers(req: AccessRequest) -> list[User]:
    """The provider's internal approvers, except the requester."""
    return list(get_user_model().objects.filter(
        provider_memberships__role=ProviderRole.INTERNAL_APPROVER, is_active=True,
    ).exclude(pk=req.requester_id).distinct().order_by("email"))


def customer_approvers(req: AccessRequest) -> list[User]:
    """The tenant's approvers, except the requester."""
    return list(get_user_model().objects.filter(
        tenant_memberships__tenant=req.tenant, tenant_memberships__role=TenantRole.APPROVER,
        is_active=True,
    ).exclude(pk=req.requester_id).distinct().order_by("email"))


def customer_audience(req: AccessRequest) -> list[Recipient]:
    """The tenant's approvers, then its extra notification addresses (without repeats)."""
    approvers = customer_approvers(req)
    known = {u.email.lower() for u in approvers}
    return ([(u, u.email, CUSTOMER) for u in approvers]
            + [(None, a, CUSTOMER) for a in req.tenant.notification_emails if a not in known])


def _webhook_rows(req: AccessRequest, event: AuditEvent) -> list[OutboxMessage]:
    """One delivery for each of the tenant's active webhooks that subscribes to the event."""
    rows = []
    for endpoint in WebhookEndpoint.objects.filter(tenant=req.tenant, is_active=True):
        if event.action in endpoint.event_types or "*" in endpoint.event_types:
            key = outbox.short_key(f"{req.pk}:{event.action}:webhook:{endpoint.pk}")
            rows.append(OutboxMessage(
                key=key, channel=Channel.WEBHOOK, kind=event.action, recipient=endpoint.url,
                tenant=req.tenant, request=req, endpoint=endpoint, created_at=event.occurred_at,
                next_attempt_at=event.occurred_at,
                payload=event_payload(delivery_id=key, event=event, req=req)))
    return rows
