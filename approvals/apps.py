from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Access requests"

    def ready(self) -> None:
        from approvals import signals

        signals.connect()
