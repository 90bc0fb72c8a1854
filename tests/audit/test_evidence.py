"""Evidence a customer can check: signed checkpoints, offline verification, receipts."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from django.test import override_settings
from django.utils import timezone

from audit.checkpoints import checkpoint_chains
from audit.encoding import canonical_bytes, canonical_fields, canonical_text, compute_hash
from audit.models import AuditEvent, Checkpoint, SigningKey
from audit.services import record_event
from audit.verification import verify_chain
from tests.audit.test_audit_chain import tampering
from tests.clients import make_requests, signed_in
from tests.processes import ROOT

VERIFIER = ROOT / "tools" / "lockbox_verify.py"
CHAIN = "tenant:tenant-a"


@pytest.fixture
def chain_with_checkpoint(tenant_a, approver_a, now):
    for i in range(8):
        record_event(chain=CHAIN, action="test.happened", actor=approver_a, data={"i": i},
                     now=now)
    checkpoint_chains(chains=[CHAIN], now=now)
    assert verify_chain(CHAIN).ok
    return AuditEvent.objects.filter(chain=CHAIN).count()


def _rewrite_from(seq_from, *, drop_after=None):
    """An attacker with database access rewrites events from `seq_from` on with valid hashes
    (the data as shown and as hashed, and the chain head to match), optionally dropping
    everything after `drop_after`."""
    with tampering() as cursor:
        if drop_after is not None:
            cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s AND seq > %s",
                           [CHAIN, drop_after])
        prev = AuditEvent.objects.get(chain=CHAIN, seq=seq_from - 1).hash
        for event in AuditEvent.objects.filter(chain=CHAIN, seq__gte=seq_from).order_by("seq"):
            data = {**event.data, "forged": True}
            new_hash = compute_hash(canonical_fields(
                chain=CHAIN, seq=event.seq, occurred_at=event.occurred_at, action=event.action,
                actor_id=event.actor_id, actor_email=event.actor_email,
                request_id=event.request_id, data=data, prev_hash=prev))
            cursor.execute("UPDATE audit_auditevent SET data = %s, canonical_data = %s, "
                           "prev_hash = %s, hash = %s WHERE id = %s",
                           [json.dumps(data), canonical_text(data), prev, new_hash, event.pk])
            prev = new_hash
        last = AuditEvent.objects.filter(chain=CHAIN).order_by("-seq").first()
        cursor.execute("UPDATE audit_chainhead SET seq = %s, hash = %s WHERE chain = %s",
                       [last.seq, last.hash, CHAIN])


# --- Checkpoints -----------------------------------------------------------------------------

def test_rewriting_the_chain_with_recomputed_hashes_is_caught_by_the_checkpoint(
        chain_with_checkpoint):
    _rewrite_from(2)
    result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, chain_with_checkpoint)
    assert "the chain was rewritten" in result.problem


def test_without_a_checkpoint_a_full_rewrite_would_pass(tenant_a, approver_a, now):
    for i in range(5):
        record_event(chain=CHAIN, action="test.happened", actor=approver_a, data={"i": i})
    _rewrite_from(2)
    assert verify_chain(CHAIN).ok  # which is why checkpoints exist


def test_cutting_the_newest_events_and_the_head_is_caught_by_the_checkpoint(
        chain_with_checkpoint):
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s AND seq > 6", [CHAIN])
        six = AuditEvent.objects.get(chain=CHAIN, seq=6)
        cursor.execute("UPDATE audit_chainhead SET seq = 6, hash = %s WHERE chain = %s",
                       [six.hash, CHAIN])
    result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, 7)
    assert "the newest events were removed" in result.problem


def test_a_checkpoint_by_an_unknown_key_fails(chain_with_checkpoint):
    with tampering() as cursor:
        cursor.execute("UPDATE audit_checkpoint SET key_id = 'ffffffffffffffff'")
    result = verify_chain(CHAIN)
    assert not result.ok and "does not carry a valid signature" in result.problem


def test_a_forged_checkpoint_fails(chain_with_checkpoint):
    with tampering() as cursor:
        cursor.execute("UPDATE audit_checkpoint SET head_hash = %s", ["a" * 64])
    assert not verify_chain(CHAIN).ok


def test_checkpointing_twice_signs_nothing_new(chain_with_checkpoint, now):
    assert checkpoint_chains(chains=[CHAIN], now=now) == []
    record_event(chain=CHAIN, action="test.happened")
    assert [c.seq for c in checkpoint_chains(chains=[CHAIN])] == [chain_with_checkpoint + 1]


NEW_SEED = "bmV3LWtleS1hZnRlci1yb3RhdGlvbi0zMi1ieXRlcyE="


def test_rotating_the_key_keeps_old_checkpoints_verifiable(chain_with_checkpoint, now):
    """Rotation is a configuration change: the new private key, and the old public key pinned
    as retired."""
    old_key = SigningKey.objects.get()
    with override_settings(LOCKBOX_SIGNING_KEY=NEW_SEED,
                           LOCKBOX_RETIRED_PUBLIC_KEYS=[old_key.public_key]):
        record_event(chain=CHAIN, action="test.happened")
        checkpoint_chains(chains=[CHAIN])
        assert verify_chain(CHAIN).ok
    keys = list(SigningKey.objects.order_by("first_used_at"))
    assert next(k.key_id for k in keys) == old_key.key_id and len(keys) == 2
    assert keys[0].retired_at is not None and keys[1].retired_at is None
    assert len({c.key_id for c in Checkpoint.objects.all()}) == 2


def test_after_a_rotation_an_old_key_nobody_pinned_is_not_trusted(chain_with_checkpoint):
    """The old key is still in the database's table of keys, but the database is not where
    trust comes from: until the operator pins it, its checkpoints do not verify."""
    with override_settings(LOCKBOX_SIGNING_KEY=NEW_SEED):
        record_event(chain=CHAIN, action="test.happened")
        checkpoint_chains(chains=[CHAIN])
        result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, chain_with_checkpoint)
    assert "does not carry a valid signature of a trusted key" in result.problem


@pytest.mark.postgres
def test_postgres_refuses_to_change_checkpoints(chain_with_checkpoint):
    from django.db import DatabaseError, connection, transaction

    for statement in ("UPDATE audit_checkpoint SET seq = 1", "DELETE FROM audit_checkpoint"):
        with (pytest.raises(DatabaseError, match="append-only"), transaction.atomic(),
              connection.cursor() as cursor):
            cursor.execute(statement)


# --- Offline verification, in a separate process with no database ----------------------------

def run_verifier(*args):
    result = subprocess.run([sys.executable, str(VERIFIER), *map(str, args)],
                            capture_output=True, text=True, timeout=60,
                            env={"PATH": os.environ["PATH"]}, cwd="/")
    return result.returncode, result.stdout.strip()


@pytest.fixture
def downloads(tmp_path, reader_a, tenant_a, engineer, manager, approver_a):
    make_requests(engineer=engineer, manager=manager, approver=approver_a, tenant=tenant_a,
                  now=timezone.now())
    checkpoint_chains()
    client = signed_in(reader_a)
    files = {}
    for name, url in (("jsonl", "/t/tenant-a/audit/export.jsonl"),
                      ("csv", "/t/tenant-a/audit/export.csv"),
                      ("checkpoints", "/t/tenant-a/audit/checkpoints.json"),
                      ("keys", "/t/tenant-a/audit/keys.json")):
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        path = tmp_path / f"{name}.{'json' if name in ('keys', 'checkpoints') else name}"
        path.write_bytes(body)
        files[name] = path
    return files


def _verify(files, export, *extra):
    return run_verifier(export, "--checkpoints", files["checkpoints"], "--keys", files["keys"],
                        *extra)


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_a_real_export_verifies_offline(downloads, kind):
    code, out = _verify(downloads, downloads[kind])
    assert code == 0, out
    assert out.startswith("OK: ") and "tenant:tenant-a verified; matches the checkpoint" in out


def _lines(path):
    return path.read_text().splitlines(keepends=True)


def _edit(files, tmp_path, change, name="tampered.jsonl"):
    lines = _lines(files["jsonl"])
    lines = change(lines)
    target = tmp_path / name
    target.write_text("".join(lines))
    return target


def _with(line, **fields):
    event = json.loads(line)
    event.update(fields)
    return json.dumps(event, sort_keys=True) + "\n"


def _rehashed(lines):
    """Every event rewritten with valid hashes, as an attacker with the algorithm could."""
    sys.path.insert(0, str(VERIFIER.parent))
    import lockbox_verify

    out, prev = [], "0" * 64
    for line in lines:
        event = json.loads(line)
        event["data"] = {**event["data"], "forged": True}
        event["prev_hash"] = prev
        event["hash"] = prev = lockbox_verify.event_hash(event)
        out.append(json.dumps(event, sort_keys=True) + "\n")
    return out


TAMPERS = {
    "edited": (lambda ls: [ls[0], _with(ls[1], actor_email="mallory@evil.test"), *ls[2:]],
               1, "event 2 (membership.granted) does not match its hash: it was altered"),
    "deleted": (lambda ls: [ls[0], *ls[2:]], 1, "event 2 is missing"),
    "inserted": (lambda ls: [ls[0], ls[1], ls[1], *ls[2:]], 1, "comes after event 2"),
    "reordered": (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], 1,
                  "event 2 comes after event 3: events were reordered"),
    "tail cut": (lambda ls: ls[:-2], 1, "were removed"),
    "rewritten": (_rehashed, 1, "the chain was rewritten"),
    "file cut short": (lambda ls: [*ls[:-1], ls[-1][:40]], 2, "cut short"),
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_each_tampered_export_fails_offline_naming_the_problem(downloads, tmp_path, name):
    change, expected_code, message = TAMPERS[name]
    code, out = _verify(downloads, _edit(downloads, tmp_path, change))
    assert code == expected_code, out
    assert message in out


def _forged(line):
    """The line with a field slipped into its data and a hash recomputed over its new bytes,
    as someone who knows the export's form would write it."""
    import hashlib

    line = (line.replace('"data":{}', '"data":{"forged":true}') if '"data":{}' in line
            else line.replace('"data":{', '"data":{"forged":true,'))
    head = line[:line.rindex(',"hash":')]
    digest = hashlib.sha256((head + ',"v":1}').encode()).hexdigest()
    return f'{head},"hash":"{digest}"}}\n'


