from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings

from devtools import demo
from lockbox_portal import clock


class Command(BaseCommand):
    help = "Load the demo tenants, people and requests (once), and print how to sign in."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates accounts with a published password, so it runs only with "
                "DEBUG on (lockbox_portal.settings.local)."
            )
        # The demo's history notifies people as it is made; those e-mails go to a mailbox in
        # memory so that the console shows only what happens once the server runs.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            loaded = demo.load_demo(now=clock.now())
        if loaded:
            self.stdout.write("Loaded the demo: 2 tenants, 13 people, requests in every state. "
                              "Its past e-mails were not printed; new ones will be.")
        else:
            self.stdout.write("The demo is already loaded; nothing was added.")
        codes = demo.backup_codes()
        self.stdout.write(
            "\nCustomer portal: http://localhost:8000/ (passkeys need 'localhost', not the IP)\n"
            "  e-mail: approver1@contoso.example (or admin@, approver2@, compliance@ at\n"
            "          contoso.example or fabrikam.example)\n"
            f"  password: {demo.DEMO_PASSWORD}\n"
            "  code: every demo account has an authenticator set up; print its current code with\n"
            "        .venv/bin/python manage.py demo_code approver1@contoso.example\n"
            "\nProvider admin (read-only; same sign-in): http://localhost:8000/internal/admin/\n"
            f"  e-mail: {demo.ADMIN_EMAIL}   password: {demo.DEMO_PASSWORD}\n"
            f"  code: `manage.py demo_code {demo.ADMIN_EMAIL}`, or a backup code: "
            f"{' '.join(codes)}\n"
            "Provider accounts: <engineer1|engineer2|manager1|manager2|auditor>@provider.example\n"
        )
