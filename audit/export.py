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
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Lookup, QuerySet, TextField
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
from audit.models import AuditEvent, ChainHead
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


# Sequence numbers per COPY statement. One statement over a whole chain was planned, once a
# chain held a fifth of a 20,000,000-event table, as a scan of the whole table and a sort: no
# row came until the sort was done, past the wait each block is allowed, and the download
# failed (bench/README.md, the xlarge size). A window of a chain's sequence is read in order
# from the (chain, seq) index, so rows come as they are read and each statement's work is
# bounded, whatever the chain's length and however rare the search's matches.
WINDOW = 100_000


def _copy_out(rows: QuerySet[Any, Any], options: str) -> Iterator[bytes]:
    """COPY the rows out, chain by chain in chain order, each chain in windows of WINDOW
    sequence numbers, up to its head when the export began."""
    with unbounded_statements(), connection.cursor() as cursor, _in_index_order(cursor):
        for chain, head in _chain_heads(rows):
            for low in range(0, head, WINDOW):
                window = rows.filter(chain=chain, seq__gt=low, seq__lte=low + WINDOW)
                try:
                    sql, params = window.query.sql_with_params()
                except EmptyResultSet:
                    # A search Django knows matches nothing (a word no event holds) has no SQL
                    # to run: the file is then just the header (CSV) or empty (JSON Lines).
                    return
                # No statement timeout (a window may take a while to fill), but each block must
                # still come within the usual wait (lockbox_portal.db.limits).
                with cursor.cursor.copy(
                        f"COPY ({sql}) TO STDOUT WITH ({options})", params) as copy:
                    for block in copy:
                        yield bytes(block)


# PostgreSQL's estimate of a window is far off (a sequence range is as common as it is across
# all chains, most of them short: 2,700,000 rows for 100,000 at 20M events), so it would still
# choose the scan and sort; with those off, the window is read along the (chain, seq) index
# (and JIT, which that estimate would switch on for every window, stays off).
_PLANNER = ("enable_seqscan", "enable_bitmapscan", "enable_sort", "jit")


@contextmanager
def _in_index_order(cursor: Any) -> Iterator[None]:
    cursor.execute("SELECT " + ", ".join(f"set_config('{name}', 'off', false)"
                                         for name in _PLANNER))
    try:
        yield
    finally:
        if connection.connection is not None and not connection.connection.closed:
            for name in _PLANNER:
                cursor.execute(f"RESET {name}")


def _chain_heads(rows: QuerySet[Any, Any]) -> list[tuple[str, int]]:
    """The chains the search can find events in, in the order the export writes them, each
    with its head's sequence number: the one chain the search holds it to, or every chain."""
    heads = ChainHead.objects.order_by("chain")
    chain = _held_chain(rows)
    if chain is not None:
        heads = heads.filter(chain=chain)
    return list(heads.values_list("chain", "seq"))


def _held_chain(rows: QuerySet[Any, Any]) -> str | None:
    """The chain a search is held to (`chain = x`, or the range x..x that keyset pages use),
    found in its top-level conditions; None when it may span chains."""
    where = rows.query.where
    if where.connector != "AND" or where.negated:
        return None
    for condition in where.children:
        if not isinstance(condition, Lookup):
            continue
        target = getattr(condition.lhs, "target", None)
        if getattr(target, "name", None) != "chain" or getattr(target, "model", None) is not \
                AuditEvent:
            continue
        value = condition.rhs
        if condition.lookup_name == "exact" and isinstance(value, str):
            return value
        if (condition.lookup_name == "range" and isinstance(value, (tuple, list))
                and len(value) == 2 and value[0] == value[1] and isinstance(value[0], str)):
            return value[0]
    return None
