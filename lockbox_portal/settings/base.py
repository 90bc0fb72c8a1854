"""Settings shared by every deployment. Values that differ come from the environment only.

local.py (make run), production.py and test.py build on this module; see README.md for every
variable.
"""

from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF

from lockbox_portal.env import (
    EnvError,
    env_bool,
    env_cache,
    env_choice,
    env_database,
    env_hours,
    env_int,
    env_list,
    env_str,
)
from lockbox_portal.logs.config import FORMATS, LEVELS, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Which site this process serves: the internet-facing customer portal, the private internal
# site, or both (local development only). The customer deployment must not route internal URLs.
LOCKBOX_SITE = env_choice("LOCKBOX_SITE", {"customer", "internal", "all"}, default="all")

# Where people reach the customer portal; e-mailed links start with this.
LOCKBOX_PORTAL_URL = env_str("LOCKBOX_PORTAL_URL", default="http://127.0.0.1:8000").rstrip("/")

# Routes /bench/bare, the do-nothing view `make bench` compares the access check with.
LOCKBOX_BENCH_BASELINE = env_bool("LOCKBOX_BENCH_BASELINE", default=False)

# Where provider staff reach the internal site; links in their e-mails start with this.
LOCKBOX_INTERNAL_URL = env_str("LOCKBOX_INTERNAL_URL", default=LOCKBOX_PORTAL_URL).rstrip("/")

# Webhooks may not point at private, loopback or link-local addresses (they would let a tenant
# probe the provider's network) unless this is on, as it is for local development.
LOCKBOX_WEBHOOK_ALLOW_PRIVATE = env_bool("LOCKBOX_WEBHOOK_ALLOW_PRIVATE", default=False)
# A tenant's identity provider must be https://, except a loopback one while this is on (local
# development and the tests' own provider).
LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK = env_bool("LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK", default=False)
# A delivery claimed this long ago whose worker never reported back is tried again.
LOCKBOX_OUTBOX_LEASE = timedelta(seconds=env_int("LOCKBOX_OUTBOX_LEASE_SECONDS", 300,
                                                 min_value=1, max_value=86400))

# How long an access-check process may reuse a yes it read from the database (milliseconds);
# taking access away waits this long after its commit, so the next check anywhere is fresh.
# 0 asks the database on every check.
LOCKBOX_ACCESS_CACHE = env_int("LOCKBOX_ACCESS_CACHE_MS", 1000, min_value=0,
                               max_value=10_000) / 1000

# How long a request may wait for the provider's internal approval before it expires.
LOCKBOX_INTERNAL_APPROVAL_WINDOW = env_hours(
    "LOCKBOX_INTERNAL_APPROVAL_WINDOW_HOURS", 12, max_hours=24 * 14
)

INSTALLED_APPS = [
    "lockbox_portal.apps.LockboxPortalConfig",
    "lockbox_portal.apps.LockboxAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "allauth",
    "allauth.account",
    "allauth.usersessions",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "django_otp_webauthn",
    "audit",
    "approvals",
    "approvals.notifications",
    "approvals.api",
]

