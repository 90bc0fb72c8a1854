"""`make run`'s demo: every state, verifying chains, and safe to load twice."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from approvals.models import AccessRequest, State, Tenant
from audit.models import AuditEvent
from audit.selectors import all_chains
from audit.verification import verify_chain


def test_it_loads_every_state_with_verifying_chains(settings, db):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", stdout=out)

    assert "Loaded the demo" in out.getvalue()
    assert "auditor@provider.example" in out.getvalue()
    states = set(AccessRequest.objects.values_list("state", flat=True))
    assert states == set(State.values)
    partial = AccessRequest.objects.get(case_reference="CASE-40733")
    assert (partial.state, partial.decisions.filter(level="customer").count()) == (
        State.PENDING_CUSTOMER, 1)
    assert Tenant.objects.count() == 2
    assert get_user_model().objects.count() == 13
    assert [verify_chain(c).ok for c in all_chains()] == [True, True, True]


def test_running_it_twice_adds_nothing(settings, db):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    counts = (AccessRequest.objects.count(), AuditEvent.objects.count(),
              get_user_model().objects.count())
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "already loaded; nothing was added" in out.getvalue()
    assert (AccessRequest.objects.count(), AuditEvent.objects.count(),
            get_user_model().objects.count()) == counts


def test_the_printed_codes_sign_in_to_the_admin(settings, client, db):
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", stdout=out)
    line = next(x for x in out.getvalue().splitlines() if "or a backup code" in x)
    code = line.split(": ")[-1].split()[0]
    signed = client.post("/accounts/login/", {
        "login": "auditor@provider.example", "password": "lockbox-demo-password",
        "next": "/internal/admin/"})
    assert signed.status_code == 302, signed.content.decode()
    response = client.post("/mfa/verify/", {"code": code, "next": "/internal/admin/"})
    assert response["Location"] == "/internal/admin/"
    assert "CASE-40740" in client.get("/internal/admin/approvals/accessrequest/").content.decode()


def test_it_refuses_to_run_without_debug(settings, db):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG on"):
        call_command("seed_demo")
    assert not Tenant.objects.exists()
