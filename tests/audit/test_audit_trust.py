"""What verification trusts: keys pinned outside the database, checkpoints that name their
predecessor, and the customer's own files; a tenant's chain that vanished is a failure."""

import base64
import json
from datetime import timedelta
from io import StringIO

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from audit import keyring, signing
from audit.checkpoints import as_document, checkpoint_chains
from audit.encoding import canonical_bytes
from audit.models import ChainHead, ChainVerification, Checkpoint, SigningKey
from audit.services import record_event
from audit.tasks import verify_all
from audit.verification import verify_chain
from lockbox_portal import clock
from tests.audit.test_audit_chain import tampering
from tests.clients import signed_in

CHAIN = "tenant:tenant-a"


def verify_audit(*args):
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
    except CommandError as failed:
        return failed.returncode, out.getvalue() + err.getvalue() + str(failed)
    return 0, out.getvalue() + err.getvalue()


@pytest.fixture
def signed_chain(tenant_a, approver_a):
    """tenant-a's chain signed three times: at 4, 6 and 8 events."""
    for stop in (4, 6, 8):
        while ChainHead.objects.get(chain=CHAIN).seq < stop:
            record_event(chain=CHAIN, action="test.happened", actor=approver_a)
        checkpoint_chains(chains=[CHAIN])
    return [c.seq for c in Checkpoint.objects.filter(chain=CHAIN)]


def _stranger_key():
    key = Ed25519PrivateKey.generate()
    return key, base64.b64encode(key.public_key().public_bytes_raw()).decode()


# --- Keys -------------------------------------------------------------------------------------

def test_each_checkpoint_names_the_one_before_it(signed_chain):
    assert signed_chain == [4, 6, 8]
    links = list(Checkpoint.objects.filter(chain=CHAIN).values_list("prev_seq", flat=True))
    assert links == [0, 4, 6]
    assert as_document(Checkpoint.objects.get(chain=CHAIN, seq=8))["prev_seq"] == 6


def test_a_key_in_the_database_only_is_neither_trusted_nor_published(signed_chain, now):
    stranger, public = _stranger_key()
    rogue_id = keyring.key_id_of(base64.b64decode(public))
    SigningKey.objects.create(key_id=rogue_id, public_key=public, first_used_at=now)
    body = {"v": 1, "anything": "signed by the stranger"}
    signature = {"key_id": rogue_id,
                 "value": base64.b64encode(stranger.sign(canonical_bytes(body))).decode()}
    assert not signing.verify(body, signature)
    assert rogue_id not in {k["key_id"] for k in signing.published_keys()}
    code, out = verify_audit()
    assert code == 1 and f"key {rogue_id} in audit_signingkey is not a pinned key" in out


def test_a_retired_key_can_be_pinned_through_a_saved_keys_file(signed_chain, tmp_path,
                                                                reader_a):
    saved = tmp_path / "lockbox-keys.json"
    saved.write_bytes(signed_in(reader_a).get("/t/tenant-a/audit/keys.json").content)
    new_seed = "bmV3LWtleS1hZnRlci1yb3RhdGlvbi0zMi1ieXRlcyE="
    with override_settings(LOCKBOX_SIGNING_KEY=new_seed):
        record_event(chain=CHAIN, action="test.happened")
        checkpoint_chains(chains=[CHAIN])
        assert not verify_chain(CHAIN).ok  # the old key is no longer pinned
        with override_settings(LOCKBOX_TRUSTED_KEYS_FILE=str(saved)):
            assert verify_chain(CHAIN).ok
            assert verify_audit()[0] == 0
            statuses = {k["status"] for k in signing.published_keys()}
    assert statuses == {"current", "retired"}


@pytest.mark.parametrize("setting,value,message", [
    ("LOCKBOX_RETIRED_PUBLIC_KEYS", ["bm90IGEga2V5"], "LOCKBOX_RETIRED_PUBLIC_KEYS"),
    ("LOCKBOX_TRUSTED_KEYS_FILE", "/nonexistent/keys.json", "LOCKBOX_TRUSTED_KEYS_FILE"),
])
def test_a_bad_pinned_key_stops_verification_naming_the_variable(db, setting, value, message):
    with override_settings(**{setting: value}), pytest.raises(ImproperlyConfigured,
                                                               match=message):
        signing.trusted_keys()


