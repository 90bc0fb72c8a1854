"""What people see and do in the portal: dashboard, request page, decisions, history, audit."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from approvals import transitions as t
from approvals.models import Decision, State
from audit.models import AuditEvent
from audit.verification import verify_chain
from tests import factories
from tests.clients import make_requests, signed_in


@pytest.fixture
def requests_a(engineer, manager, approver_a, tenant_a):
    return make_requests(engineer=engineer, manager=manager, approver=approver_a,
                         tenant=tenant_a, now=timezone.now())


@pytest.fixture
def quorum_two(tenant_a, approver_a, approver_a2, engineer, manager):
    tenant_a.required_approvals = 2
    tenant_a.save()
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now(),
                           case_reference="CASE-Q2")
    t.internal_approve(access_request=req, actor=manager)
    t.customer_approve(access_request=req, actor=approver_a, comment="Fine by me.")
    return req


def _html(response):
    return response.content.decode()


# --- Dashboard ----------------------------------------------------------------------------------

def test_the_dashboard_shows_what_an_approver_needs_to_decide(approver_a2, tenant_a,
                                                              quorum_two):
    html = _html(signed_in(approver_a2).get("/t/tenant-a/"))
    assert "Waiting for your decision" in html
    assert "CASE-Q2" in html and "engineer@provider.test" in html
    assert "Customer-initiated support" in html
    assert "exchange/mailbox/user@example.test" in html
    assert "Read-only" in html and "for 1 h" in html
    assert "<strong>1 of 2</strong>" in html
    assert "data-countdown" in html and "Expires" in html
    assert 'aria-label="1 waiting"' in html
    assert reverse("portal:approve", args=["tenant-a", quorum_two.pk]) in html


def test_an_approver_who_approved_sees_no_buttons_for_it(approver_a, tenant_a, quorum_two):
    html = _html(signed_in(approver_a).get("/t/tenant-a/"))
    assert "You approved. Waiting for 1 more approver." in html
    assert reverse("portal:approve", args=["tenant-a", quorum_two.pk]) not in html


def test_the_compliance_reader_has_no_decision_buttons_anywhere(reader_a, tenant_a,
                                                               requests_a):
    pending, active = requests_a
    client = signed_in(reader_a)
    for url in ("/t/tenant-a/", f"/t/tenant-a/requests/{pending.pk}/",
                f"/t/tenant-a/requests/{active.pk}/", "/t/tenant-a/history/",
                "/t/tenant-a/audit/"):
        html = _html(client.get(url))
        assert "/approve/" not in html and "/reject/" not in html and "/revoke/" not in html
    assert "Waiting for Tenant A's approvers" in _html(client.get("/t/tenant-a/"))


def test_empty_states_say_so(approver_a, tenant_a):
    html = _html(signed_in(approver_a).get("/t/tenant-a/"))
    assert "No requests waiting for you." in html
    assert "No provider engineer can access Tenant A's data right now." in html


def test_active_access_shows_time_left_and_a_revoke_button(approver_a, tenant_a, requests_a):
    _, active = requests_a
    html = _html(signed_in(approver_a).get("/t/tenant-a/"))
    assert "Access open now" in html and "Ends" in html
    assert reverse("portal:revoke", args=["tenant-a", active.pk]) in html


def test_a_person_in_several_tenants_picks_one(approver_a, tenant_b):
    from approvals.models import TenantRole
    from approvals.tenants import add_tenant_member

    add_tenant_member(tenant=tenant_b, user=approver_a, role=TenantRole.APPROVER)
    html = _html(signed_in(approver_a).get("/"))
    assert "Choose a tenant" in html and "Tenant A" in html and "Tenant B" in html


def test_someone_in_no_tenant_is_told_so(outsider):
    assert "You are not a member of any tenant" in _html(signed_in(outsider).get("/"))


# --- One request --------------------------------------------------------------------------------

def test_the_request_page_tells_the_whole_story(approver_a, approver_a2, tenant_a, quorum_two):
    t.customer_approve(access_request=quorum_two, actor=approver_a2)
    html = _html(signed_in(approver_a).get(f"/t/tenant-a/requests/{quorum_two.pk}/"))
    assert "engineer@provider.test asked for read-only access to 1 resource(s) for 1 h." in html
    assert "manager@provider.test approved for the provider." in html
    assert "approver@a.test approved (1 of 2)." in html
    assert "Fine by me." in html
    assert "approver2@a.test approved (2 of 2). Access from" in html
    assert "Access open from" in html


# --- Deciding -----------------------------------------------------------------------------------

def _approve_url(req):
    return reverse("portal:approve", args=[req.tenant.slug, req.pk])


def test_approving_grants_access_and_says_so(approver_a2, tenant_a, quorum_two):
    client = signed_in(approver_a2)
    confirm = _html(client.get(_approve_url(quorum_two)))
    assert "Your approval <strong>opens access now</strong>" in confirm
    page = client.post(_approve_url(quorum_two), {"code": client.codes[0]}, follow=True)
    assert f"You approved request {quorum_two.reference}." in _html(page)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.APPROVED


def test_a_rejection_needs_a_reason(approver_a2, tenant_a, quorum_two):
    client = signed_in(approver_a2)
    url = reverse("portal:reject", args=["tenant-a", quorum_two.pk])
    page = client.post(url, {"code": client.codes[0], "comment": "  "})
    assert page.status_code == 400
    assert "Say why" in _html(page)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.PENDING_CUSTOMER
    client.post(url, {"comment": "Not during the audit freeze."})
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.DENIED
    event = AuditEvent.objects.get(request_id=quorum_two.pk, action="request.customer_rejected")
    assert event.data["comment"] == "Not during the audit freeze."


def test_an_over_long_comment_is_refused_cleanly(approver_a2, tenant_a, quorum_two):
    client = signed_in(approver_a2)
    page = client.post(_approve_url(quorum_two), {"code": client.codes[0],
                                                  "comment": "x" * 2001})
    assert page.status_code == 400
    assert "at most 2000 characters" in _html(page)
    assert Decision.objects.filter(request=quorum_two).count() == 2  # internal + first approver


def test_a_double_submitted_approval_is_recorded_once(approver_a2, tenant_a, quorum_two):
    client = signed_in(approver_a2)
    first = client.post(_approve_url(quorum_two), {"code": client.codes[0]})
    second = client.post(_approve_url(quorum_two), {"code": client.codes[1]}, follow=True)
    assert first.status_code == 302
    assert "nothing to decide any more" in _html(second)
    granted = AuditEvent.objects.filter(request_id=quorum_two.pk, action="request.approved")
    assert granted.count() == 1


def test_deciding_twice_on_a_quorum_request_is_refused_clearly(approver_a, tenant_a,
                                                               quorum_two):
    client = signed_in(approver_a)
    page = client.post(_approve_url(quorum_two), {"code": client.codes[0]}, follow=True)
    assert "You have already decided on this request" in _html(page)
    assert Decision.objects.filter(request=quorum_two, actor=approver_a).count() == 1


def test_a_request_that_is_no_longer_pending_cannot_be_decided(approver_a2, tenant_a,
                                                              quorum_two, engineer):
    t.cancel(access_request=quorum_two, actor=engineer)
    client = signed_in(approver_a2)
    page = client.post(_approve_url(quorum_two), {"code": client.codes[0]}, follow=True)
    assert "is cancelled; there is nothing to decide any more" in _html(page)


def test_get_never_changes_anything(approver_a2, tenant_a, quorum_two):
    events = AuditEvent.objects.count()
    client = signed_in(approver_a2)
    for verb in ("approve", "reject"):
        client.get(reverse(f"portal:{verb}", args=["tenant-a", quorum_two.pk]),
                   {"code": client.codes[0], "comment": "x"})
    assert AuditEvent.objects.count() == events
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.PENDING_CUSTOMER


def test_a_missing_csrf_token_is_refused_with_a_clear_page(approver_a2, tenant_a, quorum_two):
    client = Client(enforce_csrf_checks=True)
    codes = factories.verify_with_otp(client, approver_a2)
    page = client.post(_approve_url(quorum_two), {"code": codes[0]})
    assert page.status_code == 403
    assert "This form has expired" in _html(page)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.PENDING_CUSTOMER


def test_revoking_ends_access_now(approver_a, tenant_a, requests_a):
    _, active = requests_a
    client = signed_in(approver_a)
    url = reverse("portal:revoke", args=["tenant-a", active.pk])
    assert "ends immediately" in _html(client.get(url))
    client.post(url, {"code": client.codes[0], "comment": "Done here."})
    active.refresh_from_db()
    assert active.state == State.REVOKED
    from approvals.access import check_access

    assert not check_access(engineer=active.requester, tenant=tenant_a,
                            resource=active.scope[0])


# --- History ------------------------------------------------------------------------------------

@pytest.fixture
def many(engineer, manager, tenant_a):
    now = timezone.now()
    made = []
    for i in range(30):
        made.append(factories.submit(engineer=engineer, tenant=tenant_a,
                                     now=now - timedelta(days=i), case_reference=f"CASE-{i:02d}"))
    return made


def test_history_is_newest_first_and_paginated(approver_a, many):
    client = signed_in(approver_a)
    first = _html(client.get("/t/tenant-a/history/"))
    assert first.index("CASE-00") < first.index("CASE-01")
    assert "CASE-24" in first and "CASE-25" not in first
    assert "Page 1 of 2 · 30 requests" in first
    second = _html(client.get("/t/tenant-a/history/?page=2"))
    assert "CASE-25" in second and "CASE-29" in second


def test_history_filters_by_state_as_people_see_it(approver_a, many):
    html = _html(signed_in(approver_a).get("/t/tenant-a/history/?state=expired"))
    # Submitted 1+ days ago, so their 12 h internal window has lapsed, sweep or not.
    assert "CASE-01" in html and "CASE-00" not in html
    assert "29 requests" in html


def test_history_filters_by_date_range(approver_a, many):
    day = (timezone.now() - timedelta(days=3)).date().isoformat()
    html = _html(signed_in(approver_a).get(f"/t/tenant-a/history/?since={day}&until={day}"))
    assert "CASE-03" in html and "CASE-02" not in html and "CASE-04" not in html


def test_history_explains_a_bad_range(approver_a, many):
    html = _html(signed_in(approver_a).get(
        "/t/tenant-a/history/?since=2026-05-02&until=2026-05-01"))
    assert "must be on or before" in html


# --- Audit --------------------------------------------------------------------------------------

def test_the_audit_page_shows_the_chain_verifies(approver_a, requests_a):
    html = _html(signed_in(approver_a).get("/t/tenant-a/audit/"))
    assert "The log verifies." in html
    assert "Access granted" in html


def test_audit_search_filters_by_action_person_request_and_text(approver_a, requests_a):
    pending, _ = requests_a
    client = signed_in(approver_a)
    by_action = _html(client.get("/t/tenant-a/audit/?action=request.approved"))
    assert by_action.count('title="request.approved"') == 1
    by_person = _html(client.get("/t/tenant-a/audit/?actor=manager@"))
    assert by_person.count('title="request.internal_approved"') == 2
    assert 'title="request.submitted"' not in by_person
    by_request = _html(client.get(f"/t/tenant-a/audit/?request={pending.reference}"))
    assert 'title="request.submitted"' in by_request and 'title="request.approved"' not in \
        by_request
    by_text = _html(client.get("/t/tenant-a/audit/?q=mailbox"))
    assert by_text.count('title="request.submitted"') == 2


def test_audit_pages_fifty_at_a_time_newest_first(approver_a, tenant_a):
    import re

    from audit.services import record_event

    for i in range(120):
        record_event(chain=tenant_a.audit_chain, action="test.happened", data={"i": i})
    client = signed_in(approver_a)
    seqs = lambda html: [int(n) for n in re.findall(r'data-label="#">(\d+)<', html)]  # noqa: E731
    first = _html(client.get("/t/tenant-a/audit/"))
    assert seqs(first) == list(range(122, 72, -1))
    older = re.search(r'href="\?before=(\d+)"', first).group(1)
    second = _html(client.get(f"/t/tenant-a/audit/?before={older}"))
    assert seqs(second) == list(range(72, 22, -1))
    newer = re.search(r'href="\?after=(\d+)"', second).group(1)
    assert seqs(_html(client.get(f"/t/tenant-a/audit/?after={newer}"))) == seqs(first)


def test_export_streams_the_current_search_as_csv_and_jsonl(approver_a, requests_a, tenant_a):
    client = signed_in(approver_a)
    response = client.get("/t/tenant-a/audit/export.csv?action=request.approved")
    assert response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="lockbox-audit-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["request.approved"]
    assert rows[0]["chain"] == "tenant:tenant-a" and len(rows[0]["hash"]) == 64
    lines = b"".join(client.get("/t/tenant-a/audit/export.jsonl").streaming_content)
    events = [json.loads(line) for line in lines.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["hash"] == AuditEvent.objects.filter(chain="tenant:tenant-a").latest(
        "seq").hash
    assert verify_chain("tenant:tenant-a").ok


def test_an_unknown_export_format_is_404(approver_a, tenant_a):
    assert signed_in(approver_a).get("/t/tenant-a/audit/export.xml").status_code == 404


def test_an_engineer_action_in_the_audit_says_what_was_touched(approver_a, tenant_a, engineer):
    from audit.services import record_event

    record_event(chain=tenant_a.audit_chain, action="activity.recorded", actor=engineer,
                 data={"engineer": engineer.email, "resource": "exchange/mailbox/ceo@a.test",
                       "operation": "read", "outcome": "success",
                       "access_level": "read_only"})
    html = _html(signed_in(approver_a).get("/t/tenant-a/audit/?q=ceo"))
    assert "read <code>exchange/mailbox/ceo@a.test</code>" in html
