"""Django's migrate, run as the database's owner when DATABASE_OWNER_URL is set, followed by
the runtime role's grants (audit.db_roles), so new tables are covered as soon as they exist.
Without DATABASE_OWNER_URL (SQLite, `make run`, tests, CI) it is Django's migrate unchanged."""

from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections

from audit.db_roles import grant_runtime
from audit.owner import as_owner, runtime_role


class Command(DjangoMigrate):
    help = (DjangoMigrate.help + " With DATABASE_OWNER_URL set, runs as that owner and then "
            "grants DATABASE_URL's role its runtime privileges.")

    def handle(self, *args, **options):
        if settings.DATABASE_OWNER is None or options["database"] != "default":
            return super().handle(*args, **options)
        role = runtime_role()
        with as_owner():
            super().handle(*args, **options)
            count = grant_runtime(connections["default"], role)
        if options["verbosity"] >= 1:
            self.stdout.write(f"Granted {role} its runtime privileges ({count} statements).")
