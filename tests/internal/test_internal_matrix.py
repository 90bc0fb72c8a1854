"""Who reaches which internal page: every persona against every internal URL."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from approvals.models import State
from tests.clients import signed_in
from tests.factories import request_in_state, submit, totp_device

URLS = ["home", "new", "new_for_tenant", "mine", "request", "approve", "reject", "revoke",
        "cancel", "release", "queue", "audit", "export_csv", "export_jsonl", "note"]
ENGINEER = {"home": "->mine", "new": 200, "new_for_tenant": 200, "mine": 200, "request": 200,
            "approve": 403, "reject": 403, "revoke": 403, "cancel": 200, "release": 200,
            "queue": 403, "audit": 403, "export_csv": 403, "export_jsonl": 403, "note": 405}
MANAGER = {"home": "->queue", "new": 403, "new_for_tenant": 403, "mine": 403, "request": 200,
           "approve": 200, "reject": 200, "revoke": 200, "cancel": 403, "release": 403,
           "queue": 200, "audit": 403, "export_csv": 403, "export_jsonl": 403, "note": 405}
AUDITOR = {"home": "->audit", "new": 403, "new_for_tenant": 403, "mine": 403, "request": 200,
           "approve": 403, "reject": 403, "revoke": 403, "cancel": 403, "release": 403,
           "queue": 403, "audit": 200, "export_csv": 200, "export_jsonl": 200, "note": 405}
EXPECTED = {
    "anonymous": dict.fromkeys(URLS, "login"),
    "password_only": dict.fromkeys(URLS, "verify"),
    "outsider": dict.fromkeys(URLS, 404),
    "approver_a": dict.fromkeys(URLS, 404),
    "engineer": ENGINEER,
    "manager": MANAGER,
    "auditor": AUDITOR,
}


@pytest.fixture
def world(engineer, manager, manager2, auditor, approver_a, outsider, tenant_a):
    now = timezone.now()
    pending = submit(engineer=engineer, tenant=tenant_a, now=now)
    active = request_in_state(State.APPROVED, engineer=engineer, manager=manager2,
                              approver=approver_a, tenant=tenant_a,
                              now=now - timedelta(minutes=10))
    urls = {
        "home": reverse("internal:home"),
        "new": reverse("internal:new_request"),
        "new_for_tenant": reverse("internal:new_request") + "?tenant=tenant-a",
        "mine": reverse("internal:my_requests"),
        "request": reverse("internal:request", args=[pending.pk]),
        "approve": reverse("internal:approve", args=[pending.pk]),
        "reject": reverse("internal:reject", args=[pending.pk]),
        "revoke": reverse("internal:revoke", args=[active.pk]),
        "cancel": reverse("internal:cancel", args=[pending.pk]),
        "release": reverse("internal:release", args=[active.pk]),
        "queue": reverse("internal:queue"),
        "audit": reverse("internal:audit"),
        "export_csv": reverse("internal:audit_export", args=["csv"]),
        "export_jsonl": reverse("internal:audit_export", args=["jsonl"]),
        "note": reverse("internal:add_note", args=[pending.pk]),
    }
    people = {"engineer": engineer, "manager": manager, "auditor": auditor,
              "approver_a": approver_a, "outsider": outsider}
    return urls, people


def _client(persona, people):
    if persona == "anonymous":
        return Client()
    if persona == "password_only":
        client = Client()
        totp_device(people["engineer"])
        client.force_login(people["engineer"])
        return client
    return signed_in(people[persona])


def _outcome(response, urls):
    if response.status_code != 302:
        return response.status_code
    location = response["Location"]
    for prefix, name in (("/accounts/login/", "login"), ("/mfa/verify/", "verify")):
        if location.startswith(prefix):
            return name
    for name, url in urls.items():
        if location == url:
            return f"->{name}"
    return f"302 {location}"


@pytest.mark.parametrize("persona", list(EXPECTED))
def test_every_persona_against_every_internal_page(persona, world):
    urls, people = world
    client = _client(persona, people)
    answers = {name: _outcome(client.get(urls[name]), urls) for name in URLS}
    assert answers == EXPECTED[persona]
