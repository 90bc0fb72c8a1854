"""Celery tasks: each loads its work and calls a service; each is safe to run twice."""

from celery import shared_task

from approvals.notifications import delivery, reminders
from approvals.notifications.outbox import DELIVER_TASK
from lockbox_portal import clock


@shared_task(name=DELIVER_TASK)
def deliver(message_id: int) -> str | None:
    return delivery.deliver(message_id)


@shared_task(name="notifications.retry_outbox")
def retry_outbox() -> delivery.RetryResult:
    return delivery.retry_due()


@shared_task(name="notifications.send_reminders")
def send_reminders() -> int:
    return reminders.reminders_due(clock.now())
