"""Settings shared by every deployment. Values that differ come from the environment only.

local.py (make run), production.py and test.py build on this module; see README.md for every
variable.
"""

from pathlib import Path

from csp.constants import NONE, SELF

from lockbox_portal.env import (
    env_bool,
    env_choice,
    env_hours,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Which site this process serves: the internet-facing customer portal, the private internal
# site, or both (local development only). The customer deployment must not route internal URLs.
LOCKBOX_SITE = env_choice("LOCKBOX_SITE", {"customer", "internal", "all"}, default="all")

# How long a request may wait for the provider's internal approval before it expires.
LOCKBOX_INTERNAL_APPROVAL_WINDOW = env_hours(
    "LOCKBOX_INTERNAL_APPROVAL_WINDOW_HOURS", 12, max_hours=24 * 14
)

INSTALLED_APPS = [
    "lockbox_portal.apps.LockboxAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "allauth",
    "allauth.account",
    "audit",
    "approvals",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "lockbox_portal.urls"
WSGI_APPLICATION = "lockbox_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Accounts are e-mail addresses; nobody signs themselves up (invitations come with issue 3).
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "none"

# django-otp: name the issuer in authenticator apps so users can tell the two sites apart.
OTP_TOTP_ISSUER = env_str("LOCKBOX_OTP_ISSUER", default="Lockbox")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Security headers on every response. A strict policy: no inline script or style, nothing from
# another origin, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, min_value=300, max_value=14 * 86400)
CSRF_COOKIE_HTTPONLY = True

# E-mail: the backend and its server, from the environment.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, min_value=1, max_value=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="lockbox@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMINS = [("Lockbox operators", a) for a in env_list("LOCKBOX_ADMIN_EMAILS", default=[])]

# Celery: late acknowledgement so a task whose worker dies is run again, never lost; every task
# is written to be safe to run twice.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", default="memory://")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE = {
    # Expiry is decided at read time; the sweep only tidies states and writes the audit events.
    "lockbox-sweep": {"task": "approvals.tasks.sweep", "schedule": 60.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_choice(
        "LOG_LEVEL", {"DEBUG", "INFO", "WARNING", "ERROR"}, default="INFO")},
}


def database_from_env(default_url=None):
    """DATABASES["default"] from DATABASE_URL, with SQLite tuned for several threads."""
    from lockbox_portal.env import env_database

    if default_url is None:
        config = env_database("DATABASE_URL")
    else:
        config = env_database("DATABASE_URL", default=default_url)
    if config["ENGINE"].endswith("sqlite3"):
        # Take the write lock when a transaction starts, so two requests that read then write
        # wait for each other instead of failing with "database is locked".
        config.setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
    return config
