"""The tamper matrix (PostgreSQL): every insider attack on the audit we could think of, done as
the database's owner would (triggers bypassed as a replica), must make `verify_audit` exit 1
naming the problem; with the checkpoints and keys the customer downloaded before the attack,
`verify_audit --checkpoints --keys` fails too, and so does the offline verifier on a fresh
export wherever the attack changed the events themselves.

The history: tenant-m's chain of 14 events, signed every minute two hours ago (checkpoints at
8, 10, 12 and 14, each naming the one before it); tenant-o's chain of 1, signed. Verification
allows events to go unsigned for 5 minutes.
"""

import base64
import json
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from approvals.tenants import create_tenant
from audit import export
from audit.checkpoints import as_document, checkpoint_body, checkpoint_chains
from audit.encoding import (
    canonical_bytes,
    canonical_fields,
    canonical_text,
    compute_hash,
    format_time,
)
from audit.keyring import key_id_of
from audit.models import AuditEvent, ChainHead, Checkpoint
from audit.selectors import search_events
from audit.services import record_event
from audit.signing import published_keys
from lockbox_portal import clock
from tests.audit.test_audit_chain import tampering
from tests.processes import ROOT

pytestmark = pytest.mark.postgres

VERIFIER = ROOT / "tools" / "lockbox_verify.py"
CHAIN, OTHER = "tenant:tenant-m", "tenant:tenant-o"
LIMIT = 300


@pytest.fixture
def history(db, settings, tmp_path):
    settings.LOCKBOX_UNSIGNED_LIMIT_SECONDS = LIMIT
    at = clock.now() - timedelta(hours=2)
    create_tenant(slug="tenant-m", name="Tenant M", now=at)
    create_tenant(slug="tenant-o", name="Tenant O", now=at)
    for stop in (8, 10, 12, 14):
        while ChainHead.objects.get(chain=CHAIN).seq < stop:
            record_event(chain=CHAIN, action="test.happened", data={"n": stop}, now=at)
        at += timedelta(minutes=1)
        checkpoint_chains(now=at)
    kept = SimpleNamespace(checkpoints=tmp_path / "kept-checkpoints.json",
                           keys=tmp_path / "kept-keys.json", tmp=tmp_path)
    kept.checkpoints.write_text(json.dumps({"chain": CHAIN, "checkpoints": [
        as_document(c) for c in Checkpoint.objects.filter(chain=CHAIN)]}))
    kept.keys.write_text(json.dumps({"keys": published_keys()}))
    return kept


def verify_audit(*args):
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
    except CommandError as failed:
        return failed.returncode, out.getvalue(), err.getvalue() + str(failed)
    return 0, out.getvalue(), err.getvalue()


