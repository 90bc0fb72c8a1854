"""Keyset pages of requests, newest first, for every API surface.

A page token names the last row of the previous page, (created_at, id), so page 1,000 costs
what page 1 does and rows added meanwhile never shift a page. The native API shows the token as
text, Google and Azure as base64 (their clients treat it as opaque either way); reading one we
did not write is None, which each surface answers with a 400 in its own words.
"""

import base64
import binascii
import uuid

from django.db.models import Q

from lockbox_portal import clock


def token(row, *, encoded=True):
    text = f"{row.created_at.isoformat()}|{row.pk}"
    return base64.urlsafe_b64encode(text.encode()).decode() if encoded else text


def read_token(text, *, encoded=True):
    """(created_at, id) from a token `token` wrote, else None."""
    try:
        if encoded:
            text = base64.urlsafe_b64decode(text.encode()).decode()
        created, _, pk = text.partition("|")
        moment, pk = clock.parse_instant(created), uuid.UUID(pk)
    except (binascii.Error, UnicodeError, ValueError, AttributeError):
        return None
    return None if moment is None else (moment, pk)


def after(rows, key):
    """The rows that come after `key` (an older time, or the same time and a smaller id)."""
    moment, pk = key
    return rows.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=pk))


def newest_first(rows, size):
    """One page plus one row, to tell whether another page follows."""
    return list(rows.order_by("-created_at", "-id")[:size + 1])
