"""Keyset pages of requests, newest first, for every API surface.

A page token names the last row of the previous page, (created_at, id), so page 1,000 costs
what page 1 does and rows added meanwhile never shift a page. The native API shows the token as
text, Google and Azure as base64 (their clients treat it as opaque either way); reading one we
did not write is None, which each surface answers with a 400 in its own words.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import TypeVar

from django.db.models import Q, QuerySet

from approvals.models import AccessRequest
from lockbox_portal import clock

R = TypeVar("R", bound=AccessRequest)
# Where a page ends: the last row's (created_at, id).
Key = tuple[datetime, uuid.UUID]


def token(row: AccessRequest, *, encoded: bool = True) -> str:
    text = f"{row.created_at.isoformat()}|{row.pk}"
    return base64.urlsafe_b64encode(text.encode()).decode() if encoded else text


def read_token(text: str, *, encoded: bool = True) -> Key | None:
    """(created_at, id) from a token `token` wrote, else None."""
    try:
        if encoded:
            text = base64.urlsafe_b64decode(text.encode()).decode()
        created, _, raw_pk = text.partition("|")
        moment, pk = clock.parse_instant(created), uuid.UUID(raw_pk)
    except (binascii.Error, UnicodeError, ValueError, AttributeError):
        return None
    return None if moment is None else (moment, pk)


def after(rows: QuerySet[R], key: Key) -> QuerySet[R]:
    """The rows that come after `key` (an older time, or the same time and a smaller id)."""
    moment, pk = key
    return rows.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=pk))


def newest_first(rows: QuerySet[R], size: int) -> list[R]:
    """One page plus one row, to tell whether another page follows."""
    return list(rows.order_by("-created_at", "-id")[:size + 1])