# The export's lines are the bytes that were hashed: tampering with them, byte for byte.
RAW_TAMPERS = {
    "a changed byte": (lambda ls: [ls[0], ls[1].replace("reader@a.test", "reader@a.tesT"),
                                   *ls[2:]],
                       "event 2 (membership.granted) does not match its hash: it was altered"),
    "a swapped line": (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]],
                       "event 2 comes after event 3: events were reordered"),
    "a dropped line": (lambda ls: [ls[0], *ls[2:]], "event 2 is missing"),
    "a forged hash": (lambda ls: [ls[0], ls[1][:-68] + '"' + "0" * 64 + '"}\n', *ls[2:]],
                      "event 2 (membership.granted) does not match its hash"),
    "a forged line and hash": (lambda ls: [ls[0], _forged(ls[1]), *ls[2:]],
                               "event 3 does not link to event 2"),
    "the newest line forged": (lambda ls: [*ls[:-1], _forged(ls[-1])],
                               "the chain was rewritten"),
}


@pytest.mark.parametrize("name", list(RAW_TAMPERS))
def test_each_byte_level_tamper_fails_offline(downloads, tmp_path, name):
    lines = _lines(downloads["jsonl"])
    assert lines[1].startswith('{"action":"membership.granted","actor_email":')
    assert '"reader@a.test"' in lines[1] and lines[1].endswith('"}\n')
    change, message = RAW_TAMPERS[name]
    code, out = _verify(downloads, _edit(downloads, tmp_path, change))
    assert code == 1, out
    assert message in out


