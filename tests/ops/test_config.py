"""Configuration comes only from the environment, and a bad value stops start-up by name."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest

from lockbox_portal import env
from tests.processes import ROOT

GOOD_PRODUCTION = {
    "SECRET_KEY": "k" * 60,
    "ALLOWED_HOSTS": "lockbox.example.com",
    "DATABASE_URL": "postgres://lockbox@db.internal:5432/lockbox",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "CACHE_URL": "redis://redis.internal:6379/1",
    "LOCKBOX_PORTAL_URL": "https://lockbox.example.com",
    "LOCKBOX_INTERNAL_URL": "https://lockbox.internal.example.com",
    "LOCKBOX_SIGNING_KEY": "dGVzdC1vbmx5LXNpZ25pbmcta2V5LTMyLWJ5dGVzISE=",
}


def start(settings, **variables):
    """Start Django in a fresh process with only these variables, as a deployment would."""
    environment = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": settings, **variables}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60,
    )


def test_production_starts_with_good_values():
    result = start("lockbox_portal.settings.production", **GOOD_PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"


@pytest.mark.parametrize("variable,value,message", [
    ("SECRET_KEY", None, "Environment variable SECRET_KEY: is required but not set"),
    ("SECRET_KEY", "short", "Environment variable SECRET_KEY: must be a random value"),
    ("SECRET_KEY", "django-insecure-" + "x" * 60, "SECRET_KEY: must be a random value"),
    ("ALLOWED_HOSTS", None, "Environment variable ALLOWED_HOSTS: is required"),
    ("ALLOWED_HOSTS", "a.example.com,,b", "ALLOWED_HOSTS: has an empty item"),
    ("DATABASE_URL", None, "Environment variable DATABASE_URL: is required"),
    ("DATABASE_URL", "nonsense", "Environment variable DATABASE_URL: "),
    ("CELERY_BROKER_URL", None, "Environment variable CELERY_BROKER_URL: is required"),
    ("LOCKBOX_PORTAL_URL", None, "Environment variable LOCKBOX_PORTAL_URL: is required"),
    ("LOCKBOX_SIGNING_KEY", None, "Environment variable LOCKBOX_SIGNING_KEY: is required"),
    ("EMAIL_PORT", "smtp", "Environment variable EMAIL_PORT: expected a whole number"),
    ("EMAIL_PORT", "70000", "EMAIL_PORT: must be at most 65535"),
    ("EMAIL_USE_TLS", "sometimes", "EMAIL_USE_TLS: expected true or false"),
    ("LOCKBOX_SITE", "public", "LOCKBOX_SITE: must be one of all, customer, internal"),
    ("LOCKBOX_INTERNAL_APPROVAL_WINDOW_HOURS", "0", "must be at least 1"),
    ("LOCKBOX_IDLE_TIMEOUT_MINUTES", "1", "LOCKBOX_IDLE_TIMEOUT_MINUTES: must be at least 5"),
    ("LOCKBOX_WEBAUTHN_ORIGINS", "https://a.example,", "LOCKBOX_WEBAUTHN_ORIGINS: has an empty"),
    ("CACHE_URL", None, "Environment variable CACHE_URL: is required"),
    ("CACHE_URL", "locmem://", "CACHE_URL: must name a Redis"),
    ("CACHE_URL", "memcached://m:11211", "CACHE_URL: must be a redis://"),
    ("LOCKBOX_TRUSTED_PROXY_COUNT", "-1", "LOCKBOX_TRUSTED_PROXY_COUNT: must be at least 0"),
])
def test_a_bad_value_stops_production_start_up_naming_the_variable(variable, value, message):
    variables = dict(GOOD_PRODUCTION)
    if value is None:
        variables.pop(variable, None)
    else:
        variables[variable] = value
    result = start("lockbox_portal.settings.production", **variables)
    assert result.returncode != 0
    assert "lockbox_portal.env.EnvError" in result.stderr
    assert message in result.stderr


def _production_value(expression, **variables):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings;"
         f"print({expression})"],
        cwd=ROOT, env={"PATH": os.environ["PATH"],
                       "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.production",
                       **GOOD_PRODUCTION, **variables},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("variables,count", [
    ({}, "1"),  # behind the README's one proxy, by default
    ({"LOCKBOX_BEHIND_PROXY": "false"}, "0"),
    ({"LOCKBOX_TRUSTED_PROXY_COUNT": "2"}, "2"),
])
def test_production_counts_the_client_the_proxies_saw(variables, count):
    assert _production_value("settings.ALLAUTH_TRUSTED_PROXY_COUNT", **variables) == count


def test_production_keeps_sign_in_counts_in_the_shared_redis():
    assert _production_value("settings.CACHES['default']['BACKEND'], "
                             "settings.CACHES['default']['LOCATION']") == (
        "django.core.cache.backends.redis.RedisCache redis://redis.internal:6379/1")


def test_local_settings_need_no_variables_and_use_sqlite():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings;"
         "print(settings.DEBUG, settings.DATABASES['default']['ENGINE'],"
         " settings.CELERY_TASK_ALWAYS_EAGER, settings.LOCKBOX_SITE)"],
        cwd=ROOT, env={"PATH": os.environ["PATH"],
                       "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.local"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.stdout.split() == ["True", "django.db.backends.sqlite3", "True", "all"]


def test_helpers_read_strictly(monkeypatch):
    monkeypatch.setenv("X_LIST", " a , b ")
    monkeypatch.setenv("X_BOOL", "Off")
    monkeypatch.setenv("X_HOURS", "6")
    monkeypatch.setenv("X_BLANK", "   ")
    assert env.env_list("X_LIST") == ["a", "b"]
    assert env.env_bool("X_BOOL") is False
    assert env.env_hours("X_HOURS", 12, max_hours=24) == timedelta(hours=6)
    assert env.env_str("X_BLANK", default="fallback") == "fallback"
    with pytest.raises(env.EnvError, match="X_BLANK: is required"):
        env.env_str("X_BLANK")


def test_without_a_replica_url_there_is_only_the_primary():
    assert _production_value("sorted(settings.DATABASES)") == "['default']"


def test_a_replica_url_adds_a_bounded_replica_that_tests_never_create():
    shown = _production_value(
        "settings.DATABASES['replica']['HOST'], settings.DATABASES['replica']['ENGINE'], "
        "settings.DATABASES['replica']['CONN_MAX_AGE'], "
        "settings.DATABASES['replica']['TEST']['MIRROR'], "
        "'statement_timeout' in settings.DATABASES['replica']['OPTIONS']['options']",
        DATABASE_REPLICA_URL="postgres://lockbox@replica.internal:5432/lockbox")
    assert shown == "replica.internal lockbox_portal.db.postgresql 60 default True"


def test_a_replica_needs_postgresql():
    result = start("lockbox_portal.settings.production",
                   **{**GOOD_PRODUCTION, "DATABASE_URL": "sqlite:////tmp/x.sqlite3",
                      "DATABASE_REPLICA_URL": "sqlite:////tmp/y.sqlite3"})
    assert result.returncode != 0
    assert "DATABASE_REPLICA_URL: needs PostgreSQL" in result.stderr
