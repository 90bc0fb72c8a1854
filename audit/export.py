"""Streaming exports of audit events: CSV and JSON Lines, in chain order, with the chain fields
so an export can be checked against the chain (tools/lockbox_verify.py).

On PostgreSQL the database writes the lines itself (COPY … TO STDOUT), and Python only passes
blocks of them on, in constant memory however big the export (bench/README.md measures it).
`data` is then written as PostgreSQL prints JSON, which
parses to the same object. Elsewhere (SQLite, the local demo) Python writes each line.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from audit.encoding import EVENT_COLUMNS, canonical_text, format_time
from audit.models import AuditEvent
from lockbox_portal.db.limits import unbounded_statements

_T = '"audit_auditevent"'  # AuditEvent's table, in the fixed SQL below (no input reaches it)
# format_time's "2026-11-28T20:42:49.193735Z", written by PostgreSQL.
_PG_TIME = (f"to_char({_T}.occurred_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")


def event_record(event: AuditEvent) -> dict[str, Any]:
    """An event with every stored column, as exports and the API write it."""
    return {
        "chain": event.chain,
        "seq": event.seq,
        "occurred_at": format_time(event.occurred_at),
        "action": event.action,
        "actor_id": event.actor_id,
        "actor_email": event.actor_email,
        "request_id": str(event.request_id) if event.request_id else None,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str | bytes]:
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(EVENT_COLUMNS)
    if connection.vendor == "postgresql":
        rows = events.order_by("chain", "seq").annotate(
            at_text=RawSQL(_PG_TIME, []),  # noqa: S611 (fixed SQL)
            data_text=Cast("data", TextField()),
        ).values_list("chain", "seq", "at_text", "action", "actor_id", "actor_email",
                      "request_id", "data_text", "prev_hash", "hash")
        yield from _copy_out(rows, "FORMAT csv")
        return
    for event in events.order_by("chain", "seq").iterator(chunk_size=2000):
        row = event_record(event)
        row["data"] = canonical_text(row["data"])
        yield writer.writerow(["" if row[c] is None else row[c] for c in EVENT_COLUMNS])


def jsonl_lines(events: QuerySet[AuditEvent]) -> Iterator[str | bytes]:
    if connection.vendor == "postgresql":
        pairs = ", ".join(f"'{c}', {_PG_TIME if c == 'occurred_at' else f'{_T}.{c}'}"
                          for c in EVENT_COLUMNS)
        rows = events.order_by("chain", "seq").annotate(
            line=RawSQL(f"jsonb_build_object({pairs})::text", []),  # noqa: S611 (fixed SQL)
        ).values_list("line")
        # CSV with a quote and a delimiter JSON never holds raw (it escapes control
        # characters), so each value comes out exactly as PostgreSQL wrote it.
        yield from _copy_out(rows, "FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02'")
        return
    for event in events.order_by("chain", "seq").iterator(chunk_size=2000):
        yield json.dumps(event_record(event), sort_keys=True, ensure_ascii=False) + "\n"


def _copy_out(rows: QuerySet[Any, Any], options: str) -> Iterator[bytes]:
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:
        # A search Django knows matches nothing (a word no event holds) has no SQL to run:
        # the file is then just the header (CSV) or empty (JSON Lines), never a broken stream.
        return
    # The export is one statement that lasts as long as the download: no statement timeout,
    # but each block must still come within the usual wait (lockbox_portal.db.limits).
    with unbounded_statements(), connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY ({sql}) TO STDOUT WITH ({options})", params) as copy:
        for block in copy:
            yield bytes(block)
