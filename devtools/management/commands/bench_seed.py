from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from approvals.models import Tenant
from devtools import benchdata
from lockbox_portal.db import limits


class Command(BaseCommand):
    help = ("Fill an empty PostgreSQL database with benchmark data: tenants, people, requests "
            "in every state, and audit chains that verify (see bench/README.md).")

    def add_arguments(self, parser):
        parser.add_argument("--tenants", type=int, default=1000)
        parser.add_argument("--requests", type=int, default=100_000)
        parser.add_argument("--events", type=int, default=5_000_000)

    def handle(self, *args, tenants, requests, events, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_seed writes with PostgreSQL's COPY; set DATABASE_URL.")
        if Tenant.objects.exists():
            raise CommandError("The database already has tenants; seed an empty one.")
        if min(tenants, requests, events) < 1:
            raise CommandError("Every size must be at least 1.")
        self.stdout.write(f"bench_seed: {tenants:,} tenants, {requests:,} requests, "
                          f"{events:,} audit events")
        # One COPY of millions of rows is a single long statement, here and in the workers.
        limits.lift_for_this_process()
        timings = benchdata.seed(tenants=tenants, requests=requests, events=events)
        total = sum(timings.values())
        self.stdout.write("bench_seed: " + ", ".join(f"{k} {v:.1f} s" for k, v in
                                                     timings.items()) + f"; total {total:.1f} s")
