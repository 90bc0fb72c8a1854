"""The transactional outbox: who is told what, written with the change; delivered after commit.

1. A transition calls `request_event` inside its transaction. The rows it writes (one per
   recipient and channel, unique by `key`) commit or roll back with the state change.
2. After commit, each new row is handed to a Celery task. If the broker is down that fails
   quietly: the rows are still queued.
3. `retry_due` (beat, and `manage.py lockbox_deliver`) picks up rows that were never handed
   over, are due for a retry, or were claimed by a worker that died.
4. `deliver` claims a row with a conditional UPDATE, so two workers never send the same row.
"""

import hashlib
import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, transaction
from django.db.models import F, Q

from approvals.models import Decision, DecisionLevel, ProviderRole, State, TenantRole
from approvals.notifications.models import (
    Channel,
    DeliveryAttempt,
    OutboxMessage,
    Status,
    WebhookEndpoint,
)
from lockbox_portal import clock

log = logging.getLogger(__name__)

# Retries: 30 s, 1 min, 2 min … capped at an hour between tries; e-mail gives up after 8 tries,
# webhooks after 24 hours.
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
EMAIL_MAX_ATTEMPTS = 8
WEBHOOK_GIVE_UP_AFTER = timedelta(hours=24)
WEBHOOK_DISABLE_AFTER = 15  # consecutive failed attempts

CUSTOMER, PROVIDER = "customer", "provider"


# --- Who is told about what ---------------------------------------------------------------------

def request_event(req, event):
    """Queue the e-mails and webhooks for one request event (an audit event). Called by
    approvals.transitions inside the transaction that made the change."""
    action = event.action
    people = []  # (kind, user or None, address, audience)
    requester = [(req.requester, req.requester.email, PROVIDER)]
    if action == "request.submitted":
        people += [("awaiting_internal", u, u.email, PROVIDER) for u in managers(req)]
    elif action == "request.internal_approved":
        people += [("awaiting_customer", *r) for r in customer_audience(req)]
    elif action == "request.approved":
        people += [("access_started", *r) for r in requester]
        people += [("decided", *r) for r in customer_audience(req)]
    elif action == "request.internal_rejected":
        people += [("decided", *r) for r in requester]
    elif action == "request.customer_rejected":
        people += [("decided", *r) for r in requester + customer_audience(req)]
    elif action == "request.expired":
        audience = customer_audience(req) if event.data.get("stage") == State.PENDING_CUSTOMER \
            else []
        people += [("expired", *r) for r in requester + audience]
    elif action == "request.revoked":
        people += [("revoked", *r) for r in requester + customer_audience(req)]
    elif action in ("request.released", "request.completed"):
        people += [("access_ended", *r) for r in requester + customer_audience(req)]
    payload = {"action": action, "actor": event.actor_email,
               "comment": event.data.get("comment", ""), "event_seq": event.seq}
    rows = [
        _email(key=f"{req.pk}:{action}:email:{address}", kind=kind, user=user, address=address,
               tenant=req.tenant, req=req, payload={**payload, "audience": audience},
               now=event.occurred_at)
        for kind, user, address, audience in people
    ]
    rows += _webhooks(req, event)
    _queue(rows)


def managers(req):
    return list(get_user_model().objects.filter(
        provider_memberships__role=ProviderRole.INTERNAL_APPROVER, is_active=True,
    ).exclude(pk=req.requester_id).distinct().order_by("email"))


def customer_approvers(req):
    return list(get_user_model().objects.filter(
        tenant_memberships__tenant=req.tenant, tenant_memberships__role=TenantRole.APPROVER,
        is_active=True,
    ).exclude(pk=req.requester_id).distinct().order_by("email"))


def customer_audience(req):
    """The tenant's approvers, then its extra notification addresses (without repeats)."""
    approvers = customer_approvers(req)
    known = {u.email.lower() for u in approvers}
    return ([(u, u.email, CUSTOMER) for u in approvers]
            + [(None, a, CUSTOMER) for a in req.tenant.notification_emails if a not in known])


def who_is_asked(req, now):
    """The people who can decide `req` right now, each with the state of their notification:
    [(user, status, detail)], status one of "sent", "queued", "failed", "not told"."""
    if req.state == State.PENDING_INTERNAL and now < req.internal_expires_at:
        people = managers(req)
    elif req.state == State.PENDING_CUSTOMER and now < req.customer_expires_at:
        decided = set(Decision.objects.filter(request=req, level=DecisionLevel.CUSTOMER)
                      .values_list("actor_id", flat=True))
        people = [u for u in customer_approvers(req) if u.pk not in decided]
    else:
        return []
    latest = {}
    for message in (OutboxMessage.objects.filter(
            request=req, channel=Channel.EMAIL, kind__in=("awaiting_internal",
                                                          "awaiting_customer", "reminder"))
            .order_by("created_at", "id")):
        latest[message.recipient.lower()] = message
    answer = []
    for person in people:
        message = latest.get(person.email.lower())
        if message is None:
            answer.append((person, "not told", ""))
        elif message.status == Status.SENT:
            answer.append((person, "sent", message.sent_at))
        elif message.status == Status.FAILED:
            answer.append((person, "failed", message.last_error))
        else:
            answer.append((person, "queued", message.last_error))
    return answer


