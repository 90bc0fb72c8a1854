"""Inviting someone answers the tenant's admin the same way whoever owns the address: a new
person, someone with an account in another tenant, or one of the provider's staff (who never
gets customer roles). Only the e-mail to the address itself differs."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from approvals.models import TenantMembership
from audit.encoding import PROVIDER_CHAIN
from audit.models import AuditEvent
from tests.clients import signed_in

RESET_LINK = "/accounts/password/reset/key/"


@pytest.fixture
def admin_client(admin_a, approver_a, django_capture_on_commit_callbacks):
    client = signed_in(admin_a)
    client.after_commit = django_capture_on_commit_callbacks  # e-mails go after the commit
    return client


@pytest.fixture
def addresses(approver_b, engineer):
    """A new address, another tenant's approver (who has signed in before), provider staff."""
    approver_b.last_login = timezone.now() - timedelta(days=1)
    approver_b.save(update_fields=["last_login"])
    return {"new": "new.person@a.test", "elsewhere": approver_b.email,
            "provider staff": engineer.email}


def _invite(client, email):
    mail.outbox.clear()
    with client.after_commit(execute=True):
        response = client.post("/t/tenant-a/settings/members/", {
            "email": email, "roles": ["approver"], "code": client.codes.pop()}, follow=True)
    return response, list(mail.outbox)


def _what_the_admin_sees(response, email):
    """(status, redirects, the notice, the person's row, the number their row links to)."""
    html = response.content.decode()
    notice = re.search(r'<div class="messages".*?</div>', html, re.S)
    row = re.search(rf"<tr>\s*<td[^>]*>{re.escape(email)}.*?</tr>", html, re.S)
    number = re.search(r"/settings/members/(\d+)/", row[0])[1] if row else None
    return (response.status_code, [url for url, _ in response.redirect_chain],
            notice[0].replace(email, "EMAIL") if notice else None,
            re.sub(r"/members/\d+/", "/members/N/", row[0].replace(email, "EMAIL"))
            if row else None, int(number) if number else None)


def test_the_admin_gets_the_same_answer_whoever_owns_the_address(admin_client, addresses):
    answers = {}
    for kind, email in addresses.items():
        response, _ = _invite(admin_client, email)
        answers[kind] = _what_the_admin_sees(response, email)
    assert answers["new"][2] and "Invitation sent to EMAIL." in answers["new"][2]
    assert answers["elsewhere"][:3] == answers["new"][:3]
    assert answers["provider staff"][:3] == answers["new"][:3]
    # Both people are listed alike, "invited" until they sign in here ...
    assert answers["elsewhere"][3] == answers["new"][3]
    assert "invited" in answers["new"][3]
    # ... and numbered in the order they were invited, not by how old their account is.
    assert answers["new"][4] < answers["elsewhere"][4]


def test_the_tenants_audit_records_every_invitation_alike(admin_client, addresses):
    for email in addresses.values():
        _invite(admin_client, email)
    invited = AuditEvent.objects.filter(chain="tenant:tenant-a", action="membership.invited")
    assert [e.data for e in invited.order_by("seq")] == [
        {"email": email, "roles": ["approver"]} for email in addresses.values()]


def test_each_address_gets_one_email(admin_client, addresses):
    for email in addresses.values():
        _, sent = _invite(admin_client, email)
        assert [m.to for m in sent] == [[email]]


def test_someone_with_an_account_elsewhere_gets_the_roles_but_no_password_link(
        admin_client, addresses, approver_b, tenant_a):
    _, sent = _invite(admin_client, approver_b.email)
    assert TenantMembership.objects.filter(tenant=tenant_a, user=approver_b).exists()
    assert RESET_LINK not in sent[0].body
    assert "Sign in as you already do" in sent[0].body
    approver_b.refresh_from_db()
    assert approver_b.check_password("correct horse battery")


def test_a_new_person_gets_the_link_to_choose_a_password(admin_client, addresses):
    _, sent = _invite(admin_client, addresses["new"])
    assert RESET_LINK in sent[0].body


def test_provider_staff_are_never_made_customer_members(admin_client, addresses, engineer,
                                                        tenant_a, admin_a):
    _, sent = _invite(admin_client, engineer.email)
    assert not TenantMembership.objects.filter(user=engineer).exists()
    assert "nothing changed" in sent[0].body and RESET_LINK not in sent[0].body
    refused = AuditEvent.objects.get(chain=PROVIDER_CHAIN, action="membership.refused")
    assert refused.actor_email == admin_a.email
    assert refused.data["tenant"] == "tenant-a" and refused.data["email"] == engineer.email
    # Signed in later, the engineer still reaches nothing of the tenant's.
    page = signed_in(engineer).get("/t/tenant-a/")
    assert page.status_code in (403, 404)


def test_the_tenants_audit_names_people_by_address_not_account_id(admin_client, addresses,
                                                                  approver_b, tenant_a, admin_a):
    from approvals import tenants

    _invite(admin_client, approver_b.email)
    tenants.set_member_roles(tenant=tenant_a, user=approver_b, actor=admin_a,
                             roles=["approver", "compliance_reader"])
    tenants.remove_member(tenant=tenant_a, user=approver_b, actor=admin_a)
    events = AuditEvent.objects.filter(chain="tenant:tenant-a", action__startswith="membership.")
    assert {e.action for e in events} >= {"membership.invited", "membership.changed",
                                          "membership.removed"}
    for event in events:
        assert "user_id" not in event.data and event.data["email"], event.data
