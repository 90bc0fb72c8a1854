"""Strict readers for configuration in environment variables.

Every setting that comes from the environment goes through one of these helpers, so a bad value
stops start-up with a message that names the variable, instead of surfacing later as a confusing
error (or, worse, as a silently insecure default).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Collection, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from dj_database_url import DBConfig

T = TypeVar("T")


class _Missing(enum.Enum):
    """No default: the variable is required. An enum member, so a type checker can tell it apart
    from every value a caller may pass as a default."""

    MISSING = enum.auto()


_MISSING = _Missing.MISSING
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class EnvError(ImproperlyConfigured):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"Environment variable {name}: {problem}")
        self.name = name


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _fallback(name: str, default: T | _Missing) -> T:
    """The default of a variable that is unset or blank; without one, the variable is required."""
    if isinstance(default, _Missing):
        raise EnvError(name, "is required but not set")
    return default


def env_str(name: str, default: T | _Missing = _MISSING) -> str | T:
    value = _raw(name)
    return _fallback(name, default) if value is None else value


def env_bool(name: str, default: T | _Missing = _MISSING) -> bool | T:
    value = _raw(name)
    if value is None:
        return _fallback(name, default)
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise EnvError(name, f"expected true or false, got {value!r}")


def env_int(name: str, default: T | _Missing = _MISSING, *, min_value: int | None = None,
            max_value: int | None = None) -> int | T:
    value = _raw(name)
    if value is None:
        return _fallback(name, default)
    try:
        number = int(value)
    except ValueError:
        raise EnvError(name, f"expected a whole number, got {value!r}") from None
    if min_value is not None and number < min_value:
        raise EnvError(name, f"must be at least {min_value}, got {number}")
    if max_value is not None and number > max_value:
        raise EnvError(name, f"must be at most {max_value}, got {number}")
    return number


def env_hours(name: str, default_hours: int, *, max_hours: int) -> timedelta:
    """A positive number of hours, returned as a timedelta."""
    return timedelta(hours=env_int(name, default_hours, min_value=1, max_value=max_hours))


@overload
def env_list(name: str, default: None) -> list[str] | None: ...
@overload
def env_list(name: str, default: Iterable[str] | _Missing = _MISSING) -> list[str]: ...
def env_list(name: str, default: Iterable[str] | _Missing | None = _MISSING) -> list[str] | None:
    """A comma-separated list; empty items are an error, not silently dropped."""
    value = _raw(name)
    if value is None:
        fallback = _fallback(name, default)
        return list(fallback) if fallback is not None else None
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise EnvError(name, f"has an empty item in {value!r}")
    return items


def env_choice(name: str, choices: Collection[str], default: T | _Missing = _MISSING) -> str | T:
    value = _raw(name)
    if value is None:
        return _fallback(name, default)
    if value not in choices:
        raise EnvError(name, f"must be one of {', '.join(sorted(choices))}, got {value!r}")
    return value


def env_database(name: str, default: str | _Missing = _MISSING) -> DBConfig:
    """A database URL (postgres://, sqlite:///...) parsed by dj-database-url."""
    import dj_database_url

    raw = _raw(name)
    value = _fallback(name, default) if raw is None else raw
    try:
        config = dj_database_url.parse(value, conn_max_age=0)
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise EnvError(name, f"is not a usable database URL ({exc})") from None
    if not config.get("ENGINE"):
        raise EnvError(name, f"names no supported database engine in {value!r}")
    return config


REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"
LOCMEM_CACHE = "django.core.cache.backends.locmem.LocMemCache"


def env_cache(name: str, default: str | _Missing = _MISSING) -> dict[str, Any]:
    """A cache URL: redis://, rediss:// or unix:// (a Redis every process shares), or locmem://
    (this process's memory only, for one-process development and tests).

    Redis is asked with a time limit: a hung cache gives an error in about a second, not a hung
    sign-in.
    """
    raw = _raw(name)
    value = _fallback(name, default) if raw is None else raw
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme in ("redis", "rediss", "unix"):
        return {"BACKEND": REDIS_CACHE, "LOCATION": value, "KEY_PREFIX": "lockbox",
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
    if value == "locmem://":
        return {"BACKEND": LOCMEM_CACHE}
    raise EnvError(name, f"must be a redis://, rediss://, unix:// or locmem:// URL, got {value!r}")
