"""Delivering outbox rows, and retrying the ones that did not get through.

1. `deliver` claims a row with a conditional UPDATE, so two workers never send the same row,
   sends it (e-mail or webhook), and records the attempt.
2. A failure is retried with a growing wait (see the constants below), or given up.
3. `retry_due` (beat, and `manage.py lockbox_deliver`) picks up rows that were never handed
   over, are due for a retry, or were claimed by a worker that died.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TypedDict

from django.conf import settings
from django.db.models import F

from approvals.notifications import emails
from approvals.notifications.errors import DeliveryFailed
from approvals.notifications.models import Channel, DeliveryAttempt, OutboxMessage, Status
from approvals.notifications.webhooks import endpoints, transport
from lockbox_portal import clock, metrics
from lockbox_portal.logs import context as log_context

log = logging.getLogger(__name__)

# Retries: 30 s, 1 min, 2 min … capped at an hour between tries; e-mail gives up after 8 tries,
# webhooks after 24 hours.
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
EMAIL_MAX_ATTEMPTS = 8
WEBHOOK_GIVE_UP_AFTER = timedelta(hours=24)


class RetryResult(TypedDict):
    due: int
    sent: int
    failed: int
    retrying: int


def deliver(message_id: int, *, now: datetime | None = None) -> str | None:
    """Deliver one row if it is due and nobody else holds it. Returns its status afterwards,
    or None when it was not taken."""
    now = now or clock.now()
    # The lease runs from the moment of the claim: retry_due passes every row the time its loop
    # began, and a row claimed late in a long batch must not look abandoned to another worker
    # while this one is still sending it.
    claimed = OutboxMessage.objects.filter(
        pk=message_id, status__in=(Status.QUEUED, Status.RETRYING), next_attempt_at__lte=now,
    ).update(status=Status.SENDING, claimed_at=max(now, clock.now()),
             attempts=F("attempts") + 1)
    if not claimed:
        return None
    message = OutboxMessage.objects.select_related("endpoint", "request", "tenant").get(
        pk=message_id)
    log_context.bind(tenant=message.tenant.slug if message.tenant else None,
                     access_request=message.request.reference if message.request else None)
    started = clock.now()
    try:
        code = _send(message)
    except Exception as exc:  # every failure is recorded on the row
        failure = exc if isinstance(exc, DeliveryFailed) else DeliveryFailed(
            f"{type(exc).__name__}: {exc}")
        _record_attempt(message, started, ok=False, code=failure.status_code,
                        detail=failure.detail)
        return _failed(message, failure, now)
    _record_attempt(message, started, ok=True, code=code, detail="")
    OutboxMessage.objects.filter(pk=message.pk, status=Status.SENDING).update(
        status=Status.SENT, sent_at=clock.now(), last_error="")
    if message.endpoint_id:
        endpoints.count_success(message.endpoint_id)
    return Status.SENT


def retry_due(*, now: datetime | None = None, limit: int = 500) -> RetryResult:
    """Deliver every row that is due: never handed over, waiting to retry, or held by a worker
    that has not reported back within LOCKBOX_OUTBOX_LEASE. Safe to run twice, and at once."""
    now = now or clock.now()
    stale = now - settings.LOCKBOX_OUTBOX_LEASE
    OutboxMessage.objects.filter(status=Status.SENDING, claimed_at__lt=stale).update(
        status=Status.RETRYING, next_attempt_at=now,
        last_error="The worker delivering this stopped before it finished.")
    due = list(OutboxMessage.objects.filter(
        status__in=(Status.QUEUED, Status.RETRYING), next_attempt_at__lte=now,
    ).order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    results = [deliver(pk, now=now) for pk in due]
    return {"due": len(due), "sent": results.count(Status.SENT),
            "failed": results.count(Status.FAILED), "retrying": results.count(Status.RETRYING)}


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed try."""
    return min(FIRST_BACKOFF * 2 ** (attempts - 1), MAX_BACKOFF)


def _send(message: OutboxMessage) -> int | None:
    if message.channel == Channel.EMAIL:
        emails.send_outbox_email(message)
        return None
    return transport.post(message)


def _failed(message: OutboxMessage, failure: DeliveryFailed, now: datetime) -> str:
    if message.channel == Channel.WEBHOOK:
        give_up = failure.permanent or now - message.created_at >= WEBHOOK_GIVE_UP_AFTER
        if message.endpoint_id is not None:  # always: a webhook row names its endpoint
            endpoints.count_failure(message.endpoint_id, failure.detail)
    else:
        give_up = failure.permanent or message.attempts >= EMAIL_MAX_ATTEMPTS
    status = Status.FAILED if give_up else Status.RETRYING
    if message.channel == Channel.WEBHOOK:
        metrics.count_webhook_failure(final=give_up)
    # A webhook's address tells the operator which receiver fails (the log's redaction drops
    # its query string); an e-mail is named by its kind, never by the person's address.
    what = message.endpoint.url if message.endpoint else message.kind
    log.warning("Outbox message %s (%s) failed on attempt %d: %s Now %s; it was for %s",
                message.pk, message.channel, message.attempts, failure.detail, status, what)
    OutboxMessage.objects.filter(pk=message.pk, status=Status.SENDING).update(
        status=status, last_error=failure.detail[:1000],
        next_attempt_at=now + backoff(message.attempts))
    return status


def _record_attempt(message: OutboxMessage, started: datetime, *, ok: bool, code: int | None,
                    detail: str) -> None:
    elapsed = int((clock.now() - started).total_seconds() * 1000)
    DeliveryAttempt.objects.create(message=message, at=started, ok=ok, status_code=code,
                                   detail=detail[:500], duration_ms=max(elapsed, 0))
