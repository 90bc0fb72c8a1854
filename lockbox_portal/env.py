"""Strict readers for configuration in environment variables.

Every setting that comes from the environment goes through one of these helpers, so a bad value
stops start-up with a message that names the variable, instead of surfacing later as a confusing
error (or, worse, as a silently insecure default).
"""

import os
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

_MISSING = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class EnvError(ImproperlyConfigured):
    def __init__(self, name, problem):
        super().__init__(f"Environment variable {name}: {problem}")
        self.name = name


def _raw(name, default):
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        if default is _MISSING:
            raise EnvError(name, "is required but not set")
        return None
    return value.strip()


def env_str(name, default=_MISSING):
    value = _raw(name, default)
    return default if value is None else value


def env_bool(name, default=_MISSING):
    value = _raw(name, default)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise EnvError(name, f"expected true or false, got {value!r}")


def env_int(name, default=_MISSING, *, min_value=None, max_value=None):
    value = _raw(name, default)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise EnvError(name, f"expected a whole number, got {value!r}") from None
    if min_value is not None and number < min_value:
        raise EnvError(name, f"must be at least {min_value}, got {number}")
    if max_value is not None and number > max_value:
        raise EnvError(name, f"must be at most {max_value}, got {number}")
    return number


def env_hours(name, default_hours, *, max_hours):
    """A positive number of hours, returned as a timedelta."""
    return timedelta(hours=env_int(name, default_hours, min_value=1, max_value=max_hours))


def env_list(name, default=_MISSING):
    """A comma-separated list; empty items are an error, not silently dropped."""
    value = _raw(name, default)
    if value is None:
        return list(default) if default is not None else None
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise EnvError(name, f"has an empty item in {value!r}")
    return items


def env_choice(name, choices, default=_MISSING):
    value = _raw(name, default)
    if value is None:
        return default
    if value not in choices:
        raise EnvError(name, f"must be one of {', '.join(sorted(choices))}, got {value!r}")
    return value


def env_database(name, default=_MISSING):
    """A database URL (postgres://, sqlite:///...) parsed by dj-database-url."""
    import dj_database_url

    value = _raw(name, default)
    if value is None:
        value = default
    try:
        config = dj_database_url.parse(value, conn_max_age=0)
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise EnvError(name, f"is not a usable database URL ({exc})") from None
    if not config.get("ENGINE"):
        raise EnvError(name, f"names no supported database engine in {value!r}")
    return config


REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"
LOCMEM_CACHE = "django.core.cache.backends.locmem.LocMemCache"


def env_cache(name, default=_MISSING):
    """A cache URL: redis://, rediss:// or unix:// (a Redis every process shares), or locmem://
    (this process's memory only, for one-process development and tests).

    Redis is asked with a time limit: a hung cache gives an error in about a second, not a hung
    sign-in.
    """
    value = _raw(name, default)
    if value is None:
        value = default
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme in ("redis", "rediss", "unix"):
        return {"BACKEND": REDIS_CACHE, "LOCATION": value, "KEY_PREFIX": "lockbox",
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
    if value == "locmem://":
        return {"BACKEND": LOCMEM_CACHE}
    raise EnvError(name, f"must be a redis://, rediss://, unix:// or locmem:// URL, got {value!r}")
