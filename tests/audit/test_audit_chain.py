"""The audit chain: a clean chain verifies; each kind of tampering is found at the right place."""

from contextlib import contextmanager
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit.encoding import PROVIDER_CHAIN, canonical_fields, compute_hash
from audit.models import AuditEvent
from audit.services import record_event
from audit.verification import verify_chain

CHAIN = "tenant:tenant-a"


@pytest.fixture
def ten_events(tenant_a, approver_a, now):
    # tenant_a's creation and the approver's membership are events 1 and 2; add eight more.
    for i in range(8):
        record_event(chain=CHAIN, action="test.happened", actor=approver_a,
                     data={"i": i, "note": "ünïcode ok"}, now=now)
    assert AuditEvent.objects.filter(chain=CHAIN).count() == 10


@contextmanager
def tampering():
    """Act as someone with raw database access: no ORM guard, and on PostgreSQL no triggers."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")


def _row_id(seq):
    return AuditEvent.objects.get(chain=CHAIN, seq=seq).pk


def test_a_clean_chain_verifies(ten_events):
    result = verify_chain(CHAIN)
    assert result.ok
    assert result.count == 10
    assert str(result) == "OK tenant:tenant-a: 10 events verified"


def test_an_edited_event_is_found(ten_events):
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_email = %s WHERE id = %s",
                       ["mallory@evil.test", _row_id(4)])
    result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "altered" in result.problem


def test_an_edited_event_with_a_recomputed_hash_is_found_at_the_next_link(ten_events):
    event = AuditEvent.objects.get(chain=CHAIN, seq=4)
    fields = canonical_fields(chain=CHAIN, seq=4, occurred_at=event.occurred_at,
                              action="test.happened", actor_id=event.actor_id,
                              actor_email="mallory@evil.test", request_id=None,
                              data=event.data, prev_hash=event.prev_hash)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_email = %s, hash = %s WHERE id = %s",
                       ["mallory@evil.test", compute_hash(fields), event.pk])
    result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, 5)


def test_a_deleted_event_is_found(ten_events):
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [_row_id(6)])
    result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert "missing" in result.problem


def test_an_inserted_event_is_found_even_with_a_valid_hash(ten_events, now):
    # Shift events 5..10 up by one (highest first, to keep (chain, seq) unique), then slip a
    # well-formed event into place 5 that links correctly to event 4.
    previous = AuditEvent.objects.get(chain=CHAIN, seq=4)
    with tampering() as cursor:
        for seq in range(10, 4, -1):
            cursor.execute("UPDATE audit_auditevent SET seq = %s WHERE id = %s",
                           [seq + 1, _row_id(seq)])
        fields = canonical_fields(chain=CHAIN, seq=5, occurred_at=now, action="test.forged",
                                  actor_id=None, actor_email="", request_id=None, data={},
                                  prev_hash=previous.hash)
        cursor.execute(
            "INSERT INTO audit_auditevent (chain, seq, occurred_at, action, actor_id, "
            "actor_email, request_id, data, prev_hash, hash) "
            "VALUES (%s, 5, %s, 'test.forged', NULL, '', NULL, '{}', %s, %s)",
            [CHAIN, now, previous.hash, compute_hash(fields)],
        )
    result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, 5)
    assert "inserted" in result.problem


def test_reordered_events_are_found(ten_events):
    seven, eight = _row_id(7), _row_id(8)
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET seq = 1000 WHERE id = %s", [seven])
        cursor.execute("UPDATE audit_auditevent SET seq = 7 WHERE id = %s", [eight])
        cursor.execute("UPDATE audit_auditevent SET seq = 8 WHERE id = %s", [seven])
    result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, 7)


def test_removing_the_newest_events_is_found_from_the_chain_head(ten_events):
    with tampering() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s AND seq >= 9", [CHAIN])
    result = verify_chain(CHAIN)
    assert (result.ok, result.first_bad_seq) == (False, 9)
    assert "missing from the end" in result.problem


def test_chains_are_independent(ten_events, tenant_b):
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'x.y' WHERE id = %s", [_row_id(2)])
    assert not verify_chain(CHAIN).ok
    assert verify_chain("tenant:tenant-b").ok


def test_sequence_numbers_are_gapless_per_chain(tenant_a, tenant_b, now):
    for chain in (CHAIN, PROVIDER_CHAIN, CHAIN):
        record_event(chain=chain, action="test.happened", now=now)
    assert list(AuditEvent.objects.filter(chain=CHAIN).values_list("seq", flat=True)
                .order_by("seq")) == [1, 2, 3]
    assert AuditEvent.objects.get(chain=PROVIDER_CHAIN).seq == 1


def test_events_name_the_real_person(approver_a, now, db):
    event = record_event(chain=CHAIN, action="test.happened", actor=approver_a, now=now)
    assert (event.actor_id, event.actor_email) == (approver_a.pk, "approver@a.test")


@pytest.mark.parametrize("data,error", [
    ({"ratio": 0.5}, "float"),
    ({"when": object()}, "object"),
    ({1: "x"}, "non-string key"),
])
def test_record_event_refuses_data_that_would_not_hash_the_same_twice(data, error, db):
    with pytest.raises(TypeError, match=error):
        record_event(chain=CHAIN, action="test.happened", data=data)
    assert not AuditEvent.objects.exists()


def test_record_event_refuses_a_malformed_action(db):
    with pytest.raises(ValueError, match=r"noun\.verb"):
        record_event(chain=CHAIN, action="Something Happened")


def test_the_orm_refuses_changes(ten_events):
    event = AuditEvent.objects.get(chain=CHAIN, seq=3)
    event.action = "x.y"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(chain=CHAIN).update(action="x.y")
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(chain=CHAIN).delete()
    assert verify_chain(CHAIN).ok


@pytest.mark.postgres
@pytest.mark.parametrize("statement", [
    "UPDATE audit_auditevent SET action = 'x.y'",
    "DELETE FROM audit_auditevent",
    "TRUNCATE audit_auditevent",
])
def test_postgres_refuses_update_delete_and_truncate(statement, ten_events):
    with (pytest.raises(DatabaseError, match="append-only"), transaction.atomic(),
          connection.cursor() as cursor):
        cursor.execute(statement)
    assert verify_chain(CHAIN).ok
    assert AuditEvent.objects.filter(chain=CHAIN).count() == 10


# --- manage.py verify_audit ---------------------------------------------------------------------

def test_verify_audit_prints_ok_for_every_chain(ten_events, tenant_b):
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().splitlines() == [
        "OK tenant:tenant-a: 10 events verified",
        "OK tenant:tenant-b: 1 events verified",
    ]


def test_verify_audit_names_the_first_broken_sequence_and_fails(ten_events):
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'x.y' WHERE id = %s", [_row_id(3)])
    err = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("verify_audit", "--tenant", "tenant-a", stderr=err)
    assert failed.value.returncode == 1
    assert err.getvalue().startswith("BROKEN tenant:tenant-a at sequence 3:")


def test_verify_audit_refuses_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="no tenant 'nope'"):
        call_command("verify_audit", "--tenant", "nope")


def test_pages_check_only_what_is_newer_than_the_last_full_verification(ten_events, reader_a):
    from audit.status import current_status, verify_and_record
    from tests.clients import signed_in

    assert verify_and_record(CHAIN).ok
    record_event(chain=CHAIN, action="test.happened")
    status = current_status(CHAIN)
    assert (status.ok, status.count) == (True, 12)  # + the reader's membership, + this one
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'x.y' WHERE id = %s", [_row_id(3)])
    # An old event's change is found by the next full verification (daily, or verify_audit),
    # and from then on every page says so.
    assert current_status(CHAIN).ok
    assert not verify_and_record(CHAIN).ok
    page = signed_in(reader_a).get("/t/tenant-a/audit/").content.decode()
    assert "does not verify at event 3" in page


def test_a_page_writes_the_chain_status_only_when_it_moved(ten_events, now):
    from audit.models import ChainVerification
    from audit.status import current_status, verify_and_record

    verify_and_record(CHAIN, now=now)
    current_status(CHAIN, now=now + timedelta(minutes=1))
    assert ChainVerification.objects.get(chain=CHAIN).verified_at == now  # nothing new
    record_event(chain=CHAIN, action="test.happened")
    status = current_status(CHAIN, now=now + timedelta(minutes=2))
    record = ChainVerification.objects.get(chain=CHAIN)
    assert status.ok and (record.verified_seq, record.verified_at) == (
        status.count, now + timedelta(minutes=2))


def test_a_batch_appends_in_order_after_single_events_and_the_chain_verifies(db, approver_a):
    from audit.services import record_events

    record_event(chain="tenant:batch", action="activity.recorded", data={"n": 0})
    written = record_events(chain="tenant:batch", events=[
        {"action": "activity.recorded", "actor": approver_a, "data": {"n": n}}
        for n in range(1, 4)])
    record_event(chain="tenant:batch", action="activity.recorded", data={"n": 4})
    rows = list(AuditEvent.objects.filter(chain="tenant:batch").order_by("seq"))
    assert [e.seq for e in rows] == [1, 2, 3, 4, 5]
    assert [e.data["n"] for e in rows] == [0, 1, 2, 3, 4]
    assert [e.seq for e in written] == [2, 3, 4] and rows[1].actor_email == approver_a.email
    assert verify_chain("tenant:batch").ok


def test_a_batch_with_one_bad_event_writes_nothing(db):
    from audit.services import record_events

    with pytest.raises(ValueError):
        record_events(chain="tenant:batch", events=[
            {"action": "activity.recorded", "data": {"n": 1}},
            {"action": "not an action", "data": {}}])
    assert not AuditEvent.objects.filter(chain="tenant:batch").exists()
