"""Close-out attestations, the compliance dashboard, and searching the audit at scale."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from approvals import attestations
from approvals import transitions as t
from approvals.errors import IllegalTransition, NotPermitted
from approvals.models import AttestationStatus, State
from approvals.notifications import delivery
from audit.models import AuditEvent
from audit.selectors import keyset_page, search_events
from audit.services import record_event
from tests import factories
from tests.clients import make_requests, signed_in


@pytest.fixture
def ended(engineer, manager, approver_a, tenant_a):
    req = factories.request_in_state(State.COMPLETED, engineer=engineer, manager=manager,
                                     approver=approver_a, tenant=tenant_a, now=timezone.now())
    return req


@pytest.fixture
def running(engineer, manager, approver_a, tenant_a):
    return make_requests(engineer=engineer, manager=manager, approver=approver_a,
                         tenant=tenant_a, now=timezone.now())[1]


# --- Attestations -------------------------------------------------------------------------------

def test_a_summary_cannot_be_filed_before_access_ends(running, engineer):
    with pytest.raises(IllegalTransition, match="Access has not ended yet"):
        attestations.file(access_request=running, actor=engineer, summary="Done.")
    assert not AuditEvent.objects.filter(action="attestation.filed").exists()


def test_only_the_engineer_files_and_only_once(ended, engineer, engineer2):
    with pytest.raises(NotPermitted):
        attestations.file(access_request=ended, actor=engineer2, summary="Done.")
    with pytest.raises(ValidationError):
        attestations.file(access_request=ended, actor=engineer, summary="  ")
    attestations.file(access_request=ended, actor=engineer, summary="Read the rules; fixed one.")
    with pytest.raises(IllegalTransition, match="already filed"):
        attestations.file(access_request=ended, actor=engineer, summary="Again.")


def test_the_engineer_files_through_the_internal_site(ended, engineer):
    client = signed_in(engineer)
    page = client.get(f"/internal/requests/{ended.pk}/").content.decode()
    assert "Close out: what did you do?" in page
    assert "Request " + ended.reference in client.get("/internal/attestations/").content.decode()
    client.post(f"/internal/requests/{ended.pk}/attestation/", {"summary": "Read the rules."})
    ended.refresh_from_db()
    assert ended.attestation.status == AttestationStatus.FILED


def test_the_customer_acknowledges(ended, engineer, approver_a):
    attestations.file(access_request=ended, actor=engineer, summary="Read the rules.")
    client = signed_in(approver_a)
    dashboard = client.get("/t/tenant-a/").content.decode()
    assert "waiting for your acknowledgement" in dashboard
    client.post(f"/t/tenant-a/requests/{ended.pk}/attestation/", {"answer": "acknowledge"})
    ended.attestation.refresh_from_db()
    assert ended.attestation.status == AttestationStatus.ACKNOWLEDGED
    event = AuditEvent.objects.get(action="attestation.acknowledged")
    assert event.actor_email == "approver@a.test"


def test_the_audit_names_close_out_events_in_words(ended, engineer, approver_a):
    attestations.file(access_request=ended, actor=engineer, summary="Read the rules.")
    client = signed_in(approver_a)
    client.post(f"/t/tenant-a/requests/{ended.pk}/attestation/", {"answer": "acknowledge"})
    page = client.get("/t/tenant-a/audit/").content.decode()
    cells = re.findall(r'data-label="What"><span title="([^"]+)">([^<]+)</span>', page)
    words = dict(cells)
    assert words["attestation.filed"] == "Close-out report filed"
    assert words["attestation.acknowledged"] == "Close-out acknowledged"
    assert all(code != label for code, label in cells), cells


def test_a_dispute_tells_the_auditors_and_stays_visible_until_resolved(ended, engineer,
                                                                      approver_a, auditor):
    attestations.file(access_request=ended, actor=engineer, summary="Read the rules.")
    client = signed_in(approver_a)
    refused = client.post(f"/t/tenant-a/requests/{ended.pk}/attestation/",
                          {"answer": "dispute"}, follow=True)
    assert "Say what you dispute." in refused.content.decode()
    client.post(f"/t/tenant-a/requests/{ended.pk}/attestation/",
                {"answer": "dispute", "comment": "You also opened messages."})
    delivery.retry_due()
    assert any(m.to == [auditor.email] and "disputes the summary" in m.subject
               for m in mail.outbox)
    assert "Disputed" in client.get("/t/tenant-a/").content.decode()
    auditor_client = signed_in(auditor)
    assert "Request " + ended.reference in auditor_client.get(
        "/internal/attestations/").content.decode()
    auditor_client.post(f"/internal/requests/{ended.pk}/attestation/resolve/",
                        {"resolution": "Logs show the messages were opened by the customer."})
    ended.attestation.refresh_from_db()
    assert ended.attestation.status == AttestationStatus.RESOLVED
    page = client.get(f"/t/tenant-a/requests/{ended.pk}/").content.decode()
    assert "Resolved by auditor@provider.test" in page


def test_an_answer_is_only_for_the_tenants_approvers_and_admins(ended, engineer, reader_a,
                                                               approver_b):
    attestation = attestations.file(access_request=ended, actor=engineer, summary="Read.")
    for person in (reader_a, approver_b, engineer):
        with pytest.raises(NotPermitted):
            attestations.answer(attestation=attestation, actor=person, acknowledge=True)


# --- Keyset pagination while events arrive ------------------------------------------------------

def test_every_event_once_across_pages_while_new_ones_arrive(tenant_a):
    chain = tenant_a.audit_chain
    for i in range(130):
        record_event(chain=chain, action="test.happened", data={"i": i})
    original = set(AuditEvent.objects.filter(chain=chain).values_list("seq", flat=True))
    seen, cursor = [], None
    while True:
        events, cursor, _ = keyset_page(search_events(chain), before=cursor, size=25)
        seen += [e.seq for e in events]
        for j in range(7):  # more arrive between page loads
            record_event(chain=chain, action="test.arrived", data={"j": j})
        if cursor is None:
            break
    first_page_newest = max(original)
    assert sorted(seen) == sorted(set(seen))
    assert set(seen) == {s for s in original if s <= first_page_newest}


# --- The compliance dashboard -------------------------------------------------------------------

def test_the_compliance_reader_sees_charts_and_their_numbers(reader_a, running, ended):
    client = signed_in(reader_a)
    page = client.get("/t/tenant-a/compliance/").content.decode()
    assert page.count("<svg class=\"chart\"") == 4
    assert "Requests per week, by outcome" in page and "Access open now" in page
    assert running.requester.email in page
    csv_text = client.get("/t/tenant-a/compliance/outcomes.csv").content.decode()
    header, *rows = csv_text.strip().splitlines()
    assert header == "Week of,granted,denied,expired,cancelled,pending"
    assert sum(int(r.split(",")[1]) for r in rows) == 2  # the running and the ended grant


def test_compliance_is_for_readers_admins_and_auditors(approver_a, auditor, running):
    assert signed_in(approver_a).get("/t/tenant-a/compliance/").status_code == 403
    page = signed_in(auditor).get("/internal/compliance/?tenant=tenant-a").content.decode()
    assert page.count("<svg class=\"chart\"") == 4
    assert signed_in(auditor).get("/internal/compliance/decision-times.csv").status_code == 200


def test_decision_times_are_bucketed(engineer, manager, approver_a, tenant_a):
    from approvals.compliance import decision_times

    now = timezone.now()
    for minutes in (5, 30, 90):
        req = factories.submit(engineer=engineer, tenant=tenant_a, now=now - timedelta(hours=3))
        t.internal_approve(access_request=req, actor=manager, now=now - timedelta(hours=3))
        t.customer_approve(access_request=req, actor=approver_a,
                           now=now - timedelta(hours=3) + timedelta(minutes=minutes))
    _, series, median = decision_times(now, tenant_a)
    assert series[0][1][:3] == [1, 1, 1] and median == 30


# --- Full-text search on PostgreSQL ---------------------------------------------------------------

@pytest.mark.postgres
def test_postgres_search_uses_the_full_text_index(tenant_a, approver_a):
    from django.db import connection

    record_event(chain=tenant_a.audit_chain, action="activity.recorded", actor=approver_a,
                 data={"resource": "exchange/mailbox/ceo@acme.test", "operation": "read"})
    record_event(chain=tenant_a.audit_chain, action="test.other", data={"x": "nothing"})
    found = search_events(tenant_a.audit_chain, text="mail CEO")
    assert [e.action for e in found] == ["activity.recorded"]
    assert list(search_events(tenant_a.audit_chain, text="approver@a")) != []
    with connection.cursor() as cursor:
        # With no chain to narrow by and sequential scans ruled out, only the index can answer:
        # the plan shows that the query's expression is the one the index was built on.
        cursor.execute("SET enable_seqscan = off")
        sql, params = search_events(None, text="mail CEO").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "audit_event_search_idx" in plan, plan
    assert re.search(r"Bitmap Index Scan|Index Scan", plan)


@pytest.mark.postgres
def test_every_written_word_is_noted_for_widening_in_the_same_transaction(
        tenant_a, tenant_b, approver_a):
    """A search word is widened to the log's words it starts before the index is asked; an
    event whose words were missing from audit_searchword could never be found."""
    from django.db import connection

    from audit.services import record_events

    record_event(chain=tenant_a.audit_chain, action="activity.recorded", actor=approver_a,
                 data={"resource": "vault/quokkaledger"})
    record_events(chain=tenant_b.audit_chain, events=[
        {"action": "activity.recorded", "data": {"resource": f"vault/quokka{n}x"}}
        for n in range(3)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT word FROM audit_searchword WHERE word LIKE 'quokka%%'")
        assert {row[0] for row in cursor.fetchall()} == {
            "quokkaledger", "quokka0x", "quokka1x", "quokka2x"}
    # Widened to every word it starts, each tenant sees only its own.
    assert [e.data["resource"] for e in search_events(tenant_a.audit_chain, text="quok")] == [
        "vault/quokkaledger"]
    assert search_events(tenant_b.audit_chain, text="Quokka vault").count() == 3
    assert search_events(tenant_b.audit_chain, text="quokka1").count() == 1
    assert not search_events(tenant_a.audit_chain, text="quokkas").exists()
    assert not search_events(tenant_a.audit_chain, text="quokka ledger").exists()


@pytest.mark.postgres
@pytest.mark.parametrize("widen", [0, 1, 64])
def test_a_word_that_starts_too_many_words_is_checked_as_a_prefix(
        monkeypatch, widen, tenant_a, approver_a):
    import audit.selectors

    monkeypatch.setattr(audit.selectors, "WIDEN", widen)
    for n in range(6):
        record_event(chain=tenant_a.audit_chain, action="activity.recorded", actor=approver_a,
                     data={"resource": f"mailbox/user{n}/" + ("rarething" if n == 4 else "")})
    found = search_events(tenant_a.audit_chain, text="use rare mail")
    assert [e.data["resource"] for e in found] == ["mailbox/user4/rarething"]
    assert search_events(tenant_a.audit_chain, text="user mailbox").count() == 6


@pytest.mark.postgres
def test_a_filtered_audit_page_walks_the_chain_action_index_and_finds_the_same_rows(
        tenant_a, tenant_b, approver_a):
    """A page of one chain's events of one action is read from the end of the (chain, action,
    id) index, not by walking every chain's events backwards by id (bench/README.md)."""
    from django.db import connection

    from audit.selectors import keyset_page

    for n in range(30):
        for tenant in (tenant_a, tenant_b):
            record_event(chain=tenant.audit_chain, actor=approver_a, data={"n": n},
                         action=("test.alpha", "test.beta", "test.gamma")[n % 3])
    filters = {"action": "test.beta"}
    paged = search_events(tenant_a.audit_chain, paged=True, **filters)
    assert paged.fixed == ("chain", "action")
    plain = search_events(tenant_a.audit_chain, **filters)
    events, older, _ = keyset_page(paged, size=4)
    assert [e.pk for e in events] == list(plain.order_by("-pk").values_list("pk", flat=True)[:4])
    assert all(e.chain == tenant_a.audit_chain and e.action == "test.beta" for e in events)
    rest, _, _ = keyset_page(paged, before=older, size=50)
    assert len(events) + len(rest) == plain.count() == 10
    with connection.cursor() as cursor:
        # Statistics of these rows, not of whatever an earlier test left: with none, both
        # indexes looked equally cheap for one row and the choice between them was a toss.
        cursor.execute("ANALYZE audit_auditevent")
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_bitmapscan = off")
        ordered = paged.rows.order_by("-chain", "-action", "-pk")[:51]
        sql, params = ordered.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
        cursor.execute("RESET enable_bitmapscan")
    assert "audit_chain_action_idx" in plan, plan


