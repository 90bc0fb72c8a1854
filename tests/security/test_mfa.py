"""Signing in: password, then a second factor; enrolment, backup codes, replay and throttling."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from tests.factories import totp_device, verify_with_otp

PASSWORD = "correct horse battery"


def sign_in_with_password(user, next_url="/"):
    client = Client()
    response = client.post(reverse("account_login"),
                           {"login": user.email, "password": PASSWORD, "next": next_url})
    assert response.status_code == 302, response.content.decode()
    return client, response


def _code_for(device, seconds_from_now=0):
    import time

    clock = TOTP(device.bin_key, device.step, device.t0, device.digits, 0)
    clock.time = time.time() + seconds_from_now
    return f"{clock.token():06d}"


def test_a_new_person_is_sent_to_set_up_a_second_factor(approver_a, tenant_a):
    client, _ = sign_in_with_password(approver_a)
    dashboard = client.get("/t/tenant-a/")
    assert dashboard["Location"].startswith(reverse("mfa_setup"))


def test_enrolment_shows_a_qr_code_then_ten_backup_codes_once(approver_a, tenant_a):
    client, _ = sign_in_with_password(approver_a)
    page = client.get(reverse("mfa_setup"))
    html = page.content.decode()
    assert 'src="data:image/svg+xml;base64,' in html
    device = TOTPDevice.objects.get(user=approver_a, confirmed=False)

    wrong = client.post(reverse("mfa_setup"), {"code": "000000" if _code_for(device) != "000000"
                                               else "111111"})
    assert "does not match" in wrong.content.decode()
    device.refresh_from_db()
    device.throttle_reset()  # a wrong code makes the next try wait a second; skip the wait

    done = client.post(reverse("mfa_setup"), {"code": _code_for(device), "next": "/t/tenant-a/"})
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "This is the only time they are shown" in done.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    # Verified now: the portal opens, and the codes are never shown again.
    assert client.get("/t/tenant-a/").status_code == 200
    security = client.get(reverse("account_security")).content.decode()
    assert "<strong>10</strong> unused backup codes" in security
    assert codes[0] not in security
    event = AuditEvent.objects.get(chain="tenant:tenant-a", action="account.mfa_enrolled")
    assert event.actor_email == approver_a.email


def test_the_second_step_of_sign_in_accepts_the_app_code(approver_a, tenant_a):
    device, _ = totp_device(approver_a)
    client, response = sign_in_with_password(approver_a, "/t/tenant-a/history/")
    page = client.get(response["Location"], follow=True)
    assert "Confirm it is you" in page.content.decode()
    done = client.post(reverse("mfa_verify"), {"code": _code_for(device),
                                               "next": "/t/tenant-a/history/"})
    assert done["Location"] == "/t/tenant-a/history/"
    assert client.get("/t/tenant-a/history/").status_code == 200


def test_a_replayed_code_is_refused(approver_a, tenant_a):
    device, _ = totp_device(approver_a)
    code = _code_for(device)
    first, _ = sign_in_with_password(approver_a)
    assert first.post(reverse("mfa_verify"), {"code": code}).status_code == 302
    second, _ = sign_in_with_password(approver_a)
    replay = second.post(reverse("mfa_verify"), {"code": code})
    assert replay.status_code == 200
    assert "already used" in replay.content.decode()
    assert second.get("/t/tenant-a/").status_code == 302


def test_repeated_failures_are_throttled(approver_a, tenant_a):
    device, _ = totp_device(approver_a)
    client, _ = sign_in_with_password(approver_a)
    good = _code_for(device)
    bad = "123456" if good != "123456" else "654321"
    client.post(reverse("mfa_verify"), {"code": bad})
    client.post(reverse("mfa_verify"), {"code": bad})
    throttled = client.post(reverse("mfa_verify"), {"code": good})
    assert "Too many wrong codes" in throttled.content.decode()
    assert client.get("/t/tenant-a/").status_code == 302


def test_a_password_only_session_cannot_enrol_another_device(approver_a, tenant_a):
    totp_device(approver_a)
    client, _ = sign_in_with_password(approver_a)
    assert client.get(reverse("mfa_setup"))["Location"].startswith(reverse("mfa_verify"))
    assert TOTPDevice.objects.filter(user=approver_a).count() == 1
    passkey = client.post("/webauthn/registration/begin/")
    assert passkey["Location"].startswith(reverse("mfa_verify"))


def test_replacing_the_app_needs_a_code_from_the_current_one(approver_a, tenant_a):
    client = Client()
    codes = verify_with_otp(client, approver_a)
    old, _ = totp_device(approver_a)
    refused = client.post(reverse("mfa_setup"), {"step": "replace", "code": ""}, follow=True)
    assert "Enter a code" in refused.content.decode()
    assert not TOTPDevice.objects.filter(user=approver_a, confirmed=False).exists()
    client.post(reverse("mfa_setup"), {"step": "replace", "code": codes[0]})
    new = TOTPDevice.objects.get(user=approver_a, confirmed=False)
    client.post(reverse("mfa_setup"), {"code": _code_for(new)})
    assert list(TOTPDevice.objects.filter(user=approver_a).values_list("pk", flat=True)) == [
        new.pk]
    assert old.pk != new.pk


def test_new_backup_codes_need_a_check_and_cancel_the_old_ones(approver_a, tenant_a):
    client = Client()
    codes = verify_with_otp(client, approver_a)
    refused = client.post(reverse("mfa_backup_codes"), {"code": ""}, follow=True)
    assert "Enter a code" in refused.content.decode()
    page = client.post(reverse("mfa_backup_codes"), {"code": codes[0]})
    new_codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", page.content.decode())
    assert len(new_codes) == 10
    assert not set(new_codes) & set(codes)
    from django_otp.plugins.otp_static.models import StaticToken

    stored = set(StaticToken.objects.filter(device__user=approver_a)
                 .values_list("token", flat=True))
    assert stored == set(new_codes)


def test_signing_in_rotates_the_session_key(approver_a, tenant_a):
    device, _ = totp_device(approver_a)
    client = Client()
    client.get(reverse("account_login"))
    anonymous_key = client.session.session_key
    client.post(reverse("account_login"), {"login": approver_a.email, "password": PASSWORD})
    password_key = client.session.session_key
    client.post(reverse("mfa_verify"), {"code": _code_for(device)})
    assert len({anonymous_key, password_key, client.session.session_key}) == 3


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x",
                                    "javascript:alert(1)"])
def test_next_only_redirects_inside_the_site(approver_a, tenant_a, target):
    device, _ = totp_device(approver_a)
    client, _ = sign_in_with_password(approver_a)
    response = client.post(reverse("mfa_verify"), {"code": _code_for(device), "next": target})
    assert response["Location"] == "/"


def test_there_is_no_self_sign_up(db):
    page = Client().get(reverse("account_signup"))
    assert "by invitation" in page.content.decode()
    Client().post(reverse("account_signup"), {"email": "new@x.test", "password1": "a" * 20,
                                              "password2": "a" * 20})
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(email="new@x.test").exists()


def test_a_forgotten_password_is_reset_through_a_mailed_link(approver_a, tenant_a):
    from django.core import mail

    client = Client()
    client.post(reverse("account_reset_password"), {"email": approver_a.email})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    form = client.get(link.group(1), follow=True)
    client.post(form.redirect_chain[-1][0], {"password1": "another long passphrase 7",
                                             "password2": "another long passphrase 7"})
    approver_a.refresh_from_db()
    assert approver_a.check_password("another long passphrase 7")
    # A new password still leads to the second factor, not into the portal.
    fresh = Client()
    fresh.post(reverse("account_login"), {"login": approver_a.email,
                                          "password": "another long passphrase 7"})
    assert fresh.get("/t/tenant-a/")["Location"].startswith(reverse("mfa_setup"))
