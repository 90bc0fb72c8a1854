"""Running as the database's owner (DATABASE_OWNER_URL) for migrations and grants.

The app's own connection (DATABASE_URL) is the runtime role. Commands that change the schema
swap the "default" connection's credentials for the owner's while they run, so every
migration, and everything Django does around it, runs as the owner, on the same database.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import CommandError
from django.db import connections

_CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")


def runtime_role() -> str:
    role = connections["default"].settings_dict.get("USER")
    if not role:
        raise CommandError("DATABASE_URL names no user: the runtime role cannot be told apart.")
    return role


@contextmanager
def as_owner() -> Iterator[None]:
    """The default connection, as the owner while the block runs (unchanged when
    DATABASE_OWNER_URL is not set: then DATABASE_URL's role owns the schema)."""
    owner = settings.DATABASE_OWNER
    if owner is None:
        yield
        return
    connection = connections["default"]
    current = connection.settings_dict
    if connection.vendor != "postgresql" or "postgresql" not in owner["ENGINE"]:
        raise CommandError("DATABASE_OWNER_URL applies to PostgreSQL only; unset it here.")
    if owner["NAME"] != current["NAME"]:
        raise CommandError(f"DATABASE_OWNER_URL names database {owner['NAME']!r}, "
                           f"DATABASE_URL {current['NAME']!r}: they must be the same one.")
    if owner.get("USER") == current.get("USER"):
        raise CommandError("DATABASE_OWNER_URL and DATABASE_URL name the same role; the "
                           "runtime role must not own the tables.")
    saved = {key: current.get(key) for key in _CREDENTIALS}
    connection.close()
    current.update({key: owner.get(key) for key in _CREDENTIALS})
    current["OPTIONS"] = {**(saved["OPTIONS"] or {}), **(owner.get("OPTIONS") or {})}
    try:
        yield
    finally:
        connection.close()
        current.update(saved)