def _all_pages(search, size):
    """Every event of a paged search, reading older pages until there are none, and the same
    read back from the last page towards the newest through the `after` cursors."""
    events, older, newer = keyset_page(search, size=size)
    assert newer is None
    pages = [events]
    while older is not None:
        events, older, newer = keyset_page(search, before=older, size=size)
        pages.append(events)
    back = [pages[-1]]
    while newer is not None:
        events, _, newer = keyset_page(search, after=back[-1][0].pk, size=size)
        back.append(events)
    return [e.pk for page in pages for e in page], [e.pk for page in reversed(back) for e in page]


@pytest.mark.parametrize("text", ["mailbox", "rarething", "mail rare", "nothing-like-it"])
def test_free_text_pages_hold_every_match_once_newest_first(
        monkeypatch, text, tenant_a, tenant_b, approver_a):
    """On PostgreSQL a free-text page first reads the newest WALK events one by one and then
    asks the full-text index for the rest; whichever step finds them, the pages hold exactly
    the search's matches, newest first, and none of another tenant's."""
    from django.db import connection

    import audit.selectors

    monkeypatch.setattr(audit.selectors, "WALK", 6)
    for n in range(40):
        for tenant in (tenant_a, tenant_b):
            words = "exchange/mailbox/ceo" + ("/rarething" if n % 10 == 3 else "")
            record_event(chain=tenant.audit_chain, action="activity.recorded", actor=approver_a,
                         data={"resource": words, "n": n})
    expected = list(search_events(tenant_a.audit_chain, text=text).order_by("-pk")
                    .values_list("pk", flat=True))
    if connection.vendor == "postgresql" or " " not in text:  # elsewhere a substring search
        assert len(expected) == {"mailbox": 40, "rarething": 4, "mail rare": 4}.get(text, 0)
    older_pages, newer_pages = _all_pages(
        search_events(tenant_a.audit_chain, text=text, paged=True), size=5)
    assert older_pages == expected
    assert newer_pages == expected


