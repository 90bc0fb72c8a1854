import time

from django.core.management.base import BaseCommand, CommandError

from approvals.domains import recheck_due
from approvals.notifications.delivery import retry_due
from approvals.notifications.reminders import reminders_due
from approvals.sweep import sweep
from audit.checkpoints import checkpoint_chains
from lockbox_portal import clock


class Command(BaseCommand):
    help = ("Run every periodic job once (sweep, reminders, outbox retries, domain checks), "
            "or every N seconds with --every: what Celery beat does in production, for `make run`.")

    def add_arguments(self, parser):
        parser.add_argument("--every", type=int, metavar="SECONDS")

    def handle(self, *args, every=None, **options):
        if every is not None and every < 1:
            raise CommandError("--every must be at least 1 second.")
        while True:
            swept = sweep()
            reminders = reminders_due(clock.now())
            delivered = retry_due()
            # Beat signs moved chain heads every minute; the local loop does it every turn.
            signed = checkpoint_chains()
            # Only domains whose last check is a day old: nothing to ask on most turns.
            rechecked = recheck_due()
            # Quiet unless something happened, so it does not drown the server's own log.
            if every is None or swept.expired or swept.completed or reminders or \
                    delivered["due"] or signed or rechecked:
                self.stdout.write(f"lockbox_tick: {swept}; {reminders} reminder(s); "
                                  f"{delivered['sent']} of {delivered['due']} due message(s) "
                                  f"sent; {len(signed)} checkpoint(s) signed; "
                                  f"{sum(rechecked.values())} domain(s) checked")
            if every is None:
                return
            time.sleep(every)
