from django.core.management.base import BaseCommand, CommandError

from audit.chain import all_chains, tenant_chain, verify_and_record


class Command(BaseCommand):
    help = "Verify the audit hash chains. Prints OK or the first broken sequence number."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="Verify only this tenant's chain.")

    def handle(self, *args, tenant=None, **options):
        if tenant is not None:
            from approvals.models import Tenant

            if not Tenant.objects.filter(slug=tenant).exists():
                raise CommandError(f"There is no tenant {tenant!r}.")
            chains = [tenant_chain(tenant)]
        else:
            chains = all_chains()
        broken = 0
        for chain in chains:
            result = verify_and_record(chain)
            if result.ok:
                self.stdout.write(str(result))
            else:
                broken += 1
                self.stderr.write(str(result))
        if broken:
            raise CommandError(f"{broken} of {len(chains)} chain(s) are broken.", returncode=1)
        if not chains:
            self.stdout.write("OK: no audit events recorded yet.")