MIDDLEWARE = [
    # First: the request id and the access log cover everything below.
    "lockbox_portal.logs.middleware.RequestLogMiddleware",
    # First, so the time measured is all of Django's (lockbox_portal.metrics).
    "lockbox_portal.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "lockbox_portal.security.sessions.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "lockbox_portal.db.middleware.ReadYourWritesMiddleware",
    "lockbox_portal.security.headers.ResponseHeadersMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "lockbox_portal.security.middleware.SessionLimitsMiddleware",
    # Instead of allauth's UserSessionsMiddleware, which writes on every request.
    "lockbox_portal.security.middleware.SessionActivityMiddleware",
    "lockbox_portal.security.middleware.RequireSecondFactorMiddleware",
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
                "lockbox_portal.context_processors.navigation",
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

# Accounts are e-mail addresses. Nobody signs themselves up: tenant admins invite people, who set
# a password through a one-time link (see security.adapters and approvals.tenants).
ACCOUNT_ADAPTER = "lockbox_portal.security.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# E-mail first: an address whose domain signs in through single sign-on goes there.
ACCOUNT_FORMS = {"login": "lockbox_portal.security.sso.LoginForm"}
# Single sign-on (lockbox_portal.security.sso): apps come from each tenant's SsoConnection, the
# adapter links people itself (only at the tenant's verified domains), allauth never matches an
# account by e-mail on its own (that would let any provider sign in as anyone), keeps no
# provider tokens, and waits at most this long for a provider.
SOCIALACCOUNT_ADAPTER = "lockbox_portal.security.sso.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 5
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
# The provider's own staff sign in to the internal site through the provider's identity provider
# (OpenID Connect), when LOCKBOX_STAFF_OIDC_ISSUER is set: only addresses at
# LOCKBOX_STAFF_OIDC_DOMAINS, with the provider roles their claim's values give
# (approvals.sso.sign_in_staff). Never offered on the customer portal.
LOCKBOX_STAFF_OIDC_ISSUER = env_str("LOCKBOX_STAFF_OIDC_ISSUER", default="").rstrip("/")
LOCKBOX_STAFF_OIDC_CLIENT_ID = env_str("LOCKBOX_STAFF_OIDC_CLIENT_ID", default="")
LOCKBOX_STAFF_OIDC_CLIENT_SECRET = env_str("LOCKBOX_STAFF_OIDC_CLIENT_SECRET", default="")
LOCKBOX_STAFF_OIDC_DOMAINS = [d.lower() for d in env_list("LOCKBOX_STAFF_OIDC_DOMAINS", default=[])]
LOCKBOX_STAFF_OIDC_ROLE_CLAIM = env_choice("LOCKBOX_STAFF_OIDC_ROLE_CLAIM", {"groups", "roles"},
                                           default="groups")
LOCKBOX_STAFF_OIDC_ROLES = {
    "engineer": env_list("LOCKBOX_STAFF_OIDC_ENGINEERS", default=[]),
    "internal_approver": env_list("LOCKBOX_STAFF_OIDC_APPROVERS", default=[]),
    "auditor": env_list("LOCKBOX_STAFF_OIDC_AUDITORS", default=[]),
}
if LOCKBOX_STAFF_OIDC_ISSUER:
    for _name, _value in (("LOCKBOX_STAFF_OIDC_CLIENT_ID", LOCKBOX_STAFF_OIDC_CLIENT_ID),
                          ("LOCKBOX_STAFF_OIDC_CLIENT_SECRET", LOCKBOX_STAFF_OIDC_CLIENT_SECRET),
                          ("LOCKBOX_STAFF_OIDC_DOMAINS", LOCKBOX_STAFF_OIDC_DOMAINS)):
        if not _value:
            raise EnvError(_name, "is required with LOCKBOX_STAFF_OIDC_ISSUER")
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
USERSESSIONS_TRACK_ACTIVITY = True
# Sign-in throttling. allauth counts attempts in Django's cache (so every process must share it:
# production.py insists on Redis) per client address, per address and account, and per account:
# - one address: 10 failed sign-ins a minute and 50 an hour, whatever accounts it tries;
# - one address against one account: 5 in 5 minutes (allauth's own default);
# - one account from anywhere: 100 an hour. One address can never reach that (50 an hour), so
#   an attacker at one address cannot lock anyone else out of their account.
# security.adapters.AccountAdapter applies the last two; a right password rolls back its count.
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,50/h/ip",
    "login_failed_address_account": "5/5m/key",
    "login_failed_account": "100/h/key",
}
# The client's address, for those limits and the session list. Behind proxies every request
# arrives from the last proxy; each proxy appends to X-Forwarded-For the address that connected
# to it, so with N proxies of ours the client is the N-th entry from the right. 0 (no proxy)
# ignores X-Forwarded-For entirely, so a client cannot choose the address it is counted under.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("LOCKBOX_TRUSTED_PROXY_COUNT", 0, min_value=0,
                                      max_value=5)
# The cache those counts live in. Production requires a Redis every process shares.
CACHES = {"default": env_cache("CACHE_URL", default="locmem://")}
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
# Invitations and password resets: the one-time link works for three days.
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600

