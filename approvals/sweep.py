"""Tidying the states that time has already decided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from approvals import selectors, transitions
from approvals.errors import TransitionError
from approvals.models import AccessRequest
from lockbox_portal import clock


@dataclass
class SweepResult:
    expired: int = 0
    completed: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return (f"expired {self.expired} pending request(s), completed {self.completed} "
                f"grant(s), skipped {self.skipped} already handled")


def sweep(*, now: datetime | None = None) -> SweepResult:
    """Record what time has decided. Safe to run twice, and concurrently.

    1. Expire every pending request whose approval window has lapsed.
    2. Complete every grant whose time box has ended.
    Each row goes through approvals.transitions under its own row lock. A row that another sweep
    (or a person) moved first is refused there and counted as skipped, so no event is written
    twice. Access itself never waits for this: the access check reads the timestamps.
    """
    now = now or clock.now()
    result = SweepResult()
    lapsed = AccessRequest.objects.filter(selectors.lapsed(now)).order_by("created_at")
    ended = AccessRequest.objects.filter(selectors.run_out(now)).order_by("access_ends_at")
    for rows, move, counter in ((lapsed, transitions.expire, "expired"),
                                (ended, transitions.complete, "completed")):
        for pk in list(rows.values_list("pk", flat=True)):
            try:
                move(access_request=pk, now=now)
            except TransitionError:
                result.skipped += 1
            else:
                setattr(result, counter, getattr(result, counter) + 1)
    return result
