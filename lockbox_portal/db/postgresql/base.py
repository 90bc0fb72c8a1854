"""Django's PostgreSQL backend, with a time limit on every wait (lockbox_portal.db.limits).

Two seams of psycopg 3 carry it:
- `Connection.wait` is the one place a connection waits for the server (every query, commit,
  rollback, COPY block and Django's health check go through it): it is given a timeout, and a
  connection that timed out is closed, since its protocol state is unknown.
- Connecting happens on a helper thread that the caller stops waiting for at the limit;
  libpq's own connect_timeout (which cannot be under 2 s) then ends that thread, which closes
  whatever it got too late.

Once the database could not be heard, this process does not try again for
settings.LOCKBOX_DB_RETRY_AFTER seconds: meanwhile every request that needs a new connection
fails at once, instead of each one spending its whole time limit on a path known to be dead.
Workers stay free to answer, and a flood of access checks does not queue up behind the timeouts.
"""

from __future__ import annotations

import math
import threading
import time
from types import ModuleType
from typing import Any, TypeVar, cast

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base
from psycopg.abc import PQGen

from lockbox_portal.db import limits

# What psycopg raises when a wait passes its timeout (an OperationalError). It is private; the
# tests in tests/ops/test_bounded_time.py fail if a psycopg upgrade changes it.
_WaitTimeout = psycopg.errors._WaitTimeout

RV = TypeVar("RV")
Target = tuple[str | None, str | None, str | None]


class BoundedConnection(psycopg.Connection):
    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        limit = limits.remaining()
        if limit is not None:
            timeout = limit if timeout is None else min(timeout, limit)
        try:
            return super().wait(gen, interval=interval, timeout=timeout)
        except _WaitTimeout:
            _unreachable(_target(self.info.get_parameters()))
            self.close()
            raise psycopg.OperationalError(
                f"The database did not answer within {timeout:.1f} s; the connection was "
                "dropped.") from None


# Per server: time.monotonic() before which this process does not try to connect to it again.
_retry_at: dict[Target, float] = {}


def _target(params: dict[str, Any]) -> Target:
    return (params.get("host"), params.get("port"), params.get("dbname"))


def _unreachable(target: Target) -> None:
    _retry_at[target] = time.monotonic() + settings.LOCKBOX_DB_RETRY_AFTER


def connect(**params: Any) -> BoundedConnection:
    target = _target(params)
    wait = _retry_at.get(target, 0.0) - time.monotonic()
    if wait > 0:
        raise psycopg.OperationalError(
            f"The database could not be heard a moment ago; trying again in {wait:.1f} s.")
    limit = limits.connect_limit()
    if limit is None:
        return BoundedConnection.connect(**params)
    params.setdefault("connect_timeout", max(2, math.ceil(limit)))
    outcome: dict[str, Any] = {}
    lock, done = threading.Lock(), threading.Event()

    def attempt() -> None:
        try:
            made = BoundedConnection.connect(**params)
        except BaseException as error:  # handed to the caller, who may have gone
            outcome["error"] = error
            done.set()
            return
        with lock:
            if outcome.get("abandoned"):
                made.close()
                return
            outcome["connection"] = made
        done.set()

    threading.Thread(target=attempt, name="lockbox-db-connect", daemon=True).start()
    done.wait(limit)
    with lock:
        if "connection" in outcome:
            return outcome["connection"]
        if "error" in outcome:
            raise outcome["error"]
        outcome["abandoned"] = True
    _unreachable(target)
    raise psycopg.OperationalError(f"Could not connect to the database within {limit:.1f} s.")


class _Psycopg:
    """psycopg as Django's backend sees it (`self.Database`), connecting with limits."""

    connect = staticmethod(connect)

    def __getattr__(self, name: str) -> Any:
        return getattr(psycopg, name)


class DatabaseWrapper(base.DatabaseWrapper):
    # Django reads only attributes from it (connect, the exception classes), which _Psycopg has;
    # the stubs type it as the psycopg module itself.
    Database = cast(ModuleType, _Psycopg())