# django-otp: name the issuer in authenticator apps so users can tell the two sites apart.
# Throttling is on (each wrong code doubles the wait), and a TOTP code is accepted only once.
OTP_TOTP_ISSUER = env_str("LOCKBOX_OTP_ISSUER", default="Lockbox")
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# Passkeys (WebAuthn) as a second factor after the password, never instead of it. Browsers accept
# passkeys only on a domain (not an IP address) over HTTPS or on localhost.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_RP_ID = env_str("LOCKBOX_WEBAUTHN_RP_ID", default="localhost")
OTP_WEBAUTHN_RP_NAME = env_str("LOCKBOX_WEBAUTHN_RP_NAME", default="Lockbox")
OTP_WEBAUTHN_ALLOWED_ORIGINS = env_list("LOCKBOX_WEBAUTHN_ORIGINS",
                                        default=["http://localhost:8000"])

# The Ed25519 key that signs audit checkpoints and decision receipts: base64 of the 32-byte
# private key, or a PEM file. Rotate by changing it; every public key used stays published.
LOCKBOX_SIGNING_KEY = env_str("LOCKBOX_SIGNING_KEY", default="")
LOCKBOX_SIGNING_KEY_FILE = env_str("LOCKBOX_SIGNING_KEY_FILE", default="")
# Verification trusts only keys pinned here, never the database's table of keys: the configured
# key, and the retired ones (base64 public keys; or a saved lockbox-keys.json). See audit.signing.
LOCKBOX_RETIRED_PUBLIC_KEYS = env_list("LOCKBOX_RETIRED_PUBLIC_KEYS", default=[])
LOCKBOX_TRUSTED_KEYS_FILE = env_str("LOCKBOX_TRUSTED_KEYS_FILE", default="")
# The chains whose owner exists, so an empty one means deleted events (audit.owners): the audit
# app imports no other app, so the one that owns chains answers through this function.
LOCKBOX_AUDIT_CHAIN_OWNERS = "approvals.chain_owners.tenant_chains"
# Each chain's retention and legal hold (audit.archives), asked of the same app the same way.
LOCKBOX_AUDIT_RETENTION = "approvals.chain_owners.retention_policies"
# Where events past their retention are written as signed archives before they leave the
# database (JSON Lines + manifest per stretch), and at most how many events go in one archive.
LOCKBOX_ARCHIVE_DIR = env_str("LOCKBOX_ARCHIVE_DIR", default=str(BASE_DIR / "archives"))
LOCKBOX_ARCHIVE_BATCH = env_int("LOCKBOX_ARCHIVE_BATCH", 100_000, min_value=100,
                                max_value=5_000_000)

# Events newer than their chain's last checkpoint are vouched for by the database alone, so beat
# signs every chain head that moved this often. verify_audit fails when an event no checkpoint
# covers is older than the limit (checkpoints deleted, or signing stopped); 0 turns that off.
LOCKBOX_CHECKPOINT_SECONDS = env_int("LOCKBOX_CHECKPOINT_SECONDS", 60, min_value=10,
                                     max_value=900)
LOCKBOX_UNSIGNED_LIMIT_SECONDS = env_int("LOCKBOX_UNSIGNED_LIMIT_SECONDS", 300, min_value=0,
                                         max_value=7 * 86400)
if 0 < LOCKBOX_UNSIGNED_LIMIT_SECONDS <= LOCKBOX_CHECKPOINT_SECONDS:
    raise EnvError("LOCKBOX_UNSIGNED_LIMIT_SECONDS",
                   "must be 0 or longer than LOCKBOX_CHECKPOINT_SECONDS")

# Sessions end after 30 idle minutes and at the latest 12 hours after sign-in; a decision needs a
# second-factor check no older than 5 minutes, made for that very action.
LOCKBOX_IDLE_TIMEOUT = timedelta(minutes=env_int("LOCKBOX_IDLE_TIMEOUT_MINUTES", 30,
                                                 min_value=5, max_value=24 * 60))
