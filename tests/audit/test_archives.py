"""Retention: events past their tenant's retention leave the database as signed archives, the
chain still verifies from the archived head, and a stop at any point is finished by a rerun.

The history: tenant-r was created 9 years ago with 7 years' retention; 24 events are 8 years
old, 3 are a month old. Archives hold at most 10 events; deletes go 4 at a time.
"""

import json
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from approvals.actions import Action
from approvals.models import Tenant
from approvals.tenants import create_tenant
from audit import archives
from audit.archives import ARCHIVE_DELETED, ARCHIVED, archive_due, file_names
from audit.checkpoints import as_document as checkpoint_document
from audit.checkpoints import checkpoint_chains
from audit.export import jsonl_lines
from audit.models import Archive, ArchiveMark, AuditEvent, Checkpoint
from audit.services import record_event
from audit.signing import published_keys
from audit.verification import verify_chain
from lockbox_portal import clock
from tests.processes import ROOT

VERIFIER = ROOT / "tools" / "lockbox_verify.py"
CHAIN, OTHER = "tenant:tenant-r", "tenant:tenant-s"
OLD, RECENT = 24, 3


@pytest.fixture
def history(db, settings, tmp_path):
    settings.LOCKBOX_ARCHIVE_DIR = str(tmp_path / "archives")
    now = clock.now()
    created = now - timedelta(days=9 * 366)
    create_tenant(slug="tenant-r", name="Tenant R", now=created)  # event 1: tenant.created
    create_tenant(slug="tenant-s", name="Tenant S", now=created)
    for n in range(OLD - 1):
        record_event(chain=CHAIN, action="test.happened", data={"n": n},
                     now=now - timedelta(days=8 * 366) + timedelta(minutes=n))
    for n in range(RECENT):
        record_event(chain=CHAIN, action="test.happened", data={"n": 100 + n},
                     now=now - timedelta(days=30) + timedelta(minutes=n))
    return tmp_path


def _run(**kwargs):
    return archive_due(batch=10, delete_batch=4, **kwargs)


def _stored(chain=CHAIN):
    return list(AuditEvent.objects.filter(chain=chain).order_by("seq").values_list("seq",
                                                                                    flat=True))


def _actions(action):
    return list(AuditEvent.objects.filter(chain=CHAIN, action=action).values_list("data",
                                                                                  flat=True))


def test_audit_actions_are_named_once():
    assert Action(ARCHIVED).label == "Audit events archived"
    assert Action(ARCHIVE_DELETED).label == "Archived events deleted"


def test_old_events_leave_in_signed_archives_and_the_chain_verifies_from_their_head(history):
    assert _run().archives == 2  # one per chain per run: tenant-r's first 10 only
    assert _stored()[0] == 11
    _run()
    outcome = _run()
    assert outcome.archives == 1 and _run().archives == 0
    spans = list(Archive.objects.filter(chain=CHAIN).values_list("first_seq", "last_seq"))
    assert spans == [(1, 10), (11, 20), (21, 24)]
    assert _stored()[0] == 25 and ArchiveMark.objects.get(chain=CHAIN).through_seq == 24
    # Every archive and every deletion is an event of the chain itself.
    assert [d["last_seq"] for d in _actions(ARCHIVED)] == [10, 20, 24]
    assert [d["count"] for d in _actions(ARCHIVE_DELETED)] == [10, 10, 4]
    # The tenant created 9 years ago with nothing else: its one event was archived too.
    assert _stored(OTHER) == [2, 3]  # its archived and archive_deleted events
    assert verify_chain(CHAIN, must_exist=True).ok
    assert verify_chain(OTHER, must_exist=True).ok
    for archive in Archive.objects.all():
        data, manifest = (history / "archives" / name
                          for name in file_names(archive.chain, archive.first_seq,
                                                 archive.last_seq))
        assert json.loads(manifest.read_text())["head_hash"] == archive.head_hash
        assert len(data.read_text().splitlines()) == archive.count


def test_recent_events_and_tenants_on_legal_hold_stay(history):
    Tenant.objects.filter(slug="tenant-r").update(provider_legal_hold=True)
    Tenant.objects.filter(slug="tenant-s").update(legal_hold=True)
    assert _run().archives == 0  # each held, by one party or the other
    Tenant.objects.filter(slug="tenant-s").update(legal_hold=False)
    Tenant.objects.filter(slug="tenant-r").update(legal_hold=True, provider_legal_hold=False)
    assert _run().archives == 1  # tenant-s only
    assert _stored()[0] == 1
    Tenant.objects.filter(slug="tenant-r").update(legal_hold=False, audit_retention_years=10)
    assert _run().archives == 0 and _stored()[0] == 1


