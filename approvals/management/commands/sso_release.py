"""The way back in for a tenant that requires single sign-on when its provider cannot sign
anyone in (an outage, a lost client secret, a SECRET_KEY change): the provider's operators stop
requiring it, so the tenant's admins can sign in with their Lockbox password and second factor
and mend the settings. Audited in the tenant's chain with the reason given."""

from django.core.management.base import BaseCommand, CommandError

from approvals.models import Tenant
from approvals.sso_requirement import release_requirement


class Command(BaseCommand):
    help = "Stop requiring single sign-on for one tenant (break-glass), with a reason."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, metavar="SLUG")
        parser.add_argument("--reason", required=True)

    def handle(self, *args, tenant, reason, **options):
        reason = reason.strip()
        if len(reason) < 10:
            raise CommandError("Give a reason of at least 10 characters; it is audited.")
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant {tenant!r}.")
        if release_requirement(tenant=found, reason=f"Operator: {reason[:500]}"):
            self.stdout.write(f"{found.name}: single sign-on is no longer required.")
        else:
            self.stdout.write(f"{found.name}: single sign-on was not required; nothing changed.")