def test_an_export_read_in_many_blocks_verifies_and_fails_as_line_by_line(
        downloads, tmp_path, monkeypatch):
    """Blocks of whole lines are checked at once (tools/lockbox_verify.py, BLOCK): with blocks of
    a few lines, a run of them still links to the next, and a gap still names the event."""
    sys.path.insert(0, str(VERIFIER.parent))
    import lockbox_verify

    monkeypatch.setattr(lockbox_verify, "BLOCK", 1500)
    checkpoints = json.loads(downloads["checkpoints"].read_text())["checkpoints"]
    keys = lockbox_verify.load_keys(json.loads(downloads["keys"].read_text()))
    lines = _lines(downloads["jsonl"])
    assert len(lines) == 8
    runs = list(lockbox_verify.read_export(downloads["jsonl"]))
    assert 1 < len(runs) < len(lines)
    out = lockbox_verify.verify_export(iter(runs), checkpoints, keys)
    assert out.startswith(f"OK: {len(lines)} events of tenant:tenant-a verified; matches")
    dropped = _edit(downloads, tmp_path, lambda ls: [*ls[:5], *ls[6:]])
    with pytest.raises(lockbox_verify.Bad, match="event 6 is missing"):
        lockbox_verify.verify_export(lockbox_verify.read_export(dropped), checkpoints, keys)


def test_an_older_export_in_the_form_before_still_verifies(downloads, tmp_path):
    """Files customers kept from before: one JSON object per line, in any key order and
    spacing, decoded and encoded again."""
    older = tmp_path / "older.jsonl"
    older.write_text("".join(json.dumps(json.loads(line)) + "\n"
                             for line in _lines(downloads["jsonl"])))
    code, out = _verify(downloads, older)
    assert code == 0, out


