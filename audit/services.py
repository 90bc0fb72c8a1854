"""The audit log's only write path."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction

from audit.encoding import (
    EVENT_COLUMNS,
    GENESIS_HASH,
    canonical_fields,
    canonical_text,
    compute_hash,
)
from audit.models import AuditEvent, ChainHead
from lockbox_portal import clock

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

_ACTION = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")


def record_event(*, chain: str, action: str, actor: AbstractBaseUser | None = None,
                 request_id: uuid.UUID | str | None = None, data: dict[str, Any] | None = None,
                 now: datetime | None = None) -> AuditEvent:
    """Append one event to `chain` and return it.

    Runs inside the caller's transaction (or its own), so an event exists exactly when the change
    it describes was committed.

    1. Lock the chain's head row, creating it on first use. Appends to one chain queue behind this
       lock; appends to other chains go on in parallel.
    2. Build the event with the next sequence number and the head's hash, and hash it.
    3. Insert the event and move the head.
    """
    return record_events(chain=chain, now=now, events=[
        {"action": action, "actor": actor, "request_id": request_id, "data": data}])[0]


_SCALARS = (str, bool, int, type(None))


def _check_json(value: object, path: str) -> None:
    """Only types that survive a database round trip unchanged, so hashes stay reproducible.

    A path is written out only for a container it descends into (or a value it refuses): an
    activity batch passes 500 events of a dozen values each through here."""
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, _SCALARS):
                _check_json(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"Audit {path} has a non-string key {key!r}.")
            if not isinstance(item, _SCALARS):
                _check_json(item, f"{path}.{key}")
        return
    raise TypeError(f"Audit {path} is a {type(value).__name__}; use str, int, bool, list or dict.")


def record_events(*, chain: str, events: Iterable[Mapping[str, Any]],
                  now: datetime | None = None) -> list[AuditEvent]:
    """Append several events to one chain under one lock and one write (_insert); returns them.

    `events` are dicts with the keyword arguments of record_event (action, actor, request_id,
    data). For writers with many events at once (activity batches, imports): the chain is
    locked once, every hash computed in order, and all rows written together.
    """
    now = now or clock.now()
    prepared = []
    for item in events:
        item = {**item, "action": str(item["action"])}  # an approvals.actions.Action, or its code
        if not _ACTION.match(item["action"]):
            raise ValueError(f"Audit action {item['action']!r} must look like 'noun.verb'.")
        data = {} if item.get("data") is None else item["data"]
        _check_json(data, "data")
        actor = item.get("actor")
        if actor is not None and not actor.pk:
            raise ValueError("An audit event's actor must be a saved user.")
        prepared.append((item["action"], actor, item.get("request_id"), data))
    with transaction.atomic():
        head = ChainHead.objects.select_for_update().filter(chain=chain).first()
        if head is None:
            # Two first appends may race here; ignore_conflicts lets both go on to the lock.
            ChainHead.objects.bulk_create(
                [ChainHead(chain=chain, seq=0, hash=GENESIS_HASH)], ignore_conflicts=True
            )
            head = ChainHead.objects.select_for_update().get(chain=chain)
        rows, seq, prev = [], head.seq, head.hash
        for action, actor, request_id, data in prepared:
            seq += 1
            fields = canonical_fields(
                chain=chain, seq=seq, occurred_at=now, action=action,
                actor_id=actor.pk if actor else None, actor_email=actor.email if actor else "",
                request_id=request_id, data=data, prev_hash=prev)
            digest = compute_hash(fields)
            rows.append(AuditEvent(chain=chain, seq=seq, occurred_at=now, action=action,
                                   actor_id=fields["actor_id"],
                                   actor_email=fields["actor_email"], request_id=request_id,
                                   data=data, canonical_data=canonical_text(data),
                                   prev_hash=prev, hash=digest))
            prev = digest
        _insert(rows)
        if rows:
            head.seq, head.hash = seq, prev
            head.save(update_fields=["seq", "hash"])
    return rows


# Every stored column, in the order _insert writes them.
_COPY_COLUMNS = (*EVENT_COLUMNS, "canonical_data")


def _insert(rows: list[AuditEvent]) -> None:
    """Write the events, and give each its primary key.

    On PostgreSQL with COPY: an activity batch is 500 events, and the ORM's INSERT quoted
    every value of them in Python (bench/README.md, "Ingest"), where COPY streams the rows as
    they are. COPY returns no keys, so one indexed read of the chain's new sequence numbers
    gives them; the triggers on the table fire for COPY as for INSERT.
    """
    if connection.vendor != "postgresql" or not rows:
        AuditEvent.objects.bulk_create(rows, batch_size=1000)
        return
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(
                f"COPY {table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((row.chain, row.seq, row.occurred_at, row.action, row.actor_id,
                                row.actor_email, row.request_id, json.dumps(row.data),
                                row.prev_hash, row.hash, row.canonical_data))
        cursor.execute(f"SELECT id FROM {table} WHERE chain = %s AND seq BETWEEN %s AND %s "  # noqa: S608
                       "ORDER BY seq", [rows[0].chain, rows[0].seq, rows[-1].seq])
        for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
            row.pk = pk
            row._state.adding, row._state.db = False, connection.alias
