"""`make run`'s demo: every state, verifying chains, and safe to load twice; and the devtools
app that holds it (and the benchmark seed) is never installed by production settings."""

import subprocess
import sys
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from approvals.models import AccessRequest, State, Tenant
from audit.models import AuditEvent
from audit.selectors import all_chains
from audit.verification import verify_chain
from tests.processes import ROOT, production_env


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


@pytest.mark.parametrize("command", ["seed_demo", "demo_code", "bench_seed"])
def test_production_settings_do_not_know_the_development_commands(command, tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                         DJANGO_SETTINGS_MODULE="lockbox_portal.settings.production")
    found = subprocess.run([sys.executable, "manage.py", command, "--help"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert found.returncode != 0
    assert f"Unknown command: '{command}'" in found.stderr, found.stdout + found.stderr


def test_the_bench_seeding_settings_are_production_plus_devtools(tmp_path):
    code = ("import lockbox_portal.settings.production as p, lockbox_portal.settings.bench as b\n"
            "print('devtools' in p.INSTALLED_APPS, "
            "b.INSTALLED_APPS == [*p.INSTALLED_APPS, 'devtools'], b.DEBUG)")
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    found = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert found.stdout.split() == ["False", "True", "False"], found.stderr
