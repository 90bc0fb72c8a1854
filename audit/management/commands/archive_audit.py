from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit.archives import archive_due


class Command(BaseCommand):
    help = ("Archive the audit events past their chain's retention as signed files, then delete "
            "them from the database, in bounded batches (safe to stop and run again).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=None,
                            help="at most this many events per archive (LOCKBOX_ARCHIVE_BATCH)")

    def handle(self, *args: Any, **options: Any) -> None:
        outcome = archive_due(batch=options["batch"])
        self.stdout.write(f"archive_audit: {outcome.archives} archive(s) written, "
                          f"{outcome.deleted} event(s) deleted")
