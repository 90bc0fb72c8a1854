"""Production: every secret and address comes from the environment; start-up fails without one."""

from lockbox_portal.env import (
    REDIS_CACHE,
    EnvError,
    env_bool,
    env_cache,
    env_int,
    env_list,
    env_str,
)

from .base import *  # noqa: F403
from .base import MIDDLEWARE, database_from_env, with_replica

DEBUG = False

SECRET_KEY = env_str("SECRET_KEY")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
    raise EnvError("SECRET_KEY", "must be a random value of at least 50 characters")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
LOCKBOX_PORTAL_URL = env_str("LOCKBOX_PORTAL_URL").rstrip("/")
LOCKBOX_INTERNAL_URL = env_str("LOCKBOX_INTERNAL_URL").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])
DATABASES = {"default": database_from_env()}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, min_value=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES = with_replica(DATABASES)
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
if not (LOCKBOX_SIGNING_KEY or LOCKBOX_SIGNING_KEY_FILE):  # noqa: F405
    raise EnvError("LOCKBOX_SIGNING_KEY", "is required (or LOCKBOX_SIGNING_KEY_FILE): it signs "
                                          "audit checkpoints and receipts")

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# The __Host- prefix makes browsers keep these cookies only when they are Secure, for Path=/ and
# without a Domain: no other host, not even a sibling subdomain, can set or overwrite them.
# (Django's defaults send no Domain and Path=/; the prefix would make the browser drop them
# otherwise.)
SESSION_COOKIE_NAME = "__Host-lockbox_session"
CSRF_COOKIE_NAME = "__Host-lockbox_csrftoken"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
BEHIND_PROXY = env_bool("LOCKBOX_BEHIND_PROXY", default=True)
if BEHIND_PROXY:
    # The proxy terminates TLS and tells us so; without this every request looks like plain HTTP.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Behind the one proxy the README describes, the client is the address it appended; counting
# the proxy's own address would put every client under one sign-in limit.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("LOCKBOX_TRUSTED_PROXY_COUNT", 1 if BEHIND_PROXY else 0,
                                      min_value=0, max_value=5)
# Sign-in limits must be counted once for all processes, not once per worker.
CACHES = {"default": env_cache("CACHE_URL")}
if CACHES["default"]["BACKEND"] != REDIS_CACHE:
    raise EnvError("CACHE_URL", "must name a Redis (redis://, rediss:// or unix://) in "
                                "production: every process must share the sign-in limits")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, min_value=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)

# Static files straight from the app servers, compressed and with far-future cache headers.
_after_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
MIDDLEWARE = [*MIDDLEWARE[:_after_security], "whitenoise.middleware.WhiteNoiseMiddleware",
              *MIDDLEWARE[_after_security:]]
# Load balancers probe the app servers directly, over plain HTTP: answer them, not redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
