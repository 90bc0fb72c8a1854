"""Answers the data plane may reuse, per process, and the wait that keeps taking access away
safe while they are reused.

An answer is trusted for LOCKBOX_ACCESS_CACHE seconds from the moment its query began, and only
to say yes: a no is always asked of the database again, so a grant approved a moment ago works
at once. Taking access away waits out the same interval after its commit (`access_taken_away`)
before it returns, so by the time anyone is told "revoked", no process anywhere holds an answer
from before: the very next check, in any process on any host, reads the database. Ends of grants
need no waiting: every answer compares the grant's end with the time of the check.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction

from approvals.access_query import TokenAndGrants

# (token prefix, engineer e-mail, tenant slug): what one query was asked.
Key = tuple[str, str, str]

MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Kept:
    valid_until: float  # time.monotonic()
    found: TokenAndGrants


_answers: dict[Key, _Kept] = {}
_touched: dict[int, datetime] = {}


def recall(key: Key) -> TokenAndGrants | None:
    """What the query said for `key`, while it may still be trusted."""
    kept = _answers.get(key)
    return kept.found if kept is not None and kept.valid_until > time.monotonic() else None


def keep(key: Key, found: TokenAndGrants, *, asked_at: float) -> None:
    """Keep what a query begun at `asked_at` (time.monotonic()) said, when it said yes."""
    if settings.LOCKBOX_ACCESS_CACHE <= 0:
        return
    if len(_answers) >= MAX_ENTRIES:
        _answers.clear()
    _answers[key] = _Kept(asked_at + settings.LOCKBOX_ACCESS_CACHE, found)


def last_touched(token_id: int) -> datetime | None:
    """When this process last wrote the token's last use, if it did."""
    return _touched.get(token_id)


def note_touched(token_id: int, now: datetime) -> None:
    if len(_touched) >= MAX_ENTRIES:
        _touched.clear()
    _touched[token_id] = now


# Numbers the changes that take access away, per thread: each thread has its own database
# connection, so its own transactions and its own after-commit work.
_changes = threading.local()


def access_taken_away() -> None:
    """Call inside any transaction that takes access away (a revocation, a release, a token
    revoked, its owner switched off). Once it commits, wait until every answer a process may
    have kept from before has lapsed, so the next check anywhere reads the database."""
    if settings.LOCKBOX_ACCESS_CACHE <= 0:
        return
    _changes.asked = getattr(_changes, "asked", 0) + 1
    transaction.on_commit(partial(_wait_out_kept_answers, _changes.asked), robust=True)


def _wait_out_kept_answers(change: int) -> None:
    """One wait covers every change in a transaction. After-commit work runs once the outermost
    transaction has committed, so every change this thread asked for before a wait begins is
    committed (or rolled back) by then: that wait outlasts every answer kept from before them,
    and their own waits may return at once."""
    if change <= getattr(_changes, "covered", 0):
        return
    _changes.covered = _changes.asked
    time.sleep(settings.LOCKBOX_ACCESS_CACHE)
