"""The one place Lockbox reads the wall clock, and reads a time someone else wrote.

Services take `now=` so tests can move time; when they are not given it, they call `now()` here.
"""

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime


def now() -> datetime:
    return timezone.now()


def parse_instant(text: object) -> datetime | None:
    """An ISO 8601 / RFC 3339 moment with its offset, or None for anything else.

    Django's parse_datetime answers None for text that is not shaped like a time but raises
    ValueError for a well-shaped impossible one ("2026-02-30T10:00:00Z", "T25:00:00Z"); callers
    that read input from outside must treat both the same: as bad input, never as a crash. A time
    without an offset is refused too: it would silently mean the server's zone; so is one that
    cannot be expressed in UTC.
    """
    if not isinstance(text, str) or len(text) > 64:
        return None
    try:
        moment = parse_datetime(text.strip())
    except ValueError:
        return None
    if moment is None or moment.tzinfo is None:
        return None
    try:
        # 0001-01-01T00:00+05:00 exists only in its own zone: before year 1 in UTC, where any
        # comparison or storage would overflow.
        moment.astimezone(UTC)
    except OverflowError:
        return None
    return moment
