from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from devtools import demo


class Command(BaseCommand):
    help = "Print a demo account's current authenticator code (DEBUG only), so no phone is needed."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        if not settings.DEBUG:
            raise CommandError("demo_code runs only with DEBUG on: it reveals second factors.")
        if not get_user_model().objects.filter(email=email).exists():
            raise CommandError(f"There is no account {email!r}.")
        try:
            code, left = demo.current_code(email)
        except TOTPDevice.DoesNotExist:
            message = f"{email} has no demo authenticator (seed_demo sets them up)."
            raise CommandError(message) from None
        self.stdout.write(f"{code}  (valid for {left} more seconds)")
