"""Searching one chain. Callers pass a chain they have already checked the user may read."""

import re
import uuid

from django.db import connection
from django.db.models import BooleanField, CharField, Q, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from audit.models import AuditEvent


def search_events(chain, *, since=None, until=None, actor="", action="", request="", text="",
                  paged=False):
    """Events of one chain, or of every chain when `chain` is None (provider auditors only).

    `paged`: the rows are for keyset_page with fixed_fields, which walks the (chain, action,
    id) index from its end. The chain and the action are then held by a closed range rather
    than "=": PostgreSQL treats a column held equal to a constant as no part of the order, so
    ORDER BY chain, action, id became ORDER BY id, and it walked the whole table backwards by
    id hoping to meet the chain's rows soon; on a 5,000,000-event log where the newest 239,000
    events belonged to other tenants, that took 330 ms against 0.1 ms for the index walk
    (bench/README.md). The rows are the same either way. Not with free text: that search
    reads the (chain, search) GIN index, where a range is a slow partial match.
    """
    walk = paged and not text

    def held(field, value):
        return {f"{field}__range": (value, value)} if walk else {field: value}

    rows = AuditEvent.objects.all() if chain is None else AuditEvent.objects.filter(
        **held("chain", chain))
    if since:
        rows = rows.filter(occurred_at__gte=since)
    if until:
        rows = rows.filter(occurred_at__lt=until)
    if actor:
        rows = rows.filter(actor_email__icontains=actor)
    if action:
        rows = rows.filter(**held("action", action))
    if request:
        rows = _by_request(rows, request)
    if text:
        rows = _text_search(rows, text)
    return rows


def _text_search(rows, text):
    """On PostgreSQL, full-text search on the stored, GIN-indexed `search` column (migrations
    0004 and 0007): every word given
    must start a word of the event (so "mail" finds "mailbox"). Elsewhere, a substring match."""
    if connection.vendor == "postgresql":
        words = re.findall(r"[^\W_]+", text.lower())
        if not words:
            return rows.none()
        query = " & ".join(f"{word}:*" for word in words)
        column = f'"{AuditEvent._meta.db_table}"."search"'  # the model's table; no input
        return rows.alias(matches=RawSQL(  # noqa: S611 (the words are a bound parameter)
            f"{column} @@ to_tsquery('simple', %s)",
            [query], output_field=BooleanField())).filter(matches=True)
    return rows.annotate(data_text=Cast("data", TextField())).filter(
        Q(action__icontains=text) | Q(actor_email__icontains=text)
        | Q(data_text__icontains=text))


def _by_request(rows, value):
    """A full request id, or the short reference people read off the screen (its first 8)."""
    value = value.strip().lower()
    try:
        return rows.filter(request_id=uuid.UUID(value))
    except ValueError:
        pass
    return rows.annotate(request_text=Cast("request_id", CharField())).filter(
        request_text__istartswith=value)


def actions_in_chain(chain):
    """The distinct actions of one chain (or of all, for None), for the "What happened" filter.

    On PostgreSQL, read by skipping through the (chain, action, id) or (action, id) index, one
    probe per distinct action: a DISTINCT would read every event, and a chain may hold
    millions. Elsewhere, a plain DISTINCT.
    """
    if connection.vendor != "postgresql":
        rows = AuditEvent.objects.all() if chain is None else AuditEvent.objects.filter(
            chain=chain)
        return list(rows.order_by("action").values_list("action", flat=True).distinct())
    table = AuditEvent._meta.db_table
    where, params = ("chain = %s AND ", [chain]) if chain is not None else ("", [])
    sql = f"""
        WITH RECURSIVE found(action) AS (
            (SELECT action FROM {table} WHERE {where}TRUE ORDER BY action LIMIT 1)
            UNION ALL
            SELECT (SELECT e.action FROM {table} e WHERE {where.replace("chain", "e.chain")}
                    e.action > found.action ORDER BY e.action LIMIT 1)
            FROM found WHERE found.action IS NOT NULL
        )
        SELECT action FROM found WHERE action IS NOT NULL
    """  # noqa: S608 (the table name is the model's; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, params + params)
        return [row[0] for row in cursor.fetchall()]


def chains_with_events():
    """Every chain that holds an event; on PostgreSQL by skipping through the (chain, id)
    index, one probe per chain, rather than reading every event."""
    if connection.vendor != "postgresql":
        return set(AuditEvent.objects.values_list("chain", flat=True).distinct())
    table = AuditEvent._meta.db_table
    sql = f"""
        WITH RECURSIVE found(chain) AS (
            (SELECT chain FROM {table} ORDER BY chain LIMIT 1)
            UNION ALL
            SELECT (SELECT e.chain FROM {table} e WHERE e.chain > found.chain
                    ORDER BY e.chain LIMIT 1)
            FROM found WHERE found.chain IS NOT NULL
        )
        SELECT chain FROM found WHERE chain IS NOT NULL
    """  # noqa: S608 (the table name is the model's)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {row[0] for row in cursor.fetchall()}


def keyset_page(rows, *, before=None, after=None, size=50, fixed=()):
    """Newest first, `size` at a time, by row id: as fast on page 1,000 as on page 1.

    Within one chain id order is sequence order (appends to a chain are serialised), and across
    chains it is the order events were written. Returns (events, older_cursor, newer_cursor);
    a cursor is None when there is nothing in that direction.

    `fixed` names the fields the rows are filtered to one value of ("chain", "action"): sorting
    by them first changes nothing in the result but lets PostgreSQL walk the matching index
    (chain, action, id) from its end, rather than guessing that a walk of the whole table by id
    will meet those rows soon.
    """
    newest_first = [f"-{field}" for field in fixed] + ["-pk"]
    oldest_first = [*fixed, "pk"]
    if after is not None:
        chunk = list(rows.filter(pk__gt=after).order_by(*oldest_first)[:size + 1])
        events = list(reversed(chunk[:size]))
        newer = events[0].pk if len(chunk) > size else None
        older = events[-1].pk if events and rows.filter(pk__lt=events[-1].pk).exists() else None
        return events, older, newer
    if before is not None:
        rows = rows.filter(pk__lt=before)
    chunk = list(rows.order_by(*newest_first)[:size + 1])
    events = chunk[:size]
    older = events[-1].pk if len(chunk) > size else None
    newer = events[0].pk if before is not None and events else None
    return events, older, newer


def fixed_fields(chain, filters):
    """The fields a search holds to one value, for keyset_page."""
    return tuple(name for name, held in (("chain", chain), ("action", filters.get("action")))
                 if held)
