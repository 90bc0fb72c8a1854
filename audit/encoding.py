"""The audit's canonical encoding: how an event becomes the bytes its hash is taken over.

Every event's hash is SHA-256 over a canonical JSON encoding of its fields, including the hash
of the event before it in the same chain; signatures (checkpoints, receipts) are taken over the
same canonical JSON. Pure functions only, no database: the writer (audit.services), the
verifier (audit.verification), the signer and the exports all encode through here, so they
cannot drift apart. tools/lockbox_verify.py repeats this encoding on purpose (it runs without
Lockbox installed); the tamper tests check that both agree byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64
PROVIDER_CHAIN = "provider"
ENCODING_VERSION = 1

# The stored columns of an event, in the order exports write them and verification reads them.
EVENT_COLUMNS = ("chain", "seq", "occurred_at", "action", "actor_id", "actor_email",
                 "request_id", "data", "prev_hash", "hash")


def tenant_chain(tenant_slug: str) -> str:
    """The name of a tenant's chain. The name is hashed into every event, so it never changes."""
    return f"tenant:{tenant_slug}"


def format_time(moment: datetime) -> str:
    """A moment as the encoding writes it: UTC, microseconds, "2026-11-28T20:42:49.193735Z"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_fields(*, chain: str, seq: int, occurred_at: datetime, action: str,
                     actor_id: int | None, actor_email: str,
                     request_id: uuid.UUID | str | None, data: Any,
                     prev_hash: str) -> dict[str, Any]:
    """What an event's hash covers, in the shape canonical_bytes encodes."""
    return {
        "v": ENCODING_VERSION,
        "chain": chain,
        "seq": seq,
        "occurred_at": format_time(occurred_at),
        "action": action,
        "actor_id": actor_id,
        "actor_email": actor_email,
        "request_id": str(request_id) if request_id is not None else None,
        "data": data,
        "prev_hash": prev_hash,
    }


def canonical_text(value: Any) -> str:
    """Canonical JSON: keys sorted, no spaces, non-ASCII kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_bytes(value: Any) -> bytes:
    """Canonical JSON as UTF-8: what hashes and signatures are taken over."""
    return canonical_text(value).encode()


def compute_hash(fields: dict[str, Any]) -> str:
    """The hex SHA-256 of an event's canonical_fields."""
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


# How every event's canonical text ends: "v" sorts after every other field.
BODY_END = f',"v":{ENCODING_VERSION}}}'


def export_line(fields: dict[str, Any], event_hash: str) -> str:
    """An event as a JSON Lines export writes it: its canonical text with the hash in place of
    the version, `{"action":…,"seq":7,"hash":"…"}`. Every field of an event, as before, and
    the bytes that were hashed are the line up to `,"hash":` followed by BODY_END, so a
    verifier hashes them without decoding any JSON (tools/lockbox_verify.py)."""
    text = canonical_text(fields)
    if not text.endswith(BODY_END):  # pragma: no cover (a field sorting after "v")
        raise ValueError("the canonical encoding no longer ends with its version")
    return f'{text[:-len(BODY_END)]},"hash":{json.dumps(event_hash)}}}'


def exported_fields(record: dict[str, Any]) -> dict[str, Any]:
    """canonical_fields of an event as an export writes it (event_record: times as text), so an
    archive file can be checked line by line as the offline verifier checks it."""
    return {"v": ENCODING_VERSION, "chain": record["chain"], "seq": record["seq"],
            "occurred_at": record["occurred_at"], "action": record["action"],
            "actor_id": record["actor_id"], "actor_email": record["actor_email"],
            "request_id": record["request_id"], "data": record["data"],
            "prev_hash": record["prev_hash"]}