def test_a_run_stopped_while_deleting_is_finished_by_the_next(history, monkeypatch):
    real, calls = archives.delete_batch_of, []

    def dies_on_the_second_batch(archive, size):
        calls.append(size)
        if len(calls) == 2:
            raise KeyboardInterrupt("worker killed")
        return real(archive, size)

    monkeypatch.setattr(archives, "delete_batch_of", dies_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        archive_due(batch=10, delete_batch=4, now=clock.now())
    assert _stored()[0] == 5  # one batch of 4 went; the mark is at 10
    assert verify_chain(CHAIN, must_exist=True).ok
    monkeypatch.setattr(archives, "delete_batch_of", real)
    _run()
    assert _stored()[0] == 21  # the rest of the first archive, then the whole second
    assert [d["last_seq"] for d in _actions(ARCHIVE_DELETED)] == [10, 20]
    assert Archive.objects.filter(chain=CHAIN).count() == 2
    assert verify_chain(CHAIN, must_exist=True).ok


def test_files_written_before_a_stop_are_reused_not_duplicated(history, monkeypatch):
    def dies_before_recording(document, now):
        raise KeyboardInterrupt("worker killed")

    real = archives._record
    monkeypatch.setattr(archives, "_record", dies_before_recording)
    with pytest.raises(KeyboardInterrupt):
        _run()
    data = history / "archives" / file_names(CHAIN, 1, 10)[0]
    written = data.stat().st_mtime_ns
    assert not Archive.objects.exists() and _stored()[0] == 1
    monkeypatch.setattr(archives, "_record", real)
    _run()
    assert data.stat().st_mtime_ns == written
    assert list(Archive.objects.filter(chain=CHAIN).values_list("last_seq", flat=True)) == [10]
    assert len(_actions(ARCHIVED)) == 1 and verify_chain(CHAIN, must_exist=True).ok


def test_a_file_changed_before_the_rerun_is_rewritten(history, monkeypatch):
    monkeypatch.setattr(archives, "_record", lambda document, now: None)
    _run()
    data = history / "archives" / file_names(CHAIN, 1, 10)[0]
    original = data.read_text()
    changed = original.replace('"n":3', '"n":4').replace('"n": 3', '"n": 4')
    assert changed != original
    data.write_text(changed)
    monkeypatch.undo()
    _run()
    assert archives._sha256(data) == Archive.objects.get(chain=CHAIN).sha256
    assert verify_chain(CHAIN, must_exist=True).ok


def _verifier(tmp_path, *args):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": published_keys()}))
    return subprocess.run([sys.executable, str(VERIFIER), *map(str, args), "--keys", str(keys)],
                          capture_output=True, text=True, timeout=60)


def _export(tmp_path, chain=CHAIN):
    path = tmp_path / f"export-{chain.replace(':', '-')}.jsonl"
    events = AuditEvent.objects.filter(chain=chain)
    path.write_bytes(b"".join(c.encode() if isinstance(c, str) else c
                              for c in jsonl_lines(events)))
    return path


def _manifests(tmp_path, chain=CHAIN):
    return [tmp_path / "archives" / file_names(a.chain, a.first_seq, a.last_seq)[1]
            for a in Archive.objects.filter(chain=chain)]


def _archive_args(paths):
    return [arg for path in paths for arg in ("--archive", path)]


def test_the_offline_verifier_accepts_the_archives_as_the_chains_beginning(history):
    checkpoint_chains()  # at 27: inside no archive
    for _ in range(3):
        _run()
    checkpoint_chains()  # at 33, after the archive events
    kept = history / "checkpoints.json"
    kept.write_text(json.dumps({"checkpoints": [
        checkpoint_document(c) for c in Checkpoint.objects.filter(chain=CHAIN)]}))
    export, manifests = _export(history), _manifests(history)
    result = _verifier(history, export, "--checkpoints", kept, *_archive_args(manifests))
    assert result.returncode == 0, result.stdout
    assert "continues from 3 signed archive(s) through event 24" in result.stdout
    assert "matches the checkpoint at event 33" in result.stdout
    data = history / "archives" / file_names(CHAIN, 11, 20)[0]
    result = _verifier(history, data, "--manifest", manifests[1], "--archive", manifests[0],
                       "--checkpoints", kept)
    assert result.returncode == 0, result.stdout
    # Without the archives the export is a chain with its beginning cut off.
    assert _verifier(history, export).returncode == 1


def test_the_offline_verifier_refuses_forged_foreign_or_missing_archives(history):
    for _ in range(3):
        _run()
    export, manifests = _export(history), _manifests(history)
    tampered = history / "tampered.json"
    document = json.loads(manifests[2].read_text())
    tampered.write_text(json.dumps({**document, "head_hash": "f" * 64}))
    result = _verifier(history, export, *_archive_args([*manifests[:2], tampered]))
    assert result.returncode == 1 and "signature that does not match" in result.stdout
    # A manifest of another chain.
    result = _verifier(history, export, *_archive_args([*_manifests(history, OTHER)]))
    assert result.returncode == 1 and "of chain tenant:tenant-s" in result.stdout
    # A gap: the last archive withheld, so events 21-24 are nowhere.
    result = _verifier(history, export, *_archive_args(manifests[:2]))
    assert result.returncode == 1 and "events 21 to 24 are in neither" in result.stdout
    # An archive missing in the middle.
    result = _verifier(history, export, *_archive_args([manifests[0], manifests[2]]))
    assert result.returncode == 1 and "does not follow the archive before it" in result.stdout
    # An archive file that is not the one its manifest signs.
    data = history / "archives" / file_names(CHAIN, 1, 10)[0]
    original = data.read_text()
    changed = original.replace('"n":3', '"n":4').replace('"n": 3', '"n": 4')
    assert changed != original
    data.write_text(changed)
    result = _verifier(history, data, "--manifest", manifests[0])
    assert result.returncode == 1 and "SHA-256 differs" in result.stdout


# --- PostgreSQL: the database enforces it, and appends never wait on the archiver -------------

def _as_replica(sql, params=()):
    """What an insider owning the tables could do (triggers off)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


@pytest.mark.postgres
def test_the_database_refuses_deleting_events_no_archive_covers(history):
    _run()
    with pytest.raises(DatabaseError, match="not covered by a signed archive"), \
            transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 11", [CHAIN])
    with pytest.raises(DatabaseError, match="moves only forward"), transaction.atomic():
        ArchiveMark.objects.filter(chain=CHAIN).update(through_seq=20)
    with pytest.raises(DatabaseError, match="moves only forward"), transaction.atomic():
        ArchiveMark.objects.filter(chain=CHAIN).update(through_seq=5)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Archive.objects.filter(chain=CHAIN).update(head_hash="f" * 64)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_archive")


@pytest.mark.postgres
def test_verify_flags_a_forged_manifest_a_moved_mark_and_events_deleted_unarchived(history):
    _run()
    _as_replica("UPDATE audit_archive SET head_hash = %s WHERE chain = %s", ["f" * 64, CHAIN])
    result = verify_chain(CHAIN, must_exist=True)
    assert result.first_bad_seq == 1 and "valid signature" in result.problem


@pytest.mark.postgres
def test_verify_flags_a_mark_moved_without_an_archive(history):
    _run()
    _as_replica("UPDATE audit_archivemark SET through_seq = 14 WHERE chain = %s", [CHAIN])
    _as_replica("DELETE FROM audit_auditevent WHERE chain = %s AND seq <= 14", [CHAIN])
    result = verify_chain(CHAIN, must_exist=True)
    assert not result.ok and "moved without an archive" in result.problem


@pytest.mark.postgres
def test_verify_flags_events_deleted_without_an_archive(history):
    _as_replica("DELETE FROM audit_auditevent WHERE chain = %s AND seq <= 5", [CHAIN])
    result = verify_chain(CHAIN, must_exist=True)
    assert result.first_bad_seq == 1 and "missing" in result.problem


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_appends_go_on_while_the_archiver_writes_its_file(history, monkeypatch):
    """The archiver holds no lock while it writes: an append from another connection lands at
    once, and the archive, recorded after it, still verifies."""
    writing, appended = threading.Event(), threading.Event()
    real = archives.check_file

    def slow_check(*args, **kwargs):
        writing.set()
        assert appended.wait(timeout=10), "an append waited on the archiver"
        return real(*args, **kwargs)

    monkeypatch.setattr(archives, "check_file", slow_check)

    def append():
        try:
            assert writing.wait(timeout=30)
            record_event(chain=CHAIN, action="test.happened", data={"n": "during"})
            appended.set()
        finally:
            connection.close()

    thread = threading.Thread(target=append)
    thread.start()
    _run()
    thread.join(timeout=30)
    assert appended.is_set()
    assert AuditEvent.objects.filter(chain=CHAIN, data__n="during").exists()
    assert verify_chain(CHAIN, must_exist=True).ok


def test_an_archive_stops_before_the_first_event_younger_than_the_retention(db, settings,
                                                                           tmp_path):
    settings.LOCKBOX_ARCHIVE_DIR = str(tmp_path)
    old = clock.now() - timedelta(days=8 * 366)
    create_tenant(slug="tenant-r", name="Tenant R", now=old)
    record_event(chain=CHAIN, action="test.happened", now=clock.now())  # 2: young
    record_event(chain=CHAIN, action="test.happened", now=old)  # 3: old, after a young one
    assert _run().archives == 1
    assert list(Archive.objects.values_list("first_seq", "last_seq")) == [(1, 1)]
    assert _run().archives == 0 and _stored()[:2] == [2, 3]


def test_pages_verified_before_an_archive_go_on_from_its_head(history):
    from audit.status import current_status, verify_and_record

    assert verify_and_record(CHAIN, must_exist=True).ok  # remembered at event 27
    now = clock.now()
    while archives.archive_chain(CHAIN, cutoff=now, now=now, batch=10):  # 1-10, 11-20, 21-27
        archives.finish_deletions(CHAIN, now=now)
    assert not AuditEvent.objects.filter(chain=CHAIN, seq=27).exists()
    record_event(chain=CHAIN, action="test.happened", data={"n": "after"})
    status = current_status(CHAIN, must_exist=True)
    assert status.ok and status.count == 34, status  # 27 + 3 archived + 3 deleted + 1
