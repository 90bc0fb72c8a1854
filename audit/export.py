"""Streaming exports of audit events: CSV and JSON Lines, in chain order, with the chain fields
so an export can be checked against the chain."""

import csv
import json

from audit.chain import format_time

COLUMNS = ["chain", "seq", "occurred_at", "action", "actor_id", "actor_email", "request_id",
           "data", "prev_hash", "hash"]


def event_record(event):
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
    def write(self, value):
        return value


def csv_lines(events):
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for event in events.order_by("chain", "seq").iterator(chunk_size=2000):
        row = event_record(event)
        row["data"] = json.dumps(row["data"], sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False)
        yield writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])


def jsonl_lines(events):
    for event in events.order_by("chain", "seq").iterator(chunk_size=2000):
        yield json.dumps(event_record(event), sort_keys=True, ensure_ascii=False) + "\n"
