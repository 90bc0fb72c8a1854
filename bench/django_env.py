"""The environment every benchmark process runs Django with: production settings, PostgreSQL."""

import base64
import os
import secrets

# BENCH_PORT moves the benchmark server when another run holds the default port.
BENCH_PORT = int(os.environ.get("BENCH_PORT", "8765"))


def django_env(database):
    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.production",
        "SECRET_KEY": "bench-only-" + "k" * 60,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DATABASE_URL": base.rstrip("/") + "/" + database,
        "DATABASE_CONN_MAX_AGE": "600",
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15"),
        # Production refuses to start without a shared cache (sign-in limits); nothing here
        # signs in through the form, so it is not reached.
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/14"),
        "LOCKBOX_PORTAL_URL": f"http://127.0.0.1:{BENCH_PORT}",
        "LOCKBOX_INTERNAL_URL": f"http://127.0.0.1:{BENCH_PORT}",
        "LOCKBOX_SIGNING_KEY": os.environ.get(
            "BENCH_SIGNING_KEY", base64.b64encode(secrets.token_bytes(32)).decode()),
        "LOCKBOX_SITE": "all",
        "LOCKBOX_BENCH_BASELINE": "true",
        # Plain HTTP on loopback: no TLS redirect, no HSTS; everything else as deployed.
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "LOCKBOX_BEHIND_PROXY": "false",
        "LOCKBOX_LOG_LEVEL": "WARNING",
    })
    return env
