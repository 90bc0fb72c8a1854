"""Routes for the site this process serves, chosen by LOCKBOX_SITE (see settings.base)."""

from importlib import import_module

from django.conf import settings
from django.urls import path

from lockbox_portal.health import healthz

SITE_URLCONFS = {
    "customer": ["lockbox_portal.urls_accounts", "lockbox_portal.urls_customer"],
    "internal": ["lockbox_portal.urls_accounts", "lockbox_portal.urls_internal"],
    "all": ["lockbox_portal.urls_accounts", "lockbox_portal.urls_customer",
            "lockbox_portal.urls_internal"],
}

urlpatterns = [path("healthz", healthz, name="healthz")]
for module in SITE_URLCONFS[settings.LOCKBOX_SITE]:
    urlpatterns += import_module(module).urlpatterns
