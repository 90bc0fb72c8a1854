from django.contrib.admin.apps import AdminConfig


class LockboxAdminConfig(AdminConfig):
    default_site = "lockbox_portal.admin_site.LockboxAdminSite"
