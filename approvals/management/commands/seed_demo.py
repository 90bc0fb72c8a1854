from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from approvals import demo
from lockbox_portal import clock


class Command(BaseCommand):
    help = "Load the demo tenants, people and requests (once), and print how to sign in."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates accounts with a published password, so it runs only with "
                "DEBUG on (lockbox_portal.settings.local)."
            )
        if demo.load_demo(now=clock.now()):
            self.stdout.write("Loaded the demo: 2 tenants, 13 people, requests in every state.")
        else:
            self.stdout.write("The demo is already loaded; nothing was added.")
        codes = demo.backup_codes()
        self.stdout.write(
            "\nSign in to the provider admin (read-only) at http://127.0.0.1:8000/internal/admin/\n"
            f"  username: {demo.ADMIN_EMAIL}\n"
            f"  password: {demo.DEMO_PASSWORD}\n"
            f"  OTP token: any one of these one-time backup codes: {' '.join(codes)}\n"
            "Every demo account uses the same password; their e-mail addresses are "
            "<admin|approver1|approver2|compliance>@<contoso|fabrikam>.example and "
            "<engineer1|engineer2|manager1|manager2|auditor>@provider.example.\n"
        )
