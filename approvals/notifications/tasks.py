"""Celery tasks: each loads its work and calls the outbox; each is safe to run twice."""

from celery import shared_task

from approvals.notifications import outbox
from lockbox_portal import clock


@shared_task(name="notifications.deliver")
def deliver(message_id):
    return outbox.deliver(message_id)


@shared_task(name="notifications.retry_outbox")
def retry_outbox():
    return outbox.retry_due()


@shared_task(name="notifications.send_reminders")
def send_reminders():
    return outbox.reminders_due(clock.now())
