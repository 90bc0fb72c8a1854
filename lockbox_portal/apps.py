from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class LockboxAdminConfig(AdminConfig):
    default_site = "lockbox_portal.admin_site.LockboxAdminSite"


class LockboxPortalConfig(AppConfig):
    name = "lockbox_portal"
    label = "lockbox_portal"
    verbose_name = "Lockbox"

    def ready(self):
        # Bind `shared_task` to our app (broker, time limits) in web processes and commands too,
        # not only in workers. Settings are chosen by now, so this import chooses nothing.
        from lockbox_portal import celery  # noqa: F401
