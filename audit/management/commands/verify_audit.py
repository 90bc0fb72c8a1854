import os
from multiprocessing import get_context

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from audit.chain import all_chains, tenant_chain, verify_and_record
from lockbox_portal.forking import forget_inherited_connections


def _verify(chain):
    result = verify_and_record(chain)
    return result.ok, str(result)


class Command(BaseCommand):
    help = "Verify the audit hash chains. Prints OK or the first broken sequence number."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="Verify only this tenant's chain.")
        parser.add_argument(
            "--jobs", type=int, default=None,
            help="Chains verified at once, in as many processes (default: one per CPU on "
                 "PostgreSQL, one on SQLite).")

    def handle(self, *args, tenant=None, jobs=None, **options):
        if tenant is not None:
            from approvals.models import Tenant

            if not Tenant.objects.filter(slug=tenant).exists():
                raise CommandError(f"There is no tenant {tenant!r}.")
            chains = [tenant_chain(tenant)]
        else:
            chains = all_chains()
        if jobs is None:
            jobs = (os.cpu_count() or 1) if connection.vendor == "postgresql" else 1
        if connection.in_atomic_block:
            jobs = 1  # other processes could not see what this transaction has not committed
        if jobs < 1:
            raise CommandError("--jobs must be at least 1.")
        broken = 0
        for ok, line in self._results(chains, min(jobs, len(chains) or 1)):
            if ok:
                self.stdout.write(line)
            else:
                broken += 1
                self.stderr.write(line)
        if broken:
            raise CommandError(f"{broken} of {len(chains)} chain(s) are broken.", returncode=1)
        if not chains:
            self.stdout.write("OK: no audit events recorded yet.")

    def _results(self, chains, jobs):
        if jobs == 1:
            yield from map(_verify, chains)
            return
        # Each process opens its own database connection; none may inherit this one.
        connections.close_all()
        with get_context("fork").Pool(jobs, initializer=forget_inherited_connections) as pool:
            yield from pool.imap(_verify, chains, chunksize=1)
