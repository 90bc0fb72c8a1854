"""Who reaches which customer page: every persona against every portal URL.

Each cell is the expected answer: a status code, "login" / "verify" (sent to sign in, or to
finish signing in with a second factor), or "->name" (redirected to that page).
"""

import pytest
from django.test import Client
from django.utils import timezone

from tests.clients import make_requests, portal_urls, signed_in
from tests.factories import totp_device

URLS = ["home", "dashboard", "request", "approve", "reject", "revoke", "history", "audit",
        "export_csv", "export_jsonl", "settings", "members", "member", "remove_member",
        "notifications", "domains", "security", "sessions", "password", "mfa_setup", "mfa_verify"]
ACCOUNT = {"security": 200, "sessions": 200, "password": 200, "mfa_setup": 200,
           "mfa_verify": "->home"}
NOT_A_MEMBER = {**dict.fromkeys(URLS[1:16], 404), **ACCOUNT}
READER = {"dashboard": 200, "request": 200, "history": 200, "audit": 200, "export_csv": 200,
          "export_jsonl": 200}

EXPECTED = {
    "anonymous": dict.fromkeys(URLS, "login"),
    "password_only": {**dict.fromkeys(URLS, "verify"), "mfa_verify": 200},
    "no_second_factor": {**dict.fromkeys(URLS, "setup"), "mfa_setup": 200},
    "outsider": {"home": 200, **NOT_A_MEMBER},
    # Provider staff with no tenant are sent to the internal site.
    "engineer": {"home": "->internal_home", **NOT_A_MEMBER},
    "approver_b": {"home": "->dashboard_b", **NOT_A_MEMBER},
    "approver_a": {"home": "->dashboard", **READER, "approve": 200, "reject": 200,
                   "revoke": 200, **dict.fromkeys(URLS[10:16], 403), **ACCOUNT},
    "admin_a": {"home": "->dashboard", **READER, "approve": 403, "reject": 403, "revoke": 200,
                **dict.fromkeys(URLS[10:16], 200), **ACCOUNT},
    "reader_a": {"home": "->dashboard", **READER, "approve": 403, "reject": 403,
                 "revoke": 403, **dict.fromkeys(URLS[10:16], 403), **ACCOUNT},
}


@pytest.fixture
def world(request, engineer, manager, approver_a, approver_b, admin_a, reader_a, outsider,
          tenant_a, tenant_b):
    pending, active = make_requests(engineer=engineer, manager=manager, approver=approver_a,
                                    tenant=tenant_a, now=timezone.now())
    urls = portal_urls(tenant_a, pending, active, member=approver_a)
    urls["dashboard_b"] = f"/t/{tenant_b.slug}/"
    urls["internal_home"] = "/internal/"
    people = {"outsider": outsider, "engineer": engineer, "approver_b": approver_b,
              "approver_a": approver_a, "admin_a": admin_a, "reader_a": reader_a}
    return urls, people


def _client(persona, people):
    if persona == "anonymous":
        return Client()
    if persona in ("password_only", "no_second_factor"):
        # Signed in with the password only; one has an authenticator app, one has none yet.
        client = Client()
        user = people["approver_a"]
        if persona == "password_only":
            totp_device(user)
        client.force_login(user)
        return client
    return signed_in(people[persona])


def _outcome(response, urls):
    if response.status_code != 302:
        return response.status_code
    location = response["Location"]
    if location.startswith("/accounts/login/"):
        return "login"
    if location.startswith("/mfa/verify/"):
        return "verify"
    if location.startswith("/mfa/setup/"):
        return "setup"
    for name, url in urls.items():
        if location == url:
            return f"->{name}"
    return f"302 {location}"


@pytest.mark.parametrize("persona", list(EXPECTED))
def test_every_persona_against_every_page(persona, world):
    urls, people = world
    client = _client(persona, people)
    answers = {name: _outcome(client.get(urls[name]), urls) for name in URLS}
    assert answers == EXPECTED[persona]
