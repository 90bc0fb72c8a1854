"""Routes for the site this process serves, chosen by LOCKBOX_SITE (see settings.base)."""

from importlib import import_module

from django.conf import settings
from django.urls import path
from django.views.generic import RedirectView

from approvals.api import urls as api_urls
from lockbox_portal.health import bare, healthz, readyz

SITE_URLCONFS = {
    "customer": ["lockbox_portal.urls_accounts", "lockbox_portal.urls_customer"],
    "internal": ["lockbox_portal.urls_accounts", "lockbox_portal.urls_internal"],
    "all": ["lockbox_portal.urls_accounts", "lockbox_portal.urls_customer",
            "lockbox_portal.urls_internal"],
}

urlpatterns = [path("healthz", healthz, name="healthz"), path("readyz", readyz, name="readyz"),
               *api_urls.shared]
if settings.LOCKBOX_SITE in ("internal", "all"):
    urlpatterns += api_urls.internal
if settings.LOCKBOX_SITE in ("customer", "all"):
    urlpatterns += api_urls.customer
for module in SITE_URLCONFS[settings.LOCKBOX_SITE]:
    urlpatterns += import_module(module).urlpatterns
if settings.LOCKBOX_BENCH_BASELINE:
    urlpatterns.append(path("bench/bare", bare, name="bench_bare"))
if settings.LOCKBOX_SITE == "internal":
    # The internal deployment's front door is its own home, not the portal's.
    urlpatterns.append(path("", RedirectView.as_view(url="/internal/"), name="site_root"))
urlpatterns += api_urls.fallback

handler400 = "lockbox_portal.errors.bad_request"
handler404 = "lockbox_portal.errors.not_found"
handler500 = "lockbox_portal.errors.server_failure"
