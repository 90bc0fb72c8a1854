"""Tenant admins change policy, people and notification addresses; every change is audited."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from approvals.models import TenantMembership
from audit.models import AuditEvent
from tests.clients import member_number, signed_in

POLICY = {"lockbox_enabled": "on", "customer_approval_window": "8", "max_access_duration": "2",
          "required_approvals": "2"}


@pytest.fixture
def admin_client(admin_a, approver_a, approver_a2):
    return signed_in(admin_a)


def _latest(action):
    return AuditEvent.objects.filter(chain="tenant:tenant-a", action=action).latest("seq")


def test_a_policy_change_is_saved_and_audited_with_old_and_new(admin_client, tenant_a):
    response = admin_client.post("/t/tenant-a/settings/", {**POLICY,
                                                           "code": admin_client.codes[0]})
    assert response.status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.customer_approval_window == timedelta(hours=8)
    assert tenant_a.max_access_duration == timedelta(hours=2)
    assert tenant_a.required_approvals == 2
    event = _latest("tenant.policy_changed")
    assert event.actor_email == "admin@a.test"
    assert event.data == {
        "customer_approval_window": {"old": 43200, "new": 28800},
        "max_access_duration": {"old": 14400, "new": 7200},
        "required_approvals": {"old": 1, "new": 2},
    }


def test_a_policy_change_needs_a_step_up(admin_client, tenant_a):
    page = admin_client.post("/t/tenant-a/settings/", POLICY)
    assert page.status_code == 400
    tenant_a.refresh_from_db()
    assert tenant_a.required_approvals == 1
    assert not AuditEvent.objects.filter(action="tenant.policy_changed").exists()


def test_requiring_more_approvals_than_approvers_is_refused(admin_client, tenant_a):
    page = admin_client.post("/t/tenant-a/settings/", {**POLICY, "required_approvals": "3",
                                                       "code": admin_client.codes[0]})
    assert page.status_code == 400
    assert "has 2 approver(s); requiring 3 approvals would let every request expire" in \
        page.content.decode()
    tenant_a.refresh_from_db()
    assert tenant_a.required_approvals == 1


@pytest.mark.parametrize("field,value", [("customer_approval_window", "0"),
                                         ("max_access_duration", "500"),
                                         ("required_approvals", "abc")])
def test_bad_policy_values_are_refused(admin_client, tenant_a, field, value):
    page = admin_client.post("/t/tenant-a/settings/", {**POLICY, field: value,
                                                       "code": admin_client.codes[0]})
    assert page.status_code == 400
    assert not AuditEvent.objects.filter(action="tenant.policy_changed").exists()


def test_switching_lockbox_off_is_audited(admin_client, tenant_a):
    data = {**POLICY, "required_approvals": "1", "customer_approval_window": "12",
            "max_access_duration": "4", "code": admin_client.codes[0]}
    data.pop("lockbox_enabled")
    admin_client.post("/t/tenant-a/settings/", data)
    tenant_a.refresh_from_db()
    assert not tenant_a.lockbox_enabled
    assert _latest("tenant.policy_changed").data == {"lockbox_enabled": {"old": True,
                                                                         "new": False}}


def test_an_invitation_creates_the_account_and_mails_a_one_time_link(
        admin_client, tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/t/tenant-a/settings/members/", {
            "email": "New.Person@A.test", "roles": ["approver"], "code": admin_client.codes[0]})
    assert response.status_code == 302
    person = get_user_model().objects.get(email="new.person@a.test")
    assert not person.has_usable_password()
    assert list(TenantMembership.objects.filter(user=person).values_list("role", flat=True)) \
        == ["approver"]
    event = _latest("membership.invited")
    assert event.data == {"email": "new.person@a.test", "roles": ["approver"]}

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@a.test"]
    assert "lockbox approver" in message.body and "Tenant A" in message.subject
    link = re.search(r"http://127\.0\.0\.1:8000(/accounts/password/reset/key/\S+)", message.body)
    assert link, message.body

    invitee = Client()
    form = invitee.get(link.group(1), follow=True)
    assert "Choose your password" in form.content.decode()
    done = invitee.post(form.redirect_chain[-1][0], {"password1": "a long new passphrase 9",
                                                     "password2": "a long new passphrase 9"})
    assert done.status_code == 302
    person.refresh_from_db()
    assert person.check_password("a long new passphrase 9")
    again = Client().get(link.group(1), follow=True)
    assert "This link no longer works" in again.content.decode()


def test_inviting_an_existing_member_is_refused(admin_client, approver_a):
    page = admin_client.post("/t/tenant-a/settings/members/", {
        "email": approver_a.email, "roles": ["admin"], "code": admin_client.codes[0]})
    assert page.status_code == 400
    assert "already a member" in page.content.decode()
    assert not mail.outbox


def test_changing_roles_is_audited_with_old_and_new(admin_client, approver_a, tenant_a):
    url = f"/t/tenant-a/settings/members/{member_number(tenant_a, approver_a)}/"
    admin_client.post(url, {"roles": ["approver", "compliance_reader"],
                            "code": admin_client.codes[0]})
    assert sorted(TenantMembership.objects.filter(user=approver_a)
                  .values_list("role", flat=True)) == ["approver", "compliance_reader"]
    assert _latest("membership.changed").data["old"] == ["approver"]
    assert _latest("membership.changed").data["new"] == ["approver", "compliance_reader"]


def test_removing_someone_takes_every_role(admin_client, approver_a, tenant_a):
    url = f"/t/tenant-a/settings/members/{member_number(tenant_a, approver_a)}/remove/"
    assert "lose every role" in admin_client.get(url).content.decode()
    admin_client.post(url, {"code": admin_client.codes[0]})
    assert not TenantMembership.objects.filter(user=approver_a).exists()
    assert _latest("membership.removed").data["old"] == ["approver"]


def test_the_last_admin_cannot_leave(admin_client, admin_a, tenant_a):
    url = f"/t/tenant-a/settings/members/{member_number(tenant_a, admin_a)}/remove/"
    page = admin_client.post(url, {"code": admin_client.codes[0]})
    assert page.status_code == 400
    assert "needs at least one admin" in page.content.decode()
    roles = admin_client.post(f"/t/tenant-a/settings/members/{member_number(tenant_a, admin_a)}/",
                              {"roles": ["approver"], "code": admin_client.codes[1]})
    assert "needs at least one admin" in roles.content.decode()
    assert TenantMembership.objects.filter(user=admin_a, role="admin").exists()


def test_notification_addresses_are_validated_and_audited(admin_client, tenant_a):
    url = "/t/tenant-a/settings/notifications/"
    bad = admin_client.post(url, {"emails": "ok@a.test\nnot an address",
                                  "code": admin_client.codes[0]})
    assert bad.status_code == 400
    assert "is not an e-mail address" in bad.content.decode()
    admin_client.post(url, {"emails": "Sec@A.test\nops@a.test\nsec@a.test"})
    tenant_a.refresh_from_db()
    assert tenant_a.notification_emails == ["sec@a.test", "ops@a.test"]
    assert _latest("tenant.notifications_changed").data == {"old": [],
                                                            "new": ["sec@a.test", "ops@a.test"]}
