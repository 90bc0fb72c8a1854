"""Reading a chain's events for verification, each with whether its hash matches its content.

On PostgreSQL the database sends them in batches and writes each event's canonical text itself
(audit.encoding_sql), from `canonical_data`, the data exactly as it was hashed; Python only
hashes those bytes. That is what lets verification run at about the speed of reading the rows
(bench/README.md, "Verification"). Events written before `canonical_data` existed, and every
event on other databases, are encoded in Python from their stored fields, as they always were.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
from django.db import connection, transaction

from audit.encoding import canonical_fields, canonical_text, compute_hash, format_time
from audit.encoding_sql import body_sql, same_data_sql, time_sql
from audit.models import AuditEvent
from lockbox_portal.db.limits import unbounded_statements

# (seq, occurred_at as format_time writes it, prev_hash, hash, does the hash match the content)
Row = tuple[int, str, str, str, bool]

_E = "e"
# When there is no canonical_data: the fields Python encodes, as one JSON array.
_OLD = (f"CASE WHEN {_E}.canonical_data IS NULL THEN json_build_array({_E}.action, "
        f"{_E}.actor_id, {_E}.actor_email, {_E}.request_id, {_E}.data)::text END")
# Fixed SQL; the chain and the sequence number go as parameters.
_SELECT = (f"SELECT {_E}.seq, {time_sql(_E)}, {_E}.prev_hash, {_E}.hash, "  # noqa: S608
           f"{body_sql(_E)}, {_OLD}, {same_data_sql(_E)} "
           f"FROM audit_auditevent {_E} WHERE {_E}.chain = %s AND {_E}.seq > %s "
           f"ORDER BY {_E}.seq")
# Rows per round trip. COPY would send them one message per row, each a wait of its own.
_BATCH = 5000


def chain_rows(chain: str, start_seq: int, *, bulk: bool = True) -> Iterator[Row]:
    """The events of `chain` after `start_seq`, in sequence order. `bulk`: a whole chain (the
    few extra statements pay off); a page verifying the few events appended since the
    last full verification reads them the plain way."""
    if connection.vendor != "postgresql" or not bulk:
        yield from _encoded_rows(chain, start_seq)
        return
    last = start_seq
    try:
        # A savepoint: a failed read leaves the caller's transaction usable.
        with unbounded_statements(), transaction.atomic():
            for row in _fetched_rows(chain, start_seq):
                last = row[0]
                yield row
    except psycopg.errors.DataError:
        # canonical_data that is not JSON at all (it was edited): the rest of the chain is
        # read the slow way, which says where without stopping on it.
        yield from _encoded_rows(chain, last)


def _fetched_rows(chain: str, start_seq: int) -> Iterator[Row]:
    sha256 = hashlib.sha256
    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    with raw.cursor(name="lockbox_verify_chain") as cursor:
        cursor.itersize = _BATCH
        cursor.execute(_SELECT, [chain, start_seq])
        while rows := cursor.fetchmany(_BATCH):
            for seq, at, prev, stored, body, old, same in rows:
                if body is not None:
                    matches = same and sha256(body.encode()).hexdigest() == stored
                else:
                    matches = _old_matches(chain, seq, at, prev, stored, old)
                yield seq, at, prev, stored, matches


def _old_matches(chain: str, seq: int, at: str, prev: str, stored: str, old: str) -> bool:
    action, actor_id, actor_email, request_id, data = json.loads(old)
    moment = datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return compute_hash(canonical_fields(
        chain=chain, seq=seq, occurred_at=moment, action=action, actor_id=actor_id,
        actor_email=actor_email, request_id=request_id, data=data, prev_hash=prev)) == stored


def _encoded_rows(chain: str, start_seq: int) -> Iterator[Row]:
    rows = (AuditEvent.objects.filter(chain=chain, seq__gt=start_seq).order_by("seq")
            .values_list("seq", "occurred_at", "action", "actor_id", "actor_email",
                         "request_id", "data", "canonical_data", "prev_hash", "hash")
            .iterator(chunk_size=5000))
    for seq, at, action, actor_id, actor_email, request_id, data, hashed, prev, stored in rows:
        fields = canonical_fields(
            chain=chain, seq=seq, occurred_at=at, action=action, actor_id=actor_id,
            actor_email=actor_email, request_id=request_id, data=data, prev_hash=prev)
        # canonical_data, when stored, is what was hashed; `data` must still say the same.
        same = hashed is None or canonical_text(data) == hashed
        yield seq, format_time(at), prev, stored, same and compute_hash(fields) == stored

