"""The internal site: an engineer's request form, the managers' queue, notes, the auditor's view."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals import transitions as t
from approvals.models import AccessRequest, ProviderRole, ReasonType, State
from approvals.tenants import add_provider_role
from audit.models import AuditEvent
from tests import factories
from tests.clients import signed_in

FORM = {"tenant": "tenant-a", "case_reference": "CASE-9", "reason_type":
        "customer_initiated_support", "justification": "Mailbox rules broken; read them.",
        "scope": "exchange/mailbox/a@a.test\nexchange/mailbox/b@a.test",
        "access_level": "read_only", "duration": "120", "touches_customer_content": "on"}


def _html(response):
    return response.content.decode()


# --- Engineers ----------------------------------------------------------------------------------

def test_the_form_shows_the_tenants_policy(engineer, tenant_a):
    tenant_a.required_approvals = 1
    html = _html(signed_in(engineer).get("/internal/requests/new/?tenant=tenant-a"))
    assert "Lockbox is <strong>on</strong>; 1 customer approval needed" in html
    assert "access lasts at most <strong>4 h</strong>" in html
    assert "8 hours (more than Tenant A allows)" in html


def test_an_engineer_asks_for_access(engineer, tenant_a):
    response = signed_in(engineer).post("/internal/requests/new/?tenant=tenant-a", FORM,
                                        follow=True)
    req = AccessRequest.objects.get()
    assert req.state == State.PENDING_INTERNAL
    assert (req.requester, req.tenant) == (engineer, tenant_a)
    assert req.scope == ["exchange/mailbox/a@a.test", "exchange/mailbox/b@a.test"]
    assert req.requested_duration == timedelta(hours=2)
    assert f"Request {req.reference} is waiting for a manager." in _html(response)


@pytest.mark.parametrize("change,field_error", [
    ({"duration": "480"}, "The tenant allows at most 4 h."),
    ({"justification": "  "}, "This field is required."),
    ({"scope": "has a space"}, "not a resource identifier"),
    ({"reason_type": "curiosity"}, "Select a valid choice."),
])
def test_bad_input_is_explained_and_nothing_written(engineer, tenant_a, change, field_error):
    events = AuditEvent.objects.count()
    page = signed_in(engineer).post("/internal/requests/new/?tenant=tenant-a",
                                    {**FORM, **change})
    assert page.status_code == 400
    assert field_error in _html(page)
    assert not AccessRequest.objects.exists()
    assert AuditEvent.objects.count() == events


def test_an_unknown_tenant_is_explained(engineer, tenant_a):
    page = signed_in(engineer).post("/internal/requests/new/?tenant=nope", {**FORM,
                                                                          "tenant": "nope"})
    assert page.status_code == 400
    assert "There is no tenant &#x27;nope&#x27;" in _html(page)
    assert not AccessRequest.objects.exists()


def test_my_requests_show_time_left_and_let_me_cancel_and_give_back(engineer, manager2,
                                                                    approver_a, tenant_a):
    now = timezone.now()
    pending = factories.submit(engineer=engineer, tenant=tenant_a, now=now,
                               case_reference="CASE-P")
    active = factories.request_in_state(State.APPROVED, engineer=engineer, manager=manager2,
                                        approver=approver_a, tenant=tenant_a,
                                        now=now - timedelta(minutes=10))
    client = signed_in(engineer)
    html = _html(client.get("/internal/requests/mine/"))
    assert "Access open" in html and "ends" in html and "expires" in html
    client.post(f"/internal/requests/{pending.pk}/cancel/", {})
    client.post(f"/internal/requests/{active.pk}/release/", {"comment": "Done."})
    pending.refresh_from_db()
    active.refresh_from_db()
    assert (pending.state, active.state) == (State.CANCELLED, State.COMPLETED)


def test_an_engineer_cannot_open_someone_elses_request(engineer, engineer2, tenant_a):
    theirs = factories.submit(engineer=engineer2, tenant=tenant_a, now=timezone.now())
    assert signed_in(engineer).get(f"/internal/requests/{theirs.pk}/").status_code == 404


# --- Managers -----------------------------------------------------------------------------------

@pytest.fixture
def waiting(engineer, engineer2, tenant_a, tenant_b):
    now = timezone.now()
    return [
        factories.submit(engineer=engineer, tenant=tenant_a, now=now - timedelta(hours=2),
                         case_reference="CASE-OLD"),
        factories.submit(engineer=engineer2, tenant=tenant_b, now=now - timedelta(hours=1),
                         case_reference="CASE-MID",
                         reason_type=ReasonType.PRODUCTION_ALERT),
        factories.submit(engineer=engineer, tenant=tenant_a, now=now, case_reference="CASE-NEW"),
    ]


def test_the_queue_is_oldest_first_across_tenants(manager, waiting):
    html = _html(signed_in(manager).get("/internal/queue/"))
    assert html.index("CASE-OLD") < html.index("CASE-MID") < html.index("CASE-NEW")
    assert 'aria-label="3 waiting"' in html
    assert "Waiting 2\xa0hours" in html


def test_the_queue_filters_by_tenant_and_reason(manager, waiting):
    client = signed_in(manager)
    by_tenant = _html(client.get("/internal/queue/?tenant=tenant-b"))
    assert "CASE-MID" in by_tenant and "CASE-OLD" not in by_tenant
    by_reason = _html(client.get("/internal/queue/?reason=production_alert"))
    assert "CASE-MID" in by_reason and "CASE-NEW" not in by_reason


def test_a_manager_sees_their_own_request_but_cannot_decide_it(manager, tenant_a):
    add_provider_role(user=manager, role=ProviderRole.ENGINEER)
    own = factories.submit(engineer=manager, tenant=tenant_a, now=timezone.now())
    client = signed_in(manager)
    html = _html(client.get("/internal/queue/"))
    assert "Your own request: another manager decides it." in html
    assert f"/internal/requests/{own.pk}/approve/" not in html
    page = client.post(f"/internal/requests/{own.pk}/approve/", {"code": client.codes[0]},
                       follow=True)
    assert "Nobody can decide on their own request." in _html(page)
    own.refresh_from_db()
    assert own.state == State.PENDING_INTERNAL


def test_a_manager_approves_with_a_step_up(manager, waiting):
    client = signed_in(manager)
    url = f"/internal/requests/{waiting[0].pk}/approve/"
    assert client.post(url, {}).status_code == 400
    client.post(url, {"code": client.codes[0], "comment": "Case checked."})
    waiting[0].refresh_from_db()
    assert waiting[0].state == State.PENDING_CUSTOMER
    assert 'aria-label="2 waiting"' in _html(client.get("/internal/queue/"))


def test_a_rejection_needs_a_reason_and_a_decided_request_cannot_be_decided_again(manager,
                                                                                 waiting):
    client = signed_in(manager)
    url = f"/internal/requests/{waiting[1].pk}/reject/"
    assert "Say why" in _html(client.post(url, {"code": client.codes[0]}))
    client.post(url, {"comment": "Too broad."})
    waiting[1].refresh_from_db()
    assert waiting[1].state == State.DENIED
    again = client.post(f"/internal/requests/{waiting[1].pk}/approve/",
                        {"code": client.codes[1]}, follow=True)
    assert "is denied; it cannot be approved internally now." in _html(again)


# --- Notes --------------------------------------------------------------------------------------

def test_internal_notes_stay_internal(manager, approver_a, waiting):
    req = waiting[0]
    client = signed_in(manager)
    client.post(f"/internal/requests/{req.pk}/notes/", {"body": "Called the customer first."})
    assert "Called the customer first." in _html(client.get(f"/internal/requests/{req.pk}/"))
    t.internal_approve(access_request=req, actor=factories.person(
        "m3@provider.test", provider_role=ProviderRole.INTERNAL_APPROVER))
    portal = _html(signed_in(approver_a).get(f"/t/tenant-a/requests/{req.pk}/"))
    assert "Called the customer first." not in portal
    event = AuditEvent.objects.get(action="request.note_added")
    assert event.chain == "provider" and event.actor_email == manager.email
    assert not AuditEvent.objects.filter(chain="tenant:tenant-a",
                                         action="request.note_added").exists()


def test_an_empty_note_is_refused(manager, waiting):
    client = signed_in(manager)
    page = client.post(f"/internal/requests/{waiting[0].pk}/notes/", {"body": " "}, follow=True)
    assert "This field is required." in _html(page)
    assert not waiting[0].notes.exists()


# --- Auditors -----------------------------------------------------------------------------------

def _text(response):
    import re

    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", _html(response)))


def test_the_auditor_searches_every_chain_and_sees_each_verify(auditor, waiting):
    from django.core.management import call_command

    client = signed_in(auditor)
    assert "3 chains not checked yet" in _html(client.get("/internal/audit/"))
    call_command("verify_audit", stdout=open("/dev/null", "w"))  # noqa: SIM115
    html = _text(client.get("/internal/audit/"))
    assert "3 chains verify" in html and "No chain is broken" in html  # provider, a and b
    for asked in ("tenant:tenant-b", "tenant-b"):  # its full name, or the tenant's slug
        only_b = _html(client.get(f"/internal/audit/?chain={asked}"))
        results = only_b.split('class="table audit-table"')[1]
        assert "tenant:tenant-a</td>" not in results and "tenant:tenant-b</td>" in results
    misspelt = _html(client.get("/internal/audit/?chain=tenant-c"))
    assert "There is no audit chain" in misspelt
    assert 'class="table audit-table"' not in misspelt or "tenant:tenant-a</td>" not in misspelt


def test_the_auditor_sees_broken_chains_by_name_and_the_rest_counted(auditor, waiting):
    from audit.models import ChainVerification
    from lockbox_portal import clock

    now = clock.now()
    ChainVerification.objects.create(chain="tenant:tenant-a", ok=True, verified_seq=3,
                                      verified_at=now, full_verified_at=now)
    ChainVerification.objects.create(chain="tenant:tenant-b", ok=False, verified_seq=2,
                                     first_bad_seq=2, problem="hash mismatch",
                                     verified_at=now, full_verified_at=now)
    html = _text(signed_in(auditor).get("/internal/audit/"))
    assert "1 chain verifies" in html and "1 broken" in html and "Broken at 2" in html
    assert "1 chain not checked yet" in html  # the provider chain


def test_the_auditor_exports_every_chain_in_chain_order(auditor, waiting):
    body = b"".join(signed_in(auditor).get("/internal/audit/export.jsonl").streaming_content)
    events = [json.loads(line) for line in body.splitlines()]
    assert {e["chain"] for e in events} == {"provider", "tenant:tenant-a", "tenant:tenant-b"}
    keys = [(e["chain"], e["seq"]) for e in events]
    assert keys == sorted(keys)


def test_provider_staff_land_on_the_internal_site_after_signing_in(manager):
    from django.test import Client

    factories.totp_device(manager)
    response = Client().post(reverse("account_login"), {"login": manager.email,
                                                        "password": "correct horse battery"})
    assert response["Location"] == "/internal/"
