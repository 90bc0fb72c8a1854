"""`manage.py bench_seed` (PostgreSQL): the data the benchmarks run on must be data Lockbox
itself would have written: chains that verify, events the pages can describe, interleaved in
time as a live system writes them."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from approvals import timeline
from approvals.models import AccessRequest, State, Tenant
from audit.models import AuditEvent, ChainHead
from audit.selectors import all_chains
from audit.verification import verify_chain

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def seeded():
    out = StringIO()
    call_command("bench_seed", tenants=4, requests=60, events=900, stdout=out)
    return out.getvalue()


def test_the_seed_fills_every_state_and_every_chain_verifies(seeded):
    assert Tenant.objects.count() == 4
    assert AccessRequest.objects.count() == 60
    assert {s for s in AccessRequest.objects.values_list("state", flat=True)} >= {
        State.COMPLETED, State.DENIED, State.APPROVED}
    chains = all_chains()
    assert len(chains) == 4
    for chain in chains:
        result = verify_chain(chain)
        assert result.ok, str(result)
        assert ChainHead.objects.get(chain=chain).seq == result.count
    assert AuditEvent.objects.count() >= 800


def test_seeded_events_read_like_real_ones(seeded):
    for event in AuditEvent.objects.all():
        sentence = timeline.describe(event)  # raises on data a transition would not write
        assert sentence and not sentence.endswith(f": {event.action}")


def test_chains_are_interleaved_in_time_as_a_live_system_writes_them(seeded):
    from audit.services import record_event

    times = list(AuditEvent.objects.order_by("id").values_list("occurred_at", "chain"))
    assert [t for t, _ in times] == sorted(t for t, _ in times)  # ids follow time
    assert len({chain for _, chain in times[:100]}) > 1  # not one tenant after another
    newest = AuditEvent.objects.order_by("-id").first().pk
    assert record_event(chain="tenant:t0001", action="activity.recorded").pk > newest


def test_the_seed_refuses_a_database_that_has_data(seeded):
    with pytest.raises(CommandError, match="already has tenants"):
        call_command("bench_seed", tenants=1, requests=1, events=1, stdout=StringIO())


def test_verify_audit_checks_chains_in_parallel_and_names_the_broken_one(seeded):
    from tests.audit.test_audit_chain import tampering

    out = StringIO()
    call_command("verify_audit", jobs=2, stdout=out)
    assert out.getvalue().count("OK tenant:") == 4
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'request.cancelled' "
                       "WHERE chain = 'tenant:t0002' AND seq = 5")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 of 4 chain"):
        call_command("verify_audit", jobs=2, stdout=out, stderr=err)
    assert "BROKEN tenant:t0002 at sequence 5" in err.getvalue()
    assert out.getvalue().count("OK tenant:") == 3


def test_seeded_words_can_be_searched_and_new_events_words_are_noted(seeded):
    """The seed writes events with the word-noting trigger off and notes the words at the end;
    the trigger must be on again for what is written next."""
    from audit.selectors import search_events
    from audit.services import record_event

    event = AuditEvent.objects.filter(action="activity.recorded").order_by("id").first()
    word = event.data["resource"].split("/")[-1].split("@")[0]  # "user521"
    assert search_events(event.chain, text=word[:-1]).filter(pk=event.pk).exists()
    record_event(chain=event.chain, action="activity.recorded",
                 data={"resource": "files/wombatledger"})
    assert search_events(event.chain, text="wombat").count() == 1


def _audit_indexes():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) "
                       "FROM pg_index WHERE indrelid = 'audit_auditevent'::regclass")
        indexes = dict(cursor.fetchall())
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = 'audit_auditevent'::regclass")
        return indexes, dict(cursor.fetchall())


def test_the_seed_leaves_every_index_and_constraint_as_the_migrations_made_them():
    """The seed drops the audit table's indexes for its COPY and builds them again after:
    what the pages, the appends and the gapless sequence rely on must all be back."""
    from django.db import IntegrityError, transaction

    before = _audit_indexes()
    call_command("bench_seed", tenants=3, requests=30, events=400, stdout=StringIO())
    assert _audit_indexes() == before
    assert "audit_event_chain_seq_unique" in before[1]
    event = AuditEvent.objects.filter(chain="tenant:t0001").order_by("seq").first()
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent.objects.bulk_create([AuditEvent(
            chain=event.chain, seq=event.seq, occurred_at=event.occurred_at,
            action=event.action, data={}, prev_hash=event.prev_hash, hash=event.hash)])
