"""Reads that can wait go to the replica; everything else stays on the primary.

A read goes to the "replica" database only when all of these hold:

1. a replica is configured (DATABASE_REPLICA_URL; unset, everything is on the primary);
2. the code asking marked its reads as tolerating lag (`reads_may_lag`): the audit search and
   export, the compliance dashboards, the SIEM audit feed, the history and list pages. The access
   check, transitions, step-up, sign-in and every guard that decides who may see a page are
   never marked, so they read the primary;
3. the primary is not inside a transaction (a read in a transaction, select_for_update
   included, belongs with its writes);
4. the replica answered a check in bounded time (LOCKBOX_REPLICA_CHECK_TIMEOUT_MS) and its lag
   is at most LOCKBOX_REPLICA_MAX_LAG_SECONDS;
5. "read your writes": it has replayed the primary's WAL past the person's own last write
   (`ReadYourWritesMiddleware` keeps that position in the session after every change they make).

The check's answer is reused for a second per process (a replica that could not be reached, for
a few seconds), so a page pays for at most one check and usually none. A reused answer can only
be more pessimistic than the truth about what the replica has replayed, never less.
Every write goes to the primary, and migrations never run on the replica.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import DatabaseError, connections

from lockbox_portal.db import limits

log = logging.getLogger(__name__)

PRIMARY, REPLICA = "default", "replica"
# How long a process reuses what it learned about the replica.
CHECK_EVERY = 1.0
RETRY_UNREACHABLE_AFTER = 5.0

P = ParamSpec("P")
R = TypeVar("R")

_may_lag: ContextVar[bool] = ContextVar("lockbox_reads_may_lag", default=False)
# The primary's WAL position (as a number) after the current person's last write, if any.
_floor: ContextVar[int | None] = ContextVar("lockbox_read_floor", default=None)


@contextmanager
def reads_may_lag() -> Iterator[None]:
    """Reads inside may be served by the replica (see the module's docstring for when)."""
    token = _may_lag.set(True)
    try:
        yield
    finally:
        _may_lag.reset(token)


def lag_tolerant(view: Callable[P, R]) -> Callable[P, R]:
    """Decorate a view (under its guard, so the guard still reads the primary): its reads may
    be served by the replica."""

    @wraps(view)
    def tolerant(*args: P.args, **kwargs: P.kwargs) -> R:
        with reads_may_lag():
            return view(*args, **kwargs)

    return tolerant


@contextmanager
def reads_after(position: str | None) -> Iterator[None]:
    """Reads inside must show at least what the primary had at WAL `position` ('16/B374D848')."""
    token = _floor.set(parse_lsn(position) if position else None)
    try:
        yield
    finally:
        _floor.reset(token)


def parse_lsn(position: str) -> int:
    high, low = position.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def primary_position() -> str | None:
    """The primary's current WAL position, or None when there is no replica to compare with."""
    if not replica_configured():
        return None
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        row = cursor.fetchone()
    return str(row[0]) if row else None


@dataclass(frozen=True)
class ReplicaState:
    """What one check of the replica found: how far it has replayed and how far behind it is;
    both None when it could not be asked or is not streaming."""

    replayed: int | None
    lag: float | None
    checked_at: float

    def fresh(self, now: float) -> bool:
        keep = CHECK_EVERY if self.lag is not None else RETRY_UNREACHABLE_AFTER
        return now - self.checked_at < keep


_LAG_SQL = """
SELECT pg_last_wal_replay_lsn()::text,
       CASE WHEN pg_last_wal_receive_lsn() IS NULL THEN NULL
            WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
            ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
       END
"""
_state: ReplicaState | None = None
_state_lock = threading.Lock()


def _measure() -> ReplicaState:
    """Ask the replica, within the check's time limit. Lag is 0 when it has replayed all it
    received, else the age of the last transaction it replayed (an overestimate when the primary
    was idle before, which errs towards the primary). Not streaming (or not a replica): None."""
    now = time.monotonic()
    connection = connections[REPLICA]
    try:
        with limits.within(settings.LOCKBOX_REPLICA_CHECK_TIMEOUT), connection.cursor() as cursor:
            cursor.execute(_LAG_SQL)
            row = cursor.fetchone()
    except DatabaseError as exc:
        log.warning("The replica could not be asked for its lag (%s); reads go to the primary.",
                    type(exc).__name__)
        with suppress(DatabaseError):
            connection.close()
        return ReplicaState(None, None, now)
    replayed, lag = row if row else (None, None)
    if replayed is None or lag is None:
        return ReplicaState(None, None, now)
    return ReplicaState(parse_lsn(str(replayed)), float(lag), now)


def replica_state() -> ReplicaState | None:
    """What this process last learned about the replica, checking again when that is stale;
    None when no replica is configured."""
    global _state
    if not replica_configured():
        return None
    now = time.monotonic()
    state = _state
    if state is not None and state.fresh(now):
        return state
    with _state_lock:
        if _state is None or not _state.fresh(now):
            _state = _measure()
        return _state


def forget_replica_state() -> None:
    """Check the replica again on the next read (tests, and after an operator's change)."""
    global _state
    _state = None


def replica_lag_seconds() -> float | None:
    """How far behind the primary the replica is, in seconds (metric
    lockbox_replica_lag_seconds); None when there is no replica or it cannot be asked."""
    state = replica_state()
    return None if state is None else state.lag


def _replica_usable() -> bool:
    state = replica_state()
    if state is None or state.lag is None or state.replayed is None:
        return False
    if state.lag > settings.LOCKBOX_REPLICA_MAX_LAG_SECONDS:
        return False
    floor = _floor.get()
    return floor is None or state.replayed >= floor


class ReplicaRouter:
    """settings.DATABASE_ROUTERS: see the module's docstring."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        if not _may_lag.get() or not replica_configured():
            return PRIMARY
        if connections[PRIMARY].in_atomic_block:
            return PRIMARY
        return REPLICA if _replica_usable() else PRIMARY

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # Both aliases hold the same rows.
        return True

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None,
                      **hints: Any) -> bool | None:
        return False if db == REPLICA else None