@pytest.mark.postgres
def test_a_rare_word_is_looked_up_in_the_index_after_a_bounded_walk(
        monkeypatch, tenant_a, approver_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import audit.selectors

    monkeypatch.setattr(audit.selectors, "WALK", 6)
    for n in range(30):
        record_event(chain=tenant_a.audit_chain, action="activity.recorded", actor=approver_a,
                     data={"resource": "mailbox/" + ("rarething" if n == 2 else "ceo")})
    for text, index_asked in (("mailbox", False), ("rarething", True)):
        with CaptureQueriesContext(connection) as queries:
            events, _, _ = keyset_page(
                search_events(tenant_a.audit_chain, text=text, paged=True), size=5)
        sql = [q["sql"] for q in queries]
        assert len(events) == (5 if text == "mailbox" else 1)
        # The walk checks each of the WALK newest rows (ts_match_vq, which no index serves)...
        walk = [s for s in sql if "ts_match_vq" in s]
        assert len(walk) == 1 and "BETWEEN" in walk[0] and "LIMIT 6)" in walk[0]
        # ...and only rare words go on to the GIN index (@@), sorted by an expression.
        indexed = [s for s in sql if "@@" in s]
        assert bool(indexed) == index_asked
        if indexed:
            assert '"chain" = ' in indexed[0] and "+ 0" in indexed[0]
