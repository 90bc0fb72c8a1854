"""Reminders to the people who can still decide a request, once its window is 75% gone."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from approvals.models import AccessRequest, State
from approvals.notifications import outbox
from approvals.notifications.recipients import CUSTOMER, PROVIDER
from approvals.notifications.selectors import who_is_asked
from approvals.selectors import awaiting_decision


def reminders_due(now: datetime) -> int:
    """Queue a reminder for each pending request past 75% of its window, to the people who can
    still decide it; the key makes each reminder happen once per stage and person. Returns how
    many reminders were considered (queued now or before)."""
    pending = AccessRequest.objects.select_related("tenant", "requester").filter(
        awaiting_decision(now))
    rows = []
    for req in pending:
        start: datetime | None
        end: datetime | None
        if req.state == State.PENDING_INTERNAL:
            start, end, audience = req.created_at, req.internal_expires_at, PROVIDER
        else:
            start, end, audience = req.internal_decided_at, req.customer_expires_at, CUSTOMER
        if start is None or end is None:
            continue  # never: the customer's window opens with the provider's decision
        if now < start + (end - start) * 0.75:
            continue
        for person, _, _ in who_is_asked(req, now):
            rows.append(outbox.email_row(
                key=f"{req.pk}:reminder:{req.state}:email:{person.email}", kind="reminder",
                user=person, address=person.email, tenant=req.tenant, req=req, now=now,
                payload={"audience": audience, "expires_at": end.isoformat()}))
    with transaction.atomic():
        outbox.enqueue(rows)
    return len(rows)