LOCKBOX_SESSION_MAX_AGE = env_hours("LOCKBOX_SESSION_MAX_HOURS", 12, max_hours=7 * 24)
LOCKBOX_STEP_UP_MAX_AGE = timedelta(minutes=5)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `manage.py collectstatic` gathers the static files the app servers (or nginx) serve.
STATIC_ROOT = Path(env_str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
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
SESSION_COOKIE_AGE = int(LOCKBOX_SESSION_MAX_AGE.total_seconds())
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "lockbox_portal.security.views.csrf_failure"

# E-mail: the backend and its server, from the environment.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, min_value=1, max_value=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
# An SMTP server that stops answering must not hold a worker (Django's default waits forever);
# keep it well under LOCKBOX_OUTBOX_LEASE_SECONDS, after which another worker sends again.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, min_value=1, max_value=600)
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
# Fail fast when the broker is down: the outbox row is already committed, and the retry job
# delivers it once the broker is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0,
                                    "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    # Expiry is decided at read time; the sweep only tidies states and writes the audit events.
    "lockbox-sweep": {"task": "approvals.tasks.sweep", "schedule": 60.0},
    # Delivers what was never handed to a worker (broker down) or whose worker died.
    "lockbox-deliver": {"task": "notifications.retry_outbox", "schedule": 60.0},
    "lockbox-remind": {"task": "notifications.send_reminders", "schedule": 300.0},
    # Signs every chain head that moved since its last checkpoint (few, at a minute's notice).
    "lockbox-checkpoint": {"task": "audit.checkpoint",
                           "schedule": float(LOCKBOX_CHECKPOINT_SECONDS)},
    # The whole of every chain, daily; pages check only what is newer than this.
    "lockbox-verify": {"task": "audit.verify_all", "schedule": 86400.0},
    # Events past their tenant's retention leave as signed archives, one bounded batch per
    # chain per run; a run that stops is finished by the next.
    "lockbox-archive": {"task": "audit.archive", "schedule": 3600.0},
    # Verified e-mail domains whose last check is a day old are asked again (approvals.domains);
    # hourly runs of a bounded batch, so a slow resolver never holds a worker long.
    "lockbox-domains": {"task": "approvals.tasks.recheck_domains", "schedule": 3600.0},
}

# Logs go to stderr: one JSON object per line (production's default) or one line of text
# (`make run`, the tests), each with the request id, user id, tenant and access request where
# known, never a token, code or key (lockbox_portal/logs/).
LOCKBOX_LOG_LEVEL = env_choice("LOCKBOX_LOG_LEVEL", LEVELS, default="INFO")
LOGGING = logging_config(env_choice("LOCKBOX_LOG_FORMAT", FORMATS, default="text"),
                         LOCKBOX_LOG_LEVEL)


# Every wait for the database ends (lockbox_portal/db/limits.py): connecting, each statement
# (cancelled by the server; the client gives up 2 s later, when the server cannot be heard), and
# the access check and /healthz as a whole, which answer "no" (503) rather than wait.
LOCKBOX_DB_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT_MS", 2000, min_value=100,
                                     max_value=60_000) / 1000
LOCKBOX_DB_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 10_000, min_value=0,
                                          max_value=3_600_000)
LOCKBOX_DB_WAIT = (LOCKBOX_DB_STATEMENT_TIMEOUT_MS + 2000) / 1000 \
    if LOCKBOX_DB_STATEMENT_TIMEOUT_MS else None
# After the database could not be heard, a process waits this long before it tries again;
# meanwhile what needs a new connection fails at once (lockbox_portal/db/postgresql/base.py).
LOCKBOX_DB_RETRY_AFTER = 1.0
# The most one scrape of `manage.py lockbox_exporter` spends on its database queries.
LOCKBOX_EXPORTER_TIMEOUT = env_int("LOCKBOX_EXPORTER_TIMEOUT_MS", 5000, min_value=100,
                                   max_value=60_000) / 1000
LOCKBOX_ACCESS_CHECK_TIMEOUT = env_int("LOCKBOX_ACCESS_CHECK_TIMEOUT_MS", 1000, min_value=50,
                                       max_value=10_000) / 1000

