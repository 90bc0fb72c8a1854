from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from audit.db_owner import as_owner, runtime_role
from audit.db_roles import grant_runtime, grant_statements, owns_anything


class Command(BaseCommand):
    help = ("Give the runtime role (DATABASE_URL's user) exactly what the app needs, connected "
            "as the owner (DATABASE_OWNER_URL). `migrate` does this after every run; this "
            "command is for checking, or for a DBA who wants the SQL (--sql).")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--sql", action="store_true",
                            help="Print the statements instead of running them.")

    def handle(self, *args: Any, sql: bool = False, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Database roles apply to PostgreSQL only.")
        role = runtime_role()
        with as_owner():
            owned = owns_anything(connection, role)
            if owned:
                raise CommandError(f"The runtime role {role} owns {', '.join(owned)}: it could "
                                   "switch the audit's triggers off. Give them to the owner "
                                   "(ALTER TABLE … OWNER TO …) first.")
            if sql:
                for statement in grant_statements(connection, role):
                    self.stdout.write(statement + ";")
                return
            count = grant_runtime(connection, role)
        self.stdout.write(f"db_roles: {count} statements granted {role} its runtime privileges")
