from typing import Any

from django.core.management.base import BaseCommand

from approvals.notifications.reminders import reminders_due
from lockbox_portal import clock


class Command(BaseCommand):
    help = ("Queue reminders for pending requests past 75% of their window (each reminder "
            "once per person and stage). Safe to run twice, and concurrently.")

    def handle(self, *args: Any, **options: Any) -> None:
        count = reminders_due(clock.now())
        self.stdout.write(f"lockbox_remind: {count} reminder(s) considered")
