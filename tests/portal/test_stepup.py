"""Deciding needs a second-factor check from the last 5 minutes, made for that very action."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import State
from audit.models import AuditEvent
from lockbox_portal.security import stepup
from tests.clients import make_requests, signed_in


@pytest.fixture
def requests_a(engineer, manager, approver_a, tenant_a):
    return make_requests(engineer=engineer, manager=manager, approver=approver_a,
                         tenant=tenant_a, now=timezone.now())


@pytest.fixture
def client_a(approver_a2):
    return signed_in(approver_a2)


def _url(name, tenant, req):
    return reverse(name, args=[tenant.slug, req.pk])


def test_a_decision_without_a_code_asks_for_one_and_records_nothing(client_a, tenant_a,
                                                                    requests_a):
    pending, _ = requests_a
    page = client_a.post(_url("portal:approve", tenant_a, pending), {"comment": "ok"})
    assert page.status_code == 400
    assert "Enter a code from your authenticator app" in page.content.decode()
    assert 'name="code"' in page.content.decode()
    assert "ok</textarea>" in page.content.decode()  # what they typed is kept
    pending.refresh_from_db()
    assert pending.state == State.PENDING_CUSTOMER


def test_a_wrong_code_is_refused(client_a, tenant_a, requests_a):
    pending, _ = requests_a
    page = client_a.post(_url("portal:approve", tenant_a, pending), {"code": "zzzzzzzz"})
    assert "not right" in page.content.decode()
    pending.refresh_from_db()
    assert pending.state == State.PENDING_CUSTOMER


def test_a_good_code_decides_and_is_bound_to_that_action(client_a, tenant_a, requests_a):
    pending, active = requests_a
    response = client_a.post(_url("portal:approve", tenant_a, pending),
                             {"code": client_a.codes[0]})
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.state == State.APPROVED
    # The same check does not authorise another action: revoking asks again.
    page = client_a.get(_url("portal:revoke", tenant_a, active))
    assert 'name="code"' in page.content.decode()
    refused = client_a.post(_url("portal:revoke", tenant_a, active), {})
    assert refused.status_code == 400
    active.refresh_from_db()
    assert active.state == State.APPROVED


def test_a_check_is_reused_for_the_same_action_within_five_minutes(client_a, tenant_a,
                                                                  requests_a, move_clock):
    pending, _ = requests_a
    url = _url("portal:reject", tenant_a, pending)
    # The code is right but the comment is missing: the check still counts for this action.
    client_a.post(url, {"code": client_a.codes[0]})
    move_clock(timedelta(minutes=4, seconds=50))
    page = client_a.get(url)
    assert 'name="code"' not in page.content.decode()
    assert "less than 5 minutes ago" in page.content.decode()
    client_a.post(url, {"comment": "Not today."})
    pending.refresh_from_db()
    assert pending.state == State.DENIED


def test_a_check_older_than_five_minutes_is_refused(client_a, tenant_a, requests_a,
                                                    move_clock):
    pending, _ = requests_a
    url = _url("portal:reject", tenant_a, pending)
    client_a.post(url, {"code": client_a.codes[0]})  # checked, but no comment yet
    move_clock(timedelta(minutes=5, seconds=1))
    page = client_a.post(url, {"comment": "Not today."})
    assert page.status_code == 400
    assert 'name="code"' in page.content.decode()
    pending.refresh_from_db()
    assert pending.state == State.PENDING_CUSTOMER
    assert not AuditEvent.objects.filter(request_id=pending.pk,
                                         action="request.customer_rejected").exists()


def test_a_backup_code_works_once(client_a, tenant_a, requests_a, approver_a2):
    pending, active = requests_a
    code = client_a.codes[0]
    client_a.post(_url("portal:approve", tenant_a, pending), {"code": code})
    page = client_a.post(_url("portal:revoke", tenant_a, active), {"code": code})
    assert "already used" in page.content.decode()
    active.refresh_from_db()
    assert active.state == State.APPROVED


def test_a_step_up_rotates_the_session_key(client_a, tenant_a, requests_a):
    pending, _ = requests_a
    before = client_a.session.session_key
    client_a.post(_url("portal:approve", tenant_a, pending), {"code": client_a.codes[0]})
    assert client_a.session.session_key != before


def test_after_a_step_up_the_session_list_names_this_browser_at_once(client_a, tenant_a,
                                                                      requests_a):
    from allauth.usersessions.models import UserSession

    pending, _ = requests_a
    client_a.get(f"/t/{tenant_a.slug}/")
    client_a.post(_url("portal:approve", tenant_a, pending), {"code": client_a.codes[0]})
    page = client_a.get(reverse("usersessions_list")).content.decode()
    assert UserSession.objects.filter(session_key=client_a.session.session_key).exists()
    assert "This browser" in page and "This is your only session." in page


def test_is_fresh_reads_the_clock_it_is_given(rf, now, db):
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.get("/")
    request.session = SessionStore()
    stepup.record(request, "approve:x", now=now)
    assert stepup.is_fresh(request, "approve:x", now=now + timedelta(minutes=5))
    assert not stepup.is_fresh(request, "approve:x", now=now + timedelta(minutes=5, seconds=1))
    assert not stepup.is_fresh(request, "approve:y", now=now)
