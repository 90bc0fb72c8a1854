from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "approvals.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        # Register the tasks in every process, not only in workers (which autodiscover them):
        # the outbox hands rows to the delivery task by its name, without importing it.
        from approvals.notifications import tasks  # noqa: F401