def verify_offline(kept):
    body = b"".join(part if isinstance(part, bytes) else part.encode()
                    for part in export.jsonl_lines(search_events(CHAIN)))
    path = kept.tmp / "export.jsonl"
    path.write_bytes(body)
    result = subprocess.run([sys.executable, str(VERIFIER), str(path), "--checkpoints",
                             str(kept.checkpoints), "--keys", str(kept.keys)],
                            capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout


# --- What an insider with the owner's credentials does ---------------------------------------

def _event(seq, chain=CHAIN):
    return AuditEvent.objects.get(chain=chain, seq=seq)


def _rehash(cur, from_seq, *, chain=CHAIN, occurred_at=None, move_head=True):
    """Rewrite events from `from_seq` on with changed data (as shown and as hashed) and valid
    hashes, as someone who knows the encoding would, and point the head at the result."""
    prev = _event(from_seq - 1, chain).hash if from_seq > 1 else "0" * 64
    for event in AuditEvent.objects.filter(chain=chain, seq__gte=from_seq).order_by("seq"):
        data, when = {**event.data, "forged": True}, occurred_at or event.occurred_at
        digest = compute_hash(canonical_fields(
            chain=chain, seq=event.seq, occurred_at=when, action=event.action,
            actor_id=event.actor_id, actor_email=event.actor_email,
            request_id=event.request_id, data=data, prev_hash=prev))
        cur.execute("UPDATE audit_auditevent SET data = %s, canonical_data = %s, "
                    "prev_hash = %s, hash = %s, occurred_at = %s WHERE id = %s",
                    [json.dumps(data), canonical_text(data), prev, digest, when, event.pk])
        prev = digest
    if move_head:
        last = AuditEvent.objects.filter(chain=chain).order_by("-seq").first()
        cur.execute("UPDATE audit_chainhead SET seq = %s, hash = %s WHERE chain = %s",
                    [last.seq, last.hash, chain])


def _append(cur, *, occurred_at):
    head = ChainHead.objects.get(chain=CHAIN)
    seq = head.seq + 1
    digest = compute_hash(canonical_fields(
        chain=CHAIN, seq=seq, occurred_at=occurred_at, action="test.happened", actor_id=None,
        actor_email="", request_id=None, data={"slipped": True}, prev_hash=head.hash))
    cur.execute("INSERT INTO audit_auditevent (chain, seq, occurred_at, action, actor_id, "
                "actor_email, request_id, data, prev_hash, hash) VALUES "
                "(%s, %s, %s, 'test.happened', NULL, '', NULL, '{\"slipped\": true}', %s, %s)",
                [CHAIN, seq, occurred_at, head.hash, digest])
    cur.execute("UPDATE audit_chainhead SET seq = %s, hash = %s WHERE chain = %s",
                [seq, digest, CHAIN])


def _rogue_key(cur, *, as_key_id=None):
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    key_id = as_key_id or key_id_of(public)
    if as_key_id:
        cur.execute("UPDATE audit_signingkey SET public_key = %s WHERE key_id = %s",
                    [base64.b64encode(public).decode(), key_id])
    else:
        cur.execute("UPDATE audit_signingkey SET retired_at = now() WHERE retired_at IS NULL")
        cur.execute("INSERT INTO audit_signingkey (key_id, public_key, first_used_at) "
                    "VALUES (%s, %s, now())", [key_id, base64.b64encode(public).decode()])
    return key, key_id


def _resign_all(cur, key, key_id):
    """Replace every checkpoint of the chain by ones the rogue key signs over the chain as it
    is now, linked as the real signer links them."""
    cur.execute("DELETE FROM audit_checkpoint WHERE chain = %s", [CHAIN])
    prev = 0
    for seq in (8, 10, 12, 14):
        at = clock.now() - timedelta(minutes=30)
        body = checkpoint_body(CHAIN, seq, _event(seq).hash, format_time(at), prev)
        signature = base64.b64encode(key.sign(canonical_bytes(body))).decode()
        cur.execute("INSERT INTO audit_checkpoint (chain, seq, head_hash, signed_at, key_id, "
                    "signature, prev_seq) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [CHAIN, seq, _event(seq).hash, at, key_id, signature, prev])
        prev = seq


def edit_a_field(cur):
    cur.execute("UPDATE audit_auditevent SET actor_email = 'mallory@evil.test' "
                "WHERE chain = %s AND seq = 4", [CHAIN])


def edit_a_time(cur):
    cur.execute("UPDATE audit_auditevent SET occurred_at = occurred_at - interval '1 day' "
                "WHERE chain = %s AND seq = 5", [CHAIN])


def edit_the_shown_data_only(cur):
    """`data`, what pages show, no longer says what was hashed (`canonical_data`)."""
    cur.execute("UPDATE audit_auditevent SET data = data || '{\"forged\": true}' "
                "WHERE chain = %s AND seq = 4", [CHAIN])


def edit_and_rehash_one(cur):
    _rehash(cur, 4, move_head=False)
    cur.execute("UPDATE audit_auditevent SET prev_hash = %s WHERE chain = %s AND seq = 5",
                [_event(3).hash, CHAIN])  # undo what _rehash did past event 4
    _restore_from(cur, 5)


def _restore_from(cur, seq):
    """Put events from `seq` on back as they were (their original hashes): only the one
    before them was changed."""
    for event in AuditEvent.objects.filter(chain=CHAIN, seq__gte=seq):
        original = {k: v for k, v in event.data.items() if k != "forged"}
        cur.execute("UPDATE audit_auditevent SET data = %s, canonical_data = %s, "
                    "prev_hash = %s, hash = %s WHERE id = %s",
                    [json.dumps(original), canonical_text(original), *_original[event.seq],
                     event.pk])


_original = {}


def delete_an_event(cur):
    cur.execute("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 6", [CHAIN])


def insert_a_forged_event(cur):
    for seq in range(14, 4, -1):
        cur.execute("UPDATE audit_auditevent SET seq = seq + 1 WHERE chain = %s AND seq = %s",
                    [CHAIN, seq])
    before = _event(4)
    digest = compute_hash(canonical_fields(
        chain=CHAIN, seq=5, occurred_at=before.occurred_at, action="test.forged",
        actor_id=None, actor_email="", request_id=None, data={}, prev_hash=before.hash))
    cur.execute("INSERT INTO audit_auditevent (chain, seq, occurred_at, action, actor_id, "
                "actor_email, request_id, data, prev_hash, hash) VALUES "
                "(%s, 5, %s, 'test.forged', NULL, '', NULL, '{}', %s, %s)",
                [CHAIN, before.occurred_at, before.hash, digest])


def reorder_two_events(cur):
    cur.execute("UPDATE audit_auditevent SET seq = 1000 WHERE chain = %s AND seq = 7", [CHAIN])
    cur.execute("UPDATE audit_auditevent SET seq = 7 WHERE chain = %s AND seq = 8", [CHAIN])
    cur.execute("UPDATE audit_auditevent SET seq = 8 WHERE chain = %s AND seq = 1000", [CHAIN])


def move_an_event_to_another_chain(cur):
    cur.execute("UPDATE audit_auditevent SET chain = %s WHERE chain = %s AND seq = 9",
                [OTHER, CHAIN])
    cur.execute("UPDATE audit_auditevent SET seq = 2 WHERE chain = %s AND seq = 9", [OTHER])


def cut_the_tail(cur):
    cur.execute("DELETE FROM audit_auditevent WHERE chain = %s AND seq > 12", [CHAIN])


def cut_the_tail_and_rewind_the_head(cur):
    cur.execute("DELETE FROM audit_auditevent WHERE chain = %s AND seq > 11", [CHAIN])
    cur.execute("UPDATE audit_chainhead SET seq = 11, hash = %s WHERE chain = %s",
                [_event(11).hash, CHAIN])


def cut_tail_head_and_its_checkpoints(cur):
    cut_the_tail_and_rewind_the_head(cur)
    cur.execute("DELETE FROM audit_checkpoint WHERE chain = %s AND seq > 11", [CHAIN])


def rewrite_the_whole_chain(cur):
    _rehash(cur, 1)


def rewrite_and_drop_every_checkpoint(cur):
    _rehash(cur, 1)
    cur.execute("DELETE FROM audit_checkpoint WHERE chain = %s", [CHAIN])


def delete_all_checkpoints(cur):
    cur.execute("DELETE FROM audit_checkpoint WHERE chain = %s", [CHAIN])


def delete_the_newest_checkpoint(cur):
    cur.execute("DELETE FROM audit_checkpoint WHERE chain = %s AND seq = 14", [CHAIN])


def delete_a_stretch_of_checkpoints(cur):
    cur.execute("DELETE FROM audit_checkpoint WHERE chain = %s AND seq IN (8, 10)", [CHAIN])


def forge_a_checkpoint_field(cur):
    cur.execute("UPDATE audit_checkpoint SET head_hash = %s WHERE chain = %s AND seq = 14",
                ["a" * 64, CHAIN])


def copy_a_checkpoint_from_another_chain(cur):
    cur.execute("INSERT INTO audit_checkpoint (chain, seq, head_hash, signed_at, key_id, "
                "signature, prev_seq) SELECT %s, 15, head_hash, signed_at, key_id, signature, "
                "14 FROM audit_checkpoint WHERE chain = %s", [CHAIN, OTHER])


def insert_a_rogue_key_and_resign(cur):
    _rehash(cur, 3)
    _resign_all(cur, *_rogue_key(cur))


def replace_the_public_key_and_resign(cur):
    real = Checkpoint.objects.filter(chain=CHAIN).first().key_id
    _rehash(cur, 3)
    _resign_all(cur, *_rogue_key(cur, as_key_id=real))


def mark_the_current_key_retired(cur):
    cur.execute("UPDATE audit_signingkey SET retired_at = now()")


def wipe_the_chain(cur):
    cur.execute("DELETE FROM audit_auditevent WHERE chain = %s", [CHAIN])


def wipe_chain_and_head(cur):
    wipe_the_chain(cur)
    cur.execute("DELETE FROM audit_chainhead WHERE chain = %s", [CHAIN])


def wipe_chain_head_and_checkpoints(cur):
    wipe_chain_and_head(cur)
    cur.execute("DELETE FROM audit_checkpoint WHERE chain = %s", [CHAIN])


def append_after_the_last_checkpoint(cur):
    _append(cur, occurred_at=clock.now() - timedelta(minutes=30))


def rewrite_after_the_last_checkpoint(cur):
    delete_the_newest_checkpoint(cur)
    _rehash(cur, 13)


def move_the_head_backward(cur):
    cur.execute("UPDATE audit_chainhead SET seq = 12, hash = %s WHERE chain = %s",
                [_event(12).hash, CHAIN])


def move_the_head_forward_to_nothing(cur):
    cur.execute("UPDATE audit_chainhead SET seq = 20 WHERE chain = %s", [CHAIN])


def point_the_head_at_another_hash(cur):
    cur.execute("UPDATE audit_chainhead SET hash = %s WHERE chain = %s", ["b" * 64, CHAIN])


def delete_the_head(cur):
    cur.execute("DELETE FROM audit_chainhead WHERE chain = %s", [CHAIN])


# attack: (what verify_audit must say, does the offline verifier fail on a fresh export)
ATTACKS = {
    edit_a_field: ("BROKEN tenant:tenant-m at sequence 4: its content does not match", True),
    edit_a_time: ("at sequence 5: its content does not match its hash", True),
    edit_the_shown_data_only: ("at sequence 4: its content does not match its hash", True),
    edit_and_rehash_one: ("at sequence 5: it does not link to the event before it", True),
    delete_an_event: ("at sequence 6: event 6 is missing", True),
    insert_a_forged_event: ("at sequence 5: it was inserted", True),
    reorder_two_events: ("at sequence 7: it does not link", True),
    move_an_event_to_another_chain: ("at sequence 9: event 9 is missing", True),
    cut_the_tail: ("the chain ends at 12, but a checkpoint signed", True),
    cut_the_tail_and_rewind_the_head: ("the chain ends at 11, but a checkpoint signed", True),
    cut_tail_head_and_its_checkpoints: ("no checkpoint covers events 11 to 11", True),
    rewrite_the_whole_chain: ("at sequence 8: it differs from a checkpoint signed", True),
    rewrite_and_drop_every_checkpoint: ("no checkpoint covers events 1 to 14", True),
    delete_all_checkpoints: ("no checkpoint covers events 1 to 14", False),
    delete_the_newest_checkpoint: ("no checkpoint covers events 13 to 14", False),
    delete_a_stretch_of_checkpoints: ("the checkpoint at 12 follows one at 10, which is missing",
                                      False),
    forge_a_checkpoint_field: ("a checkpoint at 14 does not carry a valid signature", False),
    copy_a_checkpoint_from_another_chain: ("a checkpoint at 15 does not carry a valid signature",
                                           False),
    insert_a_rogue_key_and_resign: ("in audit_signingkey is not a pinned key", True),
    replace_the_public_key_and_resign: ("has a public key that differs from the pinned one",
                                        True),
    mark_the_current_key_retired: ("is marked retired in audit_signingkey", False),
    wipe_the_chain: ("the chain ends at 0, but a checkpoint signed", True),
    wipe_chain_and_head: ("the chain ends at 0, but a checkpoint signed", True),
    wipe_chain_head_and_checkpoints: ("the chain is empty, but its tenant exists", True),
    append_after_the_last_checkpoint: ("no checkpoint covers events 15 to 15", False),
    rewrite_after_the_last_checkpoint: ("no checkpoint covers events 13 to 14", True),
    move_the_head_backward: ("the chain head (12) is older than the newest checkpoint (14)",
                             False),
    move_the_head_forward_to_nothing: ("events 15 to 20 are missing from the end", False),
    point_the_head_at_another_hash: ("the newest event is not the one appended", False),
    delete_the_head: ("the chain has events but no chain head", False),
}


def test_the_history_verifies_before_any_attack(history):
    code, out, err = verify_audit()
    assert code == 0, err
    assert "OK tenant:tenant-m: 14 events verified" in out
    assert verify_audit("--checkpoints", history.checkpoints, "--keys", history.keys)[0] == 0
    assert verify_offline(history)[0] == 0


@pytest.mark.parametrize("attack", list(ATTACKS), ids=lambda a: a.__name__)
def test_each_insider_attack_is_detected(history, attack):
    message, offline_fails = ATTACKS[attack]
    _original.update({e.seq: (e.prev_hash, e.hash) for e in AuditEvent.objects.filter(
        chain=CHAIN)})
    with tampering() as cur:
        attack(cur)
    code, _, err = verify_audit()
    assert code == 1, err
    assert message in err
    code, _, err = verify_audit("--checkpoints", history.checkpoints, "--keys", history.keys)
    assert code == 1, err
    if offline_fails:
        code, out = verify_offline(history)
        assert code != 0, out


def test_by_design_what_happened_within_the_signing_window_can_still_be_rewritten(history):
    """Events newer than their chain's last checkpoint are vouched for by nothing but the
    database until the next round signs them (at most LOCKBOX_CHECKPOINT_SECONDS later): an
    event appended now, and rewritten before that round, is not detected. README says so."""
    with tampering() as cur:
        _append(cur, occurred_at=clock.now())
    assert verify_audit()[0] == 0
