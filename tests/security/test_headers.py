"""Headers on every answer: private pages and API answers are never stored, a Permissions-Policy,
__Host- cookies in production, and a server that does not name itself."""

import base64
import os
import re
import subprocess
import sys

import pytest
import requests
from django.urls import reverse

from lockbox_portal.security.headers import PERMISSIONS_POLICY
from tests.api_helpers import make_token
from tests.clients import signed_in
from tests.processes import ROOT, gunicorn


def _no_store(response):
    return "no-store" in response.get("Cache-Control", "")


@pytest.mark.parametrize("url", [
    "/t/tenant-a/", "/t/tenant-a/audit/", "/t/tenant-a/audit/export.csv",
    "/t/tenant-a/settings/tokens/", "/t/tenant-a/compliance/", "/account/security/",
])
def test_pages_for_a_signed_in_person_are_never_stored(url, admin_a, tenant_a):
    response = signed_in(admin_a).get(url)
    assert response.status_code == 200
    assert _no_store(response)


def test_the_page_that_shows_new_backup_codes_is_never_stored(approver_a, tenant_a):
    client = signed_in(approver_a)
    response = client.post(reverse("mfa_backup_codes"), {"code": client.codes[0]})
    assert "only time they are shown" in response.content.decode()
    assert _no_store(response)


def test_the_answer_that_signs_someone_in_is_never_stored(client, approver_a):
    response = client.post(reverse("account_login"), {"login": approver_a.email,
                                                      "password": "correct horse battery"})
    assert response.status_code == 302
    assert _no_store(response)


def test_api_answers_are_never_stored(client, admin_a, tenant_a):
    _, raw = make_token(admin_a, "tenant_read", tenant=tenant_a)
    response = client.get("/api/v1/tenants/tenant-a/audit/events",
                          HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert _no_store(response)
    refused = client.get("/api/v1/tenants/tenant-a/audit/events")
    assert refused.status_code == 401
    assert _no_store(refused)


def test_every_answer_carries_a_permissions_policy_that_keeps_passkeys(client, approver_a,
                                                                      tenant_a):
    for response in (client.get(reverse("account_login")),
                     signed_in(approver_a).get("/t/tenant-a/")):
        policy = response["Permissions-Policy"]
        assert policy == PERMISSIONS_POLICY
        for denied in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
            assert denied in policy
        assert "publickey-credentials-get=(self)" in policy
        assert "publickey-credentials-create=(self)" in policy


PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.production",
    "SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "lockbox.example.com",
    "CELERY_BROKER_URL": "redis://127.0.0.1:1/0", "CACHE_URL": "redis://127.0.0.1:1/1",
    "LOCKBOX_PORTAL_URL": "https://lockbox.example.com",
    "LOCKBOX_INTERNAL_URL": "https://lockbox.example.com",
    "LOCKBOX_SIGNING_KEY": base64.b64encode(b"p" * 32).decode(),
}


def test_gunicorn_does_not_name_itself(tmp_path):
    """`gunicorn lockbox_portal.wsgi` run from the repository root, as deployed (it reads
    gunicorn.conf.py there), with production settings."""
    env = {**PRODUCTION, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
           "HOME": str(tmp_path)}
    with gunicorn(tmp_path, env) as (base, _):
        response = requests.get(f"{base}/healthz", timeout=20, allow_redirects=False,
                                headers={"Host": "lockbox.example.com",
                                         "X-Forwarded-Proto": "https"})
    assert response.json() == {"status": "ok"}
    assert "gunicorn" not in response.headers.get("Server", "").lower()
    assert response.headers["Permissions-Policy"] == PERMISSIONS_POLICY


SIGN_IN_PAGE_COOKIES = """
import django
django.setup()
from django.test import Client
from django.test.utils import override_settings

# The page's stylesheet links need collectstatic's manifest, which a deployment makes on
# release; the cookies do not depend on it.
plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
with override_settings(STORAGES={"default": plain, "staticfiles": plain}):
    response = Client(HTTP_X_FORWARDED_PROTO="https").get(
        "/accounts/login/", HTTP_HOST="lockbox.example.com")
assert response.status_code == 200, response.status_code
print(response.cookies.output(header="").strip())
"""


def test_production_cookies_carry_the_host_prefix(tmp_path):
    """__Host-: Secure, Path=/ and no Domain, or browsers refuse them."""
    result = subprocess.run(
        [sys.executable, "-c", SIGN_IN_PAGE_COOKIES], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={"PATH": os.environ["PATH"], **PRODUCTION,
                         "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"})
    assert result.returncode == 0, result.stderr
    cookie = result.stdout
    assert cookie.startswith("__Host-lockbox_csrftoken=")
    assert re.search(r";\s*Secure", cookie) and re.search(r";\s*Path=/(;|$)", cookie)
    assert "domain=" not in cookie.lower()


def test_production_names_the_session_cookie_with_the_host_prefix():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings "
         "as s; print(s.SESSION_COOKIE_NAME, s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_PATH, "
         "s.SESSION_COOKIE_DOMAIN)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], **PRODUCTION, "DATABASE_URL": "postgres://x@db/x"})
    assert result.stdout.split() == ["__Host-lockbox_session", "True", "/", "None"]
