"""Tidying the states that time has already decided."""

from dataclasses import dataclass

from django.db.models import Q

from approvals import transitions
from approvals.errors import TransitionError
from approvals.models import AccessRequest, State
from lockbox_portal import clock


@dataclass
class SweepResult:
    expired: int = 0
    completed: int = 0
    skipped: int = 0

    def __str__(self):
        return (f"expired {self.expired} pending request(s), completed {self.completed} "
                f"grant(s), skipped {self.skipped} already handled")


def sweep(*, now=None):
    """Record what time has decided. Safe to run twice, and concurrently.

    1. Expire every pending request whose approval window has lapsed.
    2. Complete every grant whose time box has ended.
    Each row goes through approvals.transitions under its own row lock. A row that another sweep
    (or a person) moved first is refused there and counted as skipped, so no event is written
    twice. Access itself never waits for this: the access check reads the timestamps.
    """
    now = now or clock.now()
    result = SweepResult()
    lapsed = AccessRequest.objects.filter(
        Q(state=State.PENDING_INTERNAL, internal_expires_at__lte=now)
        | Q(state=State.PENDING_CUSTOMER, customer_expires_at__lte=now)
    ).order_by("created_at")
    ended = AccessRequest.objects.filter(state=State.APPROVED, access_ends_at__lte=now)
    for rows, move, counter in ((lapsed, transitions.expire, "expired"),
                                (ended.order_by("access_ends_at"), transitions.complete,
                                 "completed")):
        for pk in list(rows.values_list("pk", flat=True)):
            try:
                move(request=pk, now=now)
            except TransitionError:
                result.skipped += 1
            else:
                setattr(result, counter, getattr(result, counter) + 1)
    return result
