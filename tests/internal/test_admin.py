"""The Django admin: a read-only window, for provider auditors with a verified second factor."""

import pytest
from django.test import Client
from django.urls import reverse

from approvals.models import AccessRequest, State
from audit.models import AuditEvent
from tests.factories import request_in_state, verify_with_otp


@pytest.fixture
def granted(engineer, manager, approver_a, tenant_a, now):
    return request_in_state(State.APPROVED, engineer=engineer, manager=manager,
                            approver=approver_a, tenant=tenant_a, now=now)


@pytest.fixture
def auditor_client(client, auditor):
    verify_with_otp(client, auditor)
    return client


def test_the_auditor_sees_requests_with_their_state(auditor_client, granted):
    page = auditor_client.get(reverse("admin:approvals_accessrequest_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert granted.reference in html
    assert "CASE-1" in html
    assert "Approved" in html
    assert "Completed" in html  # "State now": the fixture's grant ended long before today


def test_the_auditor_sees_the_request_timeline(auditor_client, granted):
    page = auditor_client.get(reverse("admin:approvals_accessrequest_change", args=[granted.pk]))
    html = page.content.decode()
    assert "approver@a.test" in html and "manager@provider.test" in html
    assert "Save" not in html  # a view page, not an edit form


def test_the_auditor_sees_audit_events_and_a_verifying_chain(auditor_client, granted):
    page = auditor_client.get(reverse("admin:audit_auditevent_changelist"))
    assert "request.approved" in page.content.decode()
    verify = auditor_client.get(reverse("admin:audit_auditevent_verify"))
    html = verify.content.decode()
    assert "Every chain verifies" in html
    assert "tenant:tenant-a" in html


def test_the_verify_page_shows_a_broken_chain(auditor_client, granted):
    from tests.audit.test_audit_chain import tampering

    event = AuditEvent.objects.filter(chain="tenant:tenant-a").order_by("seq")[2]
    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_email = 'x@y.test' WHERE id = %s",
                       [event.pk])
    html = auditor_client.get(reverse("admin:audit_auditevent_verify")).content.decode()
    assert "At least one chain is broken" in html
    assert "BROKEN" in html


@pytest.mark.parametrize("name,args", [
    ("admin:approvals_accessrequest_add", []),
    ("admin:approvals_accessrequest_delete", ["pk"]),
    ("admin:approvals_tenant_add", []),
    ("admin:audit_auditevent_add", []),
])
def test_nothing_can_be_added_or_deleted(auditor_client, granted, name, args):
    url = reverse(name, args=[granted.pk if a == "pk" else a for a in args])
    assert auditor_client.get(url).status_code == 403
    assert auditor_client.post(url, {"post": "yes"}).status_code == 403
    assert AccessRequest.objects.filter(pk=granted.pk).exists()


def test_posting_to_a_change_page_changes_nothing(auditor_client, granted):
    url = reverse("admin:approvals_accessrequest_change", args=[granted.pk])
    response = auditor_client.post(url, {"state": "revoked"})
    assert response.status_code == 403
    granted.refresh_from_db()
    assert granted.state == State.APPROVED


def test_audit_event_pages_change_nothing(auditor_client, granted):
    event = AuditEvent.objects.filter(request_id=granted.pk).first()
    url = reverse("admin:audit_auditevent_change", args=[event.pk])
    assert auditor_client.post(url, {"action": "x.y"}).status_code == 403
    event.refresh_from_db()
    assert event.action == "request.submitted"


def test_the_list_has_no_bulk_actions(auditor_client, granted):
    page = auditor_client.get(reverse("admin:approvals_accessrequest_changelist"))
    assert 'name="action"' not in page.content.decode()


def test_a_password_only_session_is_sent_to_its_second_factor(client, auditor, granted):
    client.force_login(auditor)
    page = client.get(reverse("admin:approvals_accessrequest_changelist"))
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("mfa_setup"))
    assert "accessrequest" in page["Location"]  # and comes back here afterwards


def test_a_stranger_is_sent_to_the_sites_own_sign_in(client, db):
    page = client.get(reverse("admin:approvals_accessrequest_changelist"))
    assert page["Location"] == (f"{reverse('account_login')}?next="
                                "%2Finternal%2Fadmin%2Fapprovals%2Faccessrequest%2F")


@pytest.mark.parametrize("persona", ["engineer", "manager", "approver_a", "reader_a", "outsider"])
def test_other_people_are_kept_out(client, persona, request, granted):
    verify_with_otp(client, request.getfixturevalue(persona))
    page = client.get(reverse("admin:approvals_accessrequest_changelist"), follow=True)
    assert page.status_code == 403
    assert granted.reference not in page.content.decode()


def test_the_admin_login_page_sends_people_to_the_sites_sign_in(client, db):
    page = client.get(reverse("admin:login") + "?next=/internal/admin/audit/auditevent/")
    assert page["Location"] == (f"{reverse('account_login')}?next="
                                "%2Finternal%2Fadmin%2Faudit%2Fauditevent%2F")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x"])
def test_the_admin_login_page_passes_on_only_a_safe_next(client, db, target):
    page = client.get(reverse("admin:login"), {"next": target})
    assert page["Location"] == f"{reverse('account_login')}?next=%2Finternal%2Fadmin%2F"


def test_the_admin_login_page_reads_no_password(client, auditor, granted):
    """Right and wrong credentials get the same answer, nobody is signed in, and no password
    is even checked: the throttled sign-in is the only place that checks one."""
    from django.contrib.auth.signals import user_logged_in, user_login_failed

    codes = verify_with_otp(Client(), auditor)  # a device, and codes that would be right
    checked = []

    def note(**kwargs):
        checked.append(kwargs)

    user_login_failed.connect(note)
    user_logged_in.connect(note)
    try:
        answers = []
        for password, code in [("correct horse battery", codes[0]),
                               ("wrong password", codes[1]),
                               ("correct horse battery", "nonsense")]:
            response = client.post(reverse("admin:login"), {
                "username": auditor.email, "password": password, "otp_device": "",
                "otp_token": code, "next": "/internal/admin/"})
            answers.append((response.status_code, response["Location"]))
    finally:
        user_login_failed.disconnect(note)
        user_logged_in.disconnect(note)
    assert answers == [(302, f"{reverse('account_login')}?next=%2Finternal%2Fadmin%2F")] * 3
    assert checked == []
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("admin:index"))["Location"].startswith(reverse("account_login"))
    from lockbox_portal.security import mfa

    assert mfa.backup_codes_left(auditor) == 10  # no code was used up either


def test_the_auditor_reaches_the_admin_through_the_sites_sign_in(client, auditor, granted):
    from tests.factories import totp_device

    _, code_at = totp_device(auditor)
    start = client.get(reverse("admin:index"))
    signed = client.post(start["Location"], {"login": auditor.email,
                                             "password": "correct horse battery",
                                             "next": "/internal/admin/"})
    assert signed["Location"] == "/internal/admin/"
    second = client.get(signed["Location"])
    assert second["Location"].startswith(reverse("mfa_verify"))
    verified = client.post(reverse("mfa_verify"), {"code": code_at(), "next": "/internal/admin/"})
    assert verified["Location"] == "/internal/admin/"
    page = client.get(reverse("admin:approvals_accessrequest_changelist"))
    assert page.status_code == 200
    assert granted.reference in page.content.decode()
