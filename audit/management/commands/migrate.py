"""Django's migrate, run as the database's owner when DATABASE_OWNER_URL is set, followed by
the runtime role's grants (audit.db_roles), so new tables are covered as soon as they exist.
Without DATABASE_OWNER_URL (SQLite, `make run`, tests, CI) it is Django's migrate, without the
statement timeout either way."""

from typing import Any

from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections

from audit.db_owner import as_owner, runtime_role
from audit.db_roles import grant_runtime
from lockbox_portal.db.limits import unbounded_statements


class Command(DjangoMigrate):
    help = (DjangoMigrate.help + " With DATABASE_OWNER_URL set, runs as that owner and then "
            "grants DATABASE_URL's role its runtime privileges.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.DATABASE_OWNER is None or options["database"] != "default":
            # A migration may rewrite a big table: no statement timeout (lockbox_portal.db).
            with unbounded_statements(wait_for_answers=True):
                super().handle(*args, **options)
            return
        role = runtime_role()
        with as_owner(), unbounded_statements(wait_for_answers=True):
            super().handle(*args, **options)
            count = grant_runtime(connections["default"], role)
        if options["verbosity"] >= 1:
            self.stdout.write(f"Granted {role} its runtime privileges ({count} statements).")
