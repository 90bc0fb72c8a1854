from typing import Any

from django.core.management.base import BaseCommand

from approvals.notifications.delivery import retry_due


class Command(BaseCommand):
    help = ("Deliver outbox messages that are due: never handed to a worker, waiting to retry, "
            "or held by a worker that died. Safe to run twice, and concurrently.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = retry_due()
        self.stdout.write(f"lockbox_deliver: {result['due']} due, {result['sent']} sent, "
                          f"{result['retrying']} to retry, {result['failed']} failed")
