"""How long Lockbox waits for its database, whatever the database or the network does.

A database that is down answers at once (connection refused). One behind a frozen network path
(a proxy that stops forwarding, a dropped route) never answers at all, and without limits a web
worker would wait for it for minutes. So every wait has an end:

1. Connecting: at most DATABASE_CONNECT_TIMEOUT_MS (settings.LOCKBOX_DB_CONNECT_TIMEOUT).
2. Each statement: the server cancels it after DATABASE_STATEMENT_TIMEOUT_MS; the client waits
   for any one answer from the server at most that long plus a grace (settings.LOCKBOX_DB_WAIT),
   then drops the connection, because a server that has not cancelled by then cannot be heard.
3. A deadline for a whole piece of work, `within(seconds)`: the access check and /healthz
   answer "no" in bounded time, so every connect, health check and query inside shares it.

`unbounded_statements()` lifts the server's limit for work that legitimately runs long: an
export while it streams, a migration, a bulk load.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import connection

_local = threading.local()
P = ParamSpec("P")
R = TypeVar("R")


def remaining() -> float | None:
    """Seconds this thread may still wait for one answer from the database; None: no limit."""
    limit = None if getattr(_local, "unlimited", False) else settings.LOCKBOX_DB_WAIT
    deadline = getattr(_local, "deadline", None)
    if deadline is not None:
        left = max(deadline - time.monotonic(), 0.0)
        limit = left if limit is None else min(limit, left)
    return limit


def connect_limit() -> float | None:
    limit, left = settings.LOCKBOX_DB_CONNECT_TIMEOUT, remaining()
    if left is None:
        return limit
    return left if limit is None else min(limit, left)


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Everything the database is asked inside finishes, or fails, within `seconds`."""
    outer = getattr(_local, "deadline", None)
    deadline = time.monotonic() + seconds
    _local.deadline = deadline if outer is None else min(outer, deadline)
    try:
        yield
    finally:
        _local.deadline = outer


def deadline(setting: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a view: everything it asks the database shares one deadline, the number of
    seconds in settings.<setting> (read at each call, so tests and operators can change it)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def bounded(*args: P.args, **kwargs: P.kwargs) -> R:
            with within(getattr(settings, setting)):
                return view(*args, **kwargs)

        return bounded

    return decorate


@contextmanager
def unbounded_statements(*, wait_for_answers: bool = False) -> Iterator[None]:
    """Let the statements inside run as long as they need: the server's statement timeout is
    lifted. An export that streams keeps the client's limit on each answer (rows keep coming);
    `wait_for_answers` lifts that too, for work whose one statement may rightly say nothing for
    minutes (a migration building an index, a bulk load)."""
    outer = getattr(_local, "unlimited", False)
    _local.unlimited = outer or wait_for_answers
    try:
        if connection.vendor != "postgresql" or not settings.LOCKBOX_DB_STATEMENT_TIMEOUT_MS:
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
        try:
            yield
        finally:
            if connection.connection is not None and not connection.connection.closed:
                with connection.cursor() as cursor:
                    cursor.execute("RESET statement_timeout")
    finally:
        _local.unlimited = outer


def lift_for_this_process() -> None:
    """For a command whose whole job is long bulk work (bench_seed): connections this process
    opens from now on, and those of processes it forks, have no statement timeout and no limit
    on waiting for an answer."""
    options = connection.settings_dict.setdefault("OPTIONS", {})
    if "options" in options:
        options["options"] = re.sub(r"-c statement_timeout=\d+\s*", "", options["options"]).strip()
    settings.LOCKBOX_DB_WAIT = None
    connection.close()
