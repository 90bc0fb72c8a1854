"""Sessions: idle and absolute limits, signing out other sessions, which site admits whom."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from tests.clients import signed_in
from tests.factories import totp_device
from tests.processes import ROOT


def test_a_session_ends_after_thirty_idle_minutes(approver_a, tenant_a, move_clock):
    client = signed_in(approver_a)
    assert client.get("/t/tenant-a/").status_code == 200
    move_clock(timedelta(minutes=29))
    assert client.get("/t/tenant-a/").status_code == 200
    move_clock(timedelta(minutes=29 + 31))
    response = client.get("/t/tenant-a/", follow=True)
    assert response.redirect_chain[0][0].startswith("/accounts/login/")
    assert "signed out after 30 minutes without activity" in response.content.decode()


def test_a_session_ends_twelve_hours_after_sign_in_however_busy(approver_a, tenant_a,
                                                                move_clock):
    client = signed_in(approver_a)
    client.get("/t/tenant-a/")
    for minutes in range(20, 12 * 60, 20):
        move_clock(timedelta(minutes=minutes))
        assert client.get("/t/tenant-a/").status_code == 200
    move_clock(timedelta(hours=12, minutes=5))
    response = client.get("/t/tenant-a/", follow=True)
    assert "signed in more than 12 hours ago" in response.content.decode()


def test_signing_out_the_other_sessions(approver_a, tenant_a):
    totp_device(approver_a)
    here = Client()
    there = Client()
    for client in (here, there):
        client.post(reverse("account_login"), {"login": approver_a.email,
                                               "password": "correct horse battery"})
    from tests.factories import verify_with_otp

    verify_with_otp(here, approver_a)
    page = here.get(reverse("usersessions_list")).content.decode()
    assert "Sign out the other 1 session" in page
    here.post(reverse("usersessions_list"))
    assert there.get("/t/tenant-a/")["Location"].startswith("/accounts/login/")
    assert here.get("/t/tenant-a/").status_code == 200


def _row(client):
    from allauth.usersessions.models import UserSession

    return UserSession.objects.get(session_key=client.session.session_key)


def test_the_session_list_is_true_to_the_minute_without_a_write_per_page(approver_a, tenant_a,
                                                                         monkeypatch):
    from django.utils import timezone

    from lockbox_portal import clock

    start = timezone.now()
    client = signed_in(approver_a)
    monkeypatch.setattr(clock, "now", lambda: start)
    client.get("/t/tenant-a/")
    seen = _row(client).last_seen_at
    for seconds in (10, 30, 59):  # within the minute: the row is not written again
        monkeypatch.setattr(clock, "now", lambda seconds=seconds: start + timedelta(
            seconds=seconds))
        client.get("/t/tenant-a/")
        assert _row(client).last_seen_at == seen
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=61))
    client.get("/t/tenant-a/")
    assert _row(client).last_seen_at > seen
    page = client.get(reverse("usersessions_list")).content.decode()
    assert "This browser" in page and "This is your only session." in page


def test_a_new_browser_or_address_shows_in_the_session_list_at_once(approver_a, tenant_a):
    client = signed_in(approver_a)
    client.get("/t/tenant-a/")
    client.get("/t/tenant-a/", HTTP_USER_AGENT="Firefox/200.0", REMOTE_ADDR="203.0.113.9")
    row = _row(client)
    assert (row.user_agent, row.ip) == ("Firefox/200.0", "203.0.113.9")


def test_signing_out_needs_a_post(approver_a, tenant_a):
    client = signed_in(approver_a)
    client.get(reverse("account_logout"))
    assert client.get("/t/tenant-a/").status_code == 200
    client.post(reverse("account_logout"))
    assert client.get("/t/tenant-a/")["Location"].startswith("/accounts/login/")


@pytest.fixture
def internal_site(serve_site):
    serve_site("internal")


def test_customer_accounts_cannot_sign_in_to_the_internal_site(internal_site, approver_a):
    client = Client()
    response = client.post(reverse("account_login"), {"login": approver_a.email,
                                                      "password": "correct horse battery"},
                           follow=True)
    assert "Customer accounts sign in at the customer portal" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_provider_staff_can_sign_in_to_the_internal_site(internal_site, engineer):
    client = Client()
    client.post(reverse("account_login"), {"login": engineer.email,
                                           "password": "correct horse battery"})
    assert client.session["_auth_user_id"] == str(engineer.pk)


def test_production_cookies_are_secure_and_hsts_is_on():
    env = {"PATH": os.environ["PATH"],
           "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.production",
           "SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "lockbox.example.com",
           "DATABASE_URL": "postgres://x@db/x", "CELERY_BROKER_URL": "redis://r:6379/0",
           "CACHE_URL": "redis://r:6379/1", "LOCKBOX_PORTAL_URL": "https://lockbox.example.com",
           "LOCKBOX_INTERNAL_URL": "https://lockbox.internal.example.com",
           "LOCKBOX_SIGNING_KEY": "dGVzdC1vbmx5LXNpZ25pbmcta2V5LTMyLWJ5dGVzISE="}
    script = ("import django; django.setup(); from django.conf import settings as s; "
              "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
              "s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_HTTPONLY, s.X_FRAME_OPTIONS)")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, cwd=ROOT, timeout=60)
    assert out.stdout.split() == ["True", "True", "31536000", "True", "True", "DENY"]


def test_every_page_forbids_framing_and_inline_script(approver_a, tenant_a):
    response = signed_in(approver_a).get("/t/tenant-a/")
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert "<script>" not in response.content.decode()
