"""The fast paths write the one canonical encoding byte for byte: PostgreSQL's text of an event
(audit.encoding_sql, what verify_audit hashes and the JSON Lines export writes), and the export
line the offline verifier hashes without decoding, on awkward events. And verification still
finds what it found before: data changed behind the hash, hashed data made unreadable, events
written before canonical_data existed."""

import json
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from audit import export
from audit.encoding import (
    GENESIS_HASH,
    canonical_bytes,
    canonical_fields,
    canonical_text,
    compute_hash,
    export_line,
)
from audit.encoding_sql import body_sql, line_sql, same_data_sql
from audit.models import AuditEvent, ChainHead
from audit.selectors import search_events
from audit.verification import verify_chain
from tests.audit.test_audit_chain import tampering
from tests.processes import ROOT

VERIFIER = ROOT / "tools" / "lockbox_verify.py"
CHAIN = 'tenant:wéird "chain" \\ ü'
EVERY_CONTROL = "".join(chr(i) for i in range(1, 32)) + "\x7f"
AWKWARD = [
    {"action": "a.b", "actor_id": None, "actor_email": "", "request_id": None, "data": {},
     "at": datetime(2026, 12, 1, 8, 0, 0, 0, tzinfo=UTC)},
    {"action": 'odd."quoted"\\action\t', "actor_id": 2**63 - 1,
     "actor_email": 'ünïcødé "x" \\ 😀 \u2028 ' + EVERY_CONTROL, "request_id": uuid.uuid4(),
     "data": {"z": [1, -20, None, True, False, {"b": "x", "a": {"nested": ["\n\t\r\b\f"]}}],
              "big": 2**80, "negative": -(2**70), "": "empty key", "ü": "é", "😀": "😀",
              "aa": 1, "a": 2, "B": 3, "control": EVERY_CONTROL, "quote": '"\\/'},
     "at": datetime(2026, 12, 1, 8, 0, 0, 1, tzinfo=UTC)},
    {"action": "x.y", "actor_id": -5, "actor_email": "e@x.test", "request_id": None,
     "data": [[], {}, [[]], "", 0], "at": datetime(1999, 12, 31, 23, 59, 59, 999999,
                                                      tzinfo=UTC)},
    {"action": "x.y", "actor_id": 0, "actor_email": "e@x.test", "request_id": None,
     "data": {"deep": {"er": {"still": [{"k": "v"}]}}},
     "at": datetime(2026, 12, 1, 9, 0, 0, 500000, tzinfo=UTC) + timedelta(hours=1)},
]


def _write(chain, events, *, stored=True):
    """Events appended as record_events writes them (any action, any actor), with a head."""
    prev, rows = GENESIS_HASH, []
    for seq, e in enumerate(events, 1):
        fields = canonical_fields(chain=chain, seq=seq, occurred_at=e["at"], action=e["action"],
                                  actor_id=e["actor_id"], actor_email=e["actor_email"],
                                  request_id=e["request_id"], data=e["data"], prev_hash=prev)
        digest = compute_hash(fields)
        rows.append(AuditEvent(chain=chain, seq=seq, occurred_at=e["at"], action=e["action"],
                               actor_id=e["actor_id"], actor_email=e["actor_email"],
                               request_id=e["request_id"], data=e["data"],
                               canonical_data=canonical_text(e["data"]) if stored else None,
                               prev_hash=prev, hash=digest))
        prev = digest
    AuditEvent.objects.bulk_create(rows)
    ChainHead.objects.create(chain=chain, seq=len(rows), hash=prev)
    return rows


def _expected(event):
    return canonical_fields(chain=event.chain, seq=event.seq, occurred_at=event.occurred_at,
                            action=event.action, actor_id=event.actor_id,
                            actor_email=event.actor_email, request_id=event.request_id,
                            data=event.data, prev_hash=event.prev_hash)


@pytest.mark.postgres
def test_postgresql_writes_each_events_canonical_bytes_and_export_line(db):
    rows = _write(CHAIN, AWKWARD)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT e.seq, {body_sql('e')}, {line_sql('e')}, "  # noqa: S608
                       f"{same_data_sql('e')} FROM audit_auditevent e WHERE e.chain = %s "
                       "ORDER BY e.seq", [CHAIN])
        written = cursor.fetchall()
    assert [w[0] for w in written] == [1, 2, 3, 4]
    for row, (_, body, line, same) in zip(rows, written, strict=True):
        fields = _expected(row)
        assert body.encode() == canonical_bytes(fields)
        assert line == export_line(fields, row.hash)
        assert same is True


def test_an_export_line_is_the_event_and_holds_the_hashed_bytes(db):
    for row in _write(CHAIN, AWKWARD):
        fields = _expected(row)
        line = export_line(fields, row.hash)
        decoded = json.loads(line)
        assert "v" not in decoded and decoded["hash"] == row.hash
        assert {k: v for k, v in decoded.items() if k != "hash"} == {
            k: v for k, v in json.loads(canonical_text(fields)).items() if k != "v"}
        head = line[:line.rindex(',"hash":')]
        assert (head + ',"v":1}').encode() == canonical_bytes(fields)


def _export(tmp_path, chain):
    body = b"".join(part if isinstance(part, bytes) else part.encode()
                    for part in export.jsonl_lines(search_events(chain)))
    path = tmp_path / "export.jsonl"
    path.write_bytes(body)
    return path


def test_awkward_events_verify_in_the_database_and_offline(db, tmp_path):
    sys.path.insert(0, str(VERIFIER.parent))
    import lockbox_verify

    _write(CHAIN, AWKWARD)
    assert verify_chain(CHAIN).ok
    path = _export(tmp_path, CHAIN)
    # The four lines were read as one run, their bytes hashed without decoding any JSON.
    (run,) = lockbox_verify.read_export(path)
    assert run[:3] == (CHAIN, 1, 4) and run[5] is True
    assert lockbox_verify.verify_export(lockbox_verify.read_export(path), [], {}).startswith(
        f"OK: 4 events of {CHAIN} verified")


def test_events_written_before_canonical_data_still_verify_and_export(db, tmp_path):
    sys.path.insert(0, str(VERIFIER.parent))
    import lockbox_verify

    _write(CHAIN, AWKWARD, stored=False)
    assert verify_chain(CHAIN).ok
    path = _export(tmp_path, CHAIN)
    assert lockbox_verify.verify_export(lockbox_verify.read_export(path), [], {}).startswith(
        f"OK: 4 events of {CHAIN} verified")


def test_data_changed_behind_its_hash_is_found(db):
    """What pages show (`data`) no longer says what was hashed (`canonical_data`)."""
    _write(CHAIN, AWKWARD)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET data = %s WHERE chain = %s AND seq = 3",
                       [json.dumps([[], {}, [[]], "", 1]), CHAIN])
    result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert "its content does not match its hash" in result.problem


def test_hashed_data_that_is_not_json_is_found_and_the_rest_still_read(db):
    _write(CHAIN, AWKWARD)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET canonical_data = 'not json' "
                       "WHERE chain = %s AND seq = 2", [CHAIN])
    result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert "its content does not match its hash" in result.problem
    # The failed read left the connection usable.
    assert AuditEvent.objects.filter(chain=CHAIN).count() == 4
