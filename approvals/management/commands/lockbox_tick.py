import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = ("Run every periodic job once (sweep, reminders, outbox retries), or every N seconds "
            "with --every: what Celery beat does in production, for `make run`.")

    def add_arguments(self, parser):
        parser.add_argument("--every", type=int, metavar="SECONDS")

    def handle(self, *args, every=None, **options):
        if every is not None and every < 1:
            raise CommandError("--every must be at least 1 second.")
        while True:
            for command in ("lockbox_sweep", "lockbox_remind", "lockbox_deliver"):
                call_command(command, stdout=self.stdout, stderr=self.stderr)
            if every is None:
                return
            time.sleep(every)