def reminders_due(now):
    """Queue a reminder for each pending request past 75% of its window, to the people who can
    still decide it; the key makes each reminder happen once per stage and person."""
    from approvals.models import AccessRequest

    pending = AccessRequest.objects.select_related("tenant", "requester").filter(
        Q(state=State.PENDING_INTERNAL, internal_expires_at__gt=now)
        | Q(state=State.PENDING_CUSTOMER, customer_expires_at__gt=now))
    rows = []
    for req in pending:
        if req.state == State.PENDING_INTERNAL:
            start, end, audience = req.created_at, req.internal_expires_at, PROVIDER
        else:
            start, end, audience = req.internal_decided_at, req.customer_expires_at, CUSTOMER
        if now < start + (end - start) * 0.75:
            continue
        for person, _, _ in who_is_asked(req, now):
            rows.append(_email(
                key=f"{req.pk}:reminder:{req.state}:email:{person.email}", kind="reminder",
                user=person, address=person.email, tenant=req.tenant, req=req, now=now,
                payload={"audience": audience, "expires_at": end.isoformat()}))
    with transaction.atomic():
        _queue(rows)
    return len(rows)


def tenant_email(*, kind, key, address, tenant, payload, user=None, now=None):
    """A one-off e-mail about a tenant (an invitation, a disabled webhook)."""
    _queue([_email(key=key, kind=kind, user=user, address=address, tenant=tenant, req=None,
                   payload=payload, now=now or clock.now())])


# --- Writing rows -------------------------------------------------------------------------------

def _email(*, key, kind, user, address, tenant, req, payload, now):
    return OutboxMessage(key=_short(key), channel=Channel.EMAIL, kind=kind, recipient=address,
                         user=user, tenant=tenant, request=req, payload=payload, created_at=now,
                         next_attempt_at=now)


def _webhooks(req, event):
    from approvals.notifications.webhooks import event_payload

    rows = []
    for endpoint in WebhookEndpoint.objects.filter(tenant=req.tenant, is_active=True):
        if event.action in endpoint.event_types or "*" in endpoint.event_types:
            key = _short(f"{req.pk}:{event.action}:webhook:{endpoint.pk}")
            rows.append(OutboxMessage(
                key=key, channel=Channel.WEBHOOK, kind=event.action, recipient=endpoint.url,
                tenant=req.tenant, request=req, endpoint=endpoint, created_at=event.occurred_at,
                next_attempt_at=event.occurred_at,
                payload=event_payload(delivery_id=key, event=event, req=req)))
    return rows


def _short(key):
    """Keys name what they are about; long ones keep a readable head and a hash of the rest."""
    if len(key) <= 200:
        return key
    return key[:135] + ":" + hashlib.sha256(key.encode()).hexdigest()


def _queue(rows):
    if not rows:
        return
    OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
    keys = [row.key for row in rows]
    # Robust: the change has committed; nothing that fails after it may make the caller think
    # it did not (the rows wait for the retry job).
    transaction.on_commit(lambda: hand_to_workers(keys), robust=True)


def hand_to_workers(keys):
    """After commit: one task per new row. A broker or database that is down is not an error
    here: the rows are committed, and the retry job delivers them later."""
    from approvals.notifications.tasks import deliver

    try:
        ids = list(OutboxMessage.objects.filter(key__in=keys, status=Status.QUEUED)
                   .values_list("pk", flat=True))
    except DatabaseError:
        log.warning("Could not hand %d outbox messages to workers; they will be retried.",
                    len(keys), exc_info=True)
        return
    for pk in ids:
        try:
            deliver.delay(pk)
        except Exception:  # any broker failure: the retry job delivers it later
            log.warning("Could not queue outbox message %s; it will be retried.", pk,
                        exc_info=True)


# --- Delivering ---------------------------------------------------------------------------------

class DeliveryFailed(Exception):
    def __init__(self, detail, *, status_code=None, permanent=False):
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code
        self.permanent = permanent


def deliver(message_id, *, now=None):
    """Deliver one row if it is due and nobody else holds it. Returns its status afterwards."""
    now = now or clock.now()
    claimed = OutboxMessage.objects.filter(
        pk=message_id, status__in=(Status.QUEUED, Status.RETRYING), next_attempt_at__lte=now,
    ).update(status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    message = OutboxMessage.objects.select_related("endpoint", "request", "tenant").get(
        pk=message_id)
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
        WebhookEndpoint.objects.filter(pk=message.endpoint_id).update(consecutive_failures=0)
    return Status.SENT


def _send(message):
    if message.channel == Channel.EMAIL:
        from approvals.notifications import emails

        emails.send_outbox_email(message)
        return None
    from approvals.notifications import webhooks

    return webhooks.post(message)


def _failed(message, failure, now):
    if message.channel == Channel.WEBHOOK:
        give_up = failure.permanent or now - message.created_at >= WEBHOOK_GIVE_UP_AFTER
        _count_webhook_failure(message, failure)
    else:
        give_up = failure.permanent or message.attempts >= EMAIL_MAX_ATTEMPTS
    backoff = min(FIRST_BACKOFF * 2 ** (message.attempts - 1), MAX_BACKOFF)
    status = Status.FAILED if give_up else Status.RETRYING
    OutboxMessage.objects.filter(pk=message.pk, status=Status.SENDING).update(
        status=status, last_error=failure.detail[:1000], next_attempt_at=now + backoff)
    return status


def _count_webhook_failure(message, failure):
    from approvals.notifications.webhooks import disable_after_failures

    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=message.endpoint_id)
        endpoint.consecutive_failures += 1
        endpoint.save(update_fields=["consecutive_failures"])
        if endpoint.is_active and endpoint.consecutive_failures >= WEBHOOK_DISABLE_AFTER:
            disable_after_failures(endpoint, failure.detail)


def _record_attempt(message, started, *, ok, code, detail):
    elapsed = int((clock.now() - started).total_seconds() * 1000)
    DeliveryAttempt.objects.create(message=message, at=started, ok=ok, status_code=code,
                                   detail=detail[:500], duration_ms=max(elapsed, 0))


def retry_due(*, now=None, limit=500):
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