# --- Chains that vanish or lose their evidence -------------------------------------------------

def test_a_tenant_whose_chain_was_wiped_fails_and_its_page_says_so(tenant_a, reader_a):
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s", [CHAIN])
        cursor.execute("DELETE FROM audit_chainhead WHERE chain = %s", [CHAIN])
    code, out = verify_audit()
    assert code == 1
    assert "BROKEN tenant:tenant-a at sequence 1: the chain is empty, but its tenant exists" in out
    page = signed_in(reader_a).get("/t/tenant-a/audit/").content.decode()
    assert "does not verify at event 1" in page


def test_the_daily_verification_finds_a_wiped_tenant_chain_and_the_pages_remember_it(tenant_a):
    assert verify_all() == 0
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s", [CHAIN])
        cursor.execute("DELETE FROM audit_chainhead WHERE chain = %s", [CHAIN])
    assert verify_all() == 1
    remembered = ChainVerification.objects.get(chain=CHAIN)
    assert not remembered.ok
    assert remembered.problem.startswith("the chain is empty, but its tenant exists")


def test_a_page_notices_a_chain_wiped_below_what_it_verified(tenant_a, reader_a):
    client = signed_in(reader_a)
    assert "The log verifies" in client.get("/t/tenant-a/audit/").content.decode()
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s", [CHAIN])
    assert "is gone or changed" in client.get("/t/tenant-a/audit/").content.decode()


def test_events_without_a_head_fail(tenant_a):
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_chainhead WHERE chain = %s", [CHAIN])
    result = verify_chain(CHAIN)
    assert not result.ok and "no chain head" in result.problem


def test_a_deleted_stretch_of_checkpoints_breaks_their_links(signed_chain):
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_checkpoint WHERE chain = %s AND seq = 6", [CHAIN])
    result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, 8)
    assert "follows one at 6, which is missing" in result.problem


def test_events_left_unsigned_past_the_limit_fail(signed_chain, settings):
    settings.LOCKBOX_UNSIGNED_LIMIT_SECONDS = 300
    record_event(chain=CHAIN, action="test.happened", now=clock.now() - timedelta(minutes=2))
    assert verify_audit()[0] == 0  # signed within the limit, as far as anyone can tell yet
    record_event(chain=CHAIN, action="test.happened", now=clock.now() - timedelta(minutes=9))
    code, out = verify_audit()
    assert code == 1 and "no checkpoint covers events 9 to 10" in out
    checkpoint_chains(chains=[CHAIN])
    assert verify_audit()[0] == 0


def test_beat_signs_moved_heads_every_minute_by_default(settings):
    assert settings.LOCKBOX_CHECKPOINT_SECONDS == 60
    assert settings.CELERY_BEAT_SCHEDULE["lockbox-checkpoint"]["schedule"] == 60.0


# --- verify_audit --checkpoints FILE --keys FILE ---------------------------------------------

@pytest.fixture
def kept(signed_chain, tmp_path, reader_a):
    client = signed_in(reader_a)
    files = {}
    for name in ("checkpoints", "keys"):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_bytes(client.get(f"/t/tenant-a/audit/{name}.json").content)
    return files


def test_the_database_is_checked_against_the_customers_files(kept):
    code, out = verify_audit("--checkpoints", kept["checkpoints"], "--keys", kept["keys"])
    assert code == 0, out
    assert "every one of the 3 kept checkpoint(s) matches" in out
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s AND seq > 5", [CHAIN])
        cursor.execute("DELETE FROM audit_checkpoint WHERE chain = %s AND seq > 5", [CHAIN])
        cursor.execute("UPDATE audit_chainhead SET seq = 5, hash = (SELECT hash FROM "
                       "audit_auditevent WHERE chain = %s AND seq = 5) WHERE chain = %s",
                       [CHAIN, CHAIN])
    code, out = verify_audit("--checkpoints", kept["checkpoints"], "--keys", kept["keys"])
    assert code == 1
    assert "the chain ends at 5, but a kept checkpoint signed" in out