def test_a_checkpoint_signed_by_an_unknown_key_fails_offline(downloads, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = Ed25519PrivateKey.generate()
    document = json.loads(downloads["checkpoints"].read_text())
    forged = document["checkpoints"][-1]
    body = {k: v for k, v in forged.items() if k != "signature"}
    import base64

    forged["signature"] = {"alg": "Ed25519", "key_id": "0123456789abcdef",
                           "value": base64.b64encode(stranger.sign(
                               canonical_bytes(body))).decode()}
    path = tmp_path / "forged-checkpoints.json"
    path.write_text(json.dumps(document))
    code, out = run_verifier(downloads["jsonl"], "--checkpoints", path, "--keys",
                             downloads["keys"])
    assert code == 1 and "signed by an unknown key" in out


def test_a_search_result_verifies_as_partial(downloads, tmp_path, reader_a):
    response = signed_in(reader_a).get("/t/tenant-a/audit/export.jsonl",
                                       {"action": "request.approved"})
    path = tmp_path / "search.jsonl"
    path.write_bytes(b"".join(response.streaming_content))
    assert _verify(downloads, path)[0] == 1
    code, out = _verify(downloads, path, "--partial")
    assert code == 0, out


# --- Receipts ------------------------------------------------------------------------------------

@pytest.fixture
def receipt_files(tmp_path, approver_a, tenant_a, engineer, manager):
    req = make_requests(engineer=engineer, manager=manager, approver=approver_a,
                        tenant=tenant_a, now=timezone.now())[1]
    decision = req.decisions.get(level="customer")
    client = signed_in(approver_a)
    receipt = client.get(f"/t/tenant-a/requests/{req.pk}/receipts/{decision.pk}.json")
    assert receipt["Content-Disposition"].startswith("attachment;")
    (tmp_path / "receipt.json").write_bytes(receipt.content)
    (tmp_path / "keys.json").write_bytes(client.get("/t/tenant-a/audit/keys.json").content)
    return req, tmp_path / "receipt.json", tmp_path / "keys.json"


def test_a_receipt_verifies_offline(receipt_files):
    req, receipt, keys = receipt_files
    code, out = run_verifier("--receipt", receipt, "--keys", keys)
    assert code == 0, out
    assert f"approver@a.test decided approve on request {req.pk}" in out
    body = json.loads(receipt.read_text())
    assert body["grant"]["ends_at"] and body["audit"]["chain"] == CHAIN


@pytest.mark.parametrize("field,value", [
    ("decision", "reject"), ("decided_at", "2020-01-01T00:00:00.000000Z"),
    ("person", {"id": 1, "email": "mallory@evil.test"}), ("grant", None),
    ("request_id", "00000000-0000-0000-0000-000000000000"), ("tenant", "tenant-b"),
])
def test_a_receipt_with_any_field_changed_fails(receipt_files, tmp_path, field, value):
    _, receipt, keys = receipt_files
    body = json.loads(receipt.read_text())
    body[field] = value
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(body))
    code, out = run_verifier("--receipt", changed, "--keys", keys)
    assert code == 1 and "does not match its content" in out


def test_a_receipt_of_another_tenant_is_404(receipt_files, approver_b):
    req, _, _ = receipt_files
    decision = req.decisions.get(level="customer")
    response = signed_in(approver_b).get(
        f"/t/tenant-a/requests/{req.pk}/receipts/{decision.pk}.json")
    assert response.status_code == 404


def test_keys_and_checkpoints_are_only_for_members(approver_b, tenant_a):
    client = signed_in(approver_b)
    assert client.get("/t/tenant-a/audit/keys.json").status_code == 404
    assert client.get("/t/tenant-a/audit/checkpoints.json").status_code == 404


def test_checkpoint_downloads_hold_only_the_tenants_chain(downloads):
    document = json.loads(downloads["checkpoints"].read_text())
    assert {c["chain"] for c in document["checkpoints"]} == {CHAIN}


def test_awkward_text_survives_both_exports_and_still_verifies(tmp_path, reader_a, tenant_a):
    """On PostgreSQL the database writes export lines itself: quotes, backslashes, newlines,
    control characters and non-ASCII text must come out as the very JSON that was hashed."""
    awkward = {"note": 'a "quoted" \\ back\\slash\nnew line\ttab \x01 ü 😀 ,;\x02',
               "list": [1, -20, None, True], "nested": {"z": "", "a": "\\n"}}
    record_event(chain=tenant_a.audit_chain, action="activity.recorded", data=awkward)
    checkpoint_chains()
    client = signed_in(reader_a)
    files = {}
    for name, url in (("jsonl", "/t/tenant-a/audit/export.jsonl"),
                      ("csv", "/t/tenant-a/audit/export.csv"),
                      ("checkpoints", "/t/tenant-a/audit/checkpoints.json"),
                      ("keys", "/t/tenant-a/audit/keys.json")):
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        files[name] = tmp_path / f"{name}.{'json' if name in ('keys', 'checkpoints') else name}"
        files[name].write_bytes(body)
    events = [json.loads(line) for line in files["jsonl"].read_text().splitlines()]
    assert events[-1]["data"] == awkward
    rows = list(csv.DictReader(io.StringIO(files["csv"].read_text(), newline="")))
    assert json.loads(rows[-1]["data"]) == awkward
    for kind in ("jsonl", "csv"):
        code, out = _verify(files, files[kind])
        assert code == 0, out
