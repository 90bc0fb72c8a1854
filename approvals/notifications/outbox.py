"""The transactional outbox: notification rows written with the change, handed to workers after
it commits.

1. A service writes its rows inside the transaction of the change they tell about (`enqueue`).
   They commit or roll back with it; `key` is unique, so a row is never queued twice.
2. After commit, each new row is handed to the delivery task. If the broker is down that fails
   quietly: the rows are still queued, and the retry job (approvals.notifications.delivery)
   delivers them.

This module is the bottom of the notifications package: domain services (transitions, tenants,
activity, attestations) call it, and it imports nothing of theirs. The delivery task is looked
up by name in the Celery app rather than imported, so the domain never imports the task
module; a registered task's `.delay()` still honours eager mode (local and test settings).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celery import current_app
from django.db import DatabaseError, transaction

from approvals.notifications.models import Channel, OutboxMessage, Status
from lockbox_portal import clock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from approvals.models import AccessRequest, Tenant

log = logging.getLogger(__name__)

# The Celery name of the task that delivers one row (approvals.notifications.tasks).
DELIVER_TASK = "notifications.deliver"


def email_row(*, key: str, kind: str, user: User | None, address: str, tenant: Tenant | None,
              req: AccessRequest | None, payload: dict[str, Any],
              now: datetime) -> OutboxMessage:
    """An unsaved e-mail row, due now."""
    return OutboxMessage(key=short_key(key), channel=Channel.EMAIL, kind=kind, recipient=address,
                         user=user, tenant=tenant, request=req, payload=payload, created_at=now,
                         next_attempt_at=now)


def short_key(key: str) -> str:
    """Keys name what they are about; long ones keep a readable head and a hash of the rest."""
    if len(key) <= 200:
        return key
    return key[:135] + ":" + hashlib.sha256(key.encode()).hexdigest()


def enqueue(rows: Sequence[OutboxMessage]) -> None:
    """Write `rows` in the caller's transaction (a row whose key exists is skipped) and hand
    them to workers once it commits."""
    if not rows:
        return
    OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
    keys = [row.key for row in rows]
    # Robust: the change has committed; nothing that fails after it may make the caller think
    # it did not (the rows wait for the retry job).
    transaction.on_commit(lambda: hand_to_workers(keys), robust=True)


def tenant_email(*, kind: str, key: str, address: str, tenant: Tenant, payload: dict[str, Any],
                 user: User | None = None, now: datetime | None = None) -> None:
    """Queue a one-off e-mail about a tenant (an invitation, a disabled webhook)."""
    enqueue([email_row(key=key, kind=kind, user=user, address=address, tenant=tenant, req=None,
                       payload=payload, now=now or clock.now())])


def hand_to_workers(keys: Iterable[str]) -> None:
    """After commit: one task per new row. A broker or database that is down is not an error
    here: the rows are committed, and the retry job delivers them later."""
    keys = list(keys)
    try:
        ids = list(OutboxMessage.objects.filter(key__in=keys, status=Status.QUEUED)
                   .values_list("pk", flat=True))
    except DatabaseError:
        log.warning("Could not hand %d outbox messages to workers; they will be retried.",
                    len(keys), exc_info=True)
        return
    for pk in ids:
        try:
            current_app.tasks[DELIVER_TASK].delay(pk)
        except Exception:  # any broker failure: the retry job delivers it later
            log.warning("Could not queue outbox message %s; it will be retried.", pk,
                        exc_info=True)