# The role that owns the tables and runs `migrate` (PostgreSQL); DATABASE_URL's role is then
# granted only what the app does at run time, and owns nothing (audit.db_roles). Unset, the
# role in DATABASE_URL does both (SQLite, `make run`, the tests).
DATABASE_OWNER = (env_database("DATABASE_OWNER_URL")
                  if env_str("DATABASE_OWNER_URL", default="") else None)


def database_from_env(default_url=None, *, name="DATABASE_URL"):
    """DATABASES["default"] from DATABASE_URL (or another variable): SQLite tuned for several
    threads; PostgreSQL through Lockbox's bounded backend, with TCP keepalives and a statement
    timeout."""
    from lockbox_portal.env import env_database

    config = env_database(name) if default_url is None else env_database(name, default=default_url)
    options = config.setdefault("OPTIONS", {})
    if config["ENGINE"].endswith("sqlite3"):
        # Take the write lock when a transaction starts, so two requests that read then write
        # wait for each other instead of failing with "database is locked".
        options.update({"transaction_mode": "IMMEDIATE", "timeout": 20})
    elif config["ENGINE"] == "django.db.backends.postgresql":
        config["ENGINE"] = "lockbox_portal.db.postgresql"
        # Keepalives find a peer that vanished (a host gone, a route dropped) on idle
        # connections; tcp_user_timeout ends a connection whose sent data is never acknowledged.
        for name, value in {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                            "keepalives_count": 3, "tcp_user_timeout": 15_000}.items():
            options.setdefault(name, value)
        if LOCKBOX_DB_STATEMENT_TIMEOUT_MS:
            options["options"] = " ".join(filter(None, [
                f"-c statement_timeout={LOCKBOX_DB_STATEMENT_TIMEOUT_MS}",
                options.get("options", "")]))
    return config


# Reads that tolerate lag (audit search and export, compliance, the SIEM feed, history and lists)
# go to a streaming replica when DATABASE_REPLICA_URL names one, while it is at most this many
# seconds behind and has replayed the reader's own last change; everything else, and every
# write, goes to DATABASE_URL (lockbox_portal/db/replica.py). Unset: everything on the primary.
LOCKBOX_REPLICA_MAX_LAG_SECONDS = env_int("LOCKBOX_REPLICA_MAX_LAG_SECONDS", 10, min_value=0,
                                          max_value=3600)
# How long a check of the replica's lag may take before its reads fall back to the primary.
LOCKBOX_REPLICA_CHECK_TIMEOUT = env_int("LOCKBOX_REPLICA_CHECK_TIMEOUT_MS", 500, min_value=50,
                                        max_value=10_000) / 1000
DATABASE_ROUTERS = ["lockbox_portal.db.replica.ReplicaRouter"]


def with_replica(databases):
    """DATABASES with the "replica" alias when DATABASE_REPLICA_URL is set. Tests treat it as a
    mirror of the primary, so Django never makes a second test database for it."""
    if not env_str("DATABASE_REPLICA_URL", default=""):
        return databases
    primary = databases["default"]
    config = database_from_env(name="DATABASE_REPLICA_URL")
    if primary["ENGINE"] != "lockbox_portal.db.postgresql" or \
            config["ENGINE"] != "lockbox_portal.db.postgresql":
        raise EnvError("DATABASE_REPLICA_URL", "needs PostgreSQL for both it and DATABASE_URL")
    for name in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        if name in primary:
            config[name] = primary[name]
    config["TEST"] = {"MIRROR": "default"}
    return {**databases, "replica": config}

# Domain proofs (approvals.domains) ask DNS for a TXT record. Empty: the system's resolver
# (/etc/resolv.conf). Otherwise "host" or "host:port" items, asked in turn, e.g. a company's
# own resolver, or the loopback server the tests start. Every lookup ends within the timeout;
# a resolver that does not answer makes the check "could not check", never "failed".
LOCKBOX_DNS_NAMESERVERS = env_list("LOCKBOX_DNS_NAMESERVERS", default=[])
LOCKBOX_DNS_TIMEOUT = env_int("LOCKBOX_DNS_TIMEOUT_MS", 3000, min_value=100,
                              max_value=30_000) / 1000