def test_keys_from_a_file_replace_the_configured_ones(kept, tmp_path):
    _, public = _stranger_key()
    other = tmp_path / "other-keys.json"
    other.write_text(json.dumps({"keys": [{"key_id": keyring.key_id_of(
        base64.b64decode(public)), "public_key": public, "status": "current"}]}))
    code, out = verify_audit("--keys", other)
    assert code == 1 and "does not carry a valid signature of a trusted key" in out


@pytest.mark.parametrize("which,content,message", [
    ("checkpoints", None, "cannot read the checkpoints file"),
    ("checkpoints", "not json", "cannot read the checkpoints file"),
    ("checkpoints", '{"keys": []}', "is not a Lockbox checkpoints file"),
    ("checkpoints", '{"checkpoints": [{"type": "lockbox.checkpoint", "chain": "c", "seq": 0}]}',
     "checkpoint 1 has no valid seq"),
    ("keys", None, "cannot read"),
    ("keys", "[1, 2]", "holds no keys"),
    ("keys", '{"keys": [{"key_id": "0123456789abcdef", "public_key": "'
     + base64.b64encode(bytes(32)).decode() + '"}]}', "is named '0123456789abcdef'"),
])
def test_an_unreadable_or_malformed_file_exits_2(kept, tmp_path, which, content, message):
    path = tmp_path / "given.json"
    if content is not None:
        path.write_text(content)
    files = {**kept, which: path}
    code, out = verify_audit("--checkpoints", files["checkpoints"], "--keys", files["keys"])
    assert code == 2, out
    assert "CANNOT VERIFY" in out and message in out


# --- PostgreSQL: heads and keys guard themselves, whoever asks ---------------------------------

@pytest.mark.postgres
@pytest.mark.parametrize("statement", [
    "UPDATE audit_chainhead SET seq = 2",
    "UPDATE audit_chainhead SET hash = repeat('f', 64)",
    "UPDATE audit_chainhead SET seq = seq + 1",
    "DELETE FROM audit_chainhead",
    "TRUNCATE audit_chainhead",
    "INSERT INTO audit_chainhead (chain, seq, hash) VALUES ('tenant:new', 3, repeat('0', 64))",
    "UPDATE audit_signingkey SET public_key = 'AAAA'",
    "UPDATE audit_signingkey SET retired_at = NULL",
    "DELETE FROM audit_signingkey",
    "TRUNCATE audit_signingkey",
])
def test_postgres_refuses_to_rewind_heads_or_rewrite_keys(signed_chain, statement):
    SigningKey.objects.update(retired_at=clock.now())  # retiring is allowed, once
    with (pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor):
        cursor.execute(statement)
    assert ChainHead.objects.get(chain=CHAIN).seq == 8


# --- The owner's URL ---------------------------------------------------------------------------

def test_migrate_refuses_an_owner_url_that_cannot_be_used(db, settings):
    """A misconfigured owner stops migrate with a message, before anything runs as anyone."""
    from audit.db_owner import as_owner

    cases = [({"NAME": "another_database"}, "must be the same one"),
             ({}, "name the same role")]
    for change, message in cases:
        settings.DATABASE_OWNER = {**connection.settings_dict, **change}
        if connection.vendor != "postgresql":
            message = "applies to PostgreSQL only"
        with pytest.raises(CommandError, match=message), as_owner():
            pass


@pytest.mark.postgres
def test_a_first_append_that_lost_the_race_for_the_head_still_goes_on(signed_chain):
    """Two first appends to a chain both try to create its head at 0; the one that finds the
    chain already written must not be refused by the head's guard, only skipped by the key."""
    from audit.encoding import GENESIS_HASH

    ChainHead.objects.bulk_create([ChainHead(chain=CHAIN, seq=0, hash=GENESIS_HASH)],
                                  ignore_conflicts=True)
    assert ChainHead.objects.get(chain=CHAIN).seq == 8
    record_event(chain=CHAIN, action="test.happened")
    assert verify_chain(CHAIN).ok
