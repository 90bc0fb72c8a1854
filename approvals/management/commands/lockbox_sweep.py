import time

from django.core.management.base import BaseCommand, CommandError

from approvals.sweep import sweep


class Command(BaseCommand):
    help = "Expire lapsed pending requests and complete ended grants (safe to run concurrently)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=int, metavar="SECONDS",
                            help="Keep running, sweeping every SECONDS.")

    def handle(self, *args, every=None, **options):
        if every is not None and every < 1:
            raise CommandError("--every must be at least 1 second.")
        while True:
            result = sweep()
            if every is None or result.expired or result.completed:
                self.stdout.write(f"lockbox_sweep: {result}")
            if every is None:
                return
            time.sleep(every)
