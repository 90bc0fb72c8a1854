"""Streaming exports of audit events: CSV and JSON Lines, in chain order, with the chain fields
so an export can be checked against the chain (tools/lockbox_verify.py).

On PostgreSQL the database writes the lines itself (COPY … TO STDOUT), and Python only passes
blocks of them on, in constant memory however big the export (bench/README.md measures it).
Elsewhere (SQLite, the local demo) Python writes each line.

A JSON Lines line is the event's canonical text, the bytes its hash was taken over, with the
hash in place of the version (audit.encoding.export_line): a verifier hashes each line's bytes
without decoding its JSON. Where those bytes are not stored (events written before
`canonical_data`), or `data` no longer says what they say, the line is the event as the
database holds it, as before, which the verifier decodes and encodes again (and which then
fails, if `data` was changed). In CSV, `data` is written as PostgreSQL prints JSON, which
parses to the same object.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from audit.encoding import (
    EVENT_COLUMNS,
    canonical_fields,
    canonical_text,
    export_line,
    format_time,
)
from audit.encoding_sql import line_sql, same_data_sql
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
        line = (f"CASE WHEN {_T}.canonical_data IS NOT NULL AND {same_data_sql(_T)} "
                f"THEN {line_sql(_T)} ELSE jsonb_build_object({pairs})::text END")
        rows = events.order_by("chain", "seq").annotate(
            line=RawSQL(line, []),  # noqa: S611 (fixed SQL)
        ).values_list("line")
        # CSV with a quote and a delimiter JSON never holds raw (it escapes control
        # characters), so each value comes out exactly as PostgreSQL wrote it.
        yield from _copy_out(rows, "FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02'")
        return
    for event in events.order_by("chain", "seq").iterator(chunk_size=2000):
        fields = canonical_fields(
            chain=event.chain, seq=event.seq, occurred_at=event.occurred_at,
            action=event.action, actor_id=event.actor_id, actor_email=event.actor_email,
            request_id=event.request_id, data=event.data, prev_hash=event.prev_hash)
        yield export_line(fields, event.hash) + "\n"


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
