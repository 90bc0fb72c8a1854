"""A change to someone's second factors and its audit event are written together or not at all:
if the audit cannot be written the change is not kept, and if the change fails nothing is
claimed in the audit."""

import pytest
from django.http import JsonResponse
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn import views as webauthn
from django_otp_webauthn.models import WebAuthnCredential

from audit.models import AuditEvent
from lockbox_portal.security import events, mfa
from tests.factories import verify_with_otp
from tests.security.test_mfa import _code_for, sign_in_with_password


class AuditDown(Exception):
    pass


@pytest.fixture
def audit_down(monkeypatch):
    def refuse(**kwargs):
        raise AuditDown("the audit could not be written")

    monkeypatch.setattr(events, "record_event", refuse)


def _account_events(user):
    return AuditEvent.objects.filter(actor_email=user.email, action__startswith="account.")


def _signed_in(user):
    client = Client(raise_request_exception=False)
    codes = verify_with_otp(client, user)
    return client, codes


def _codes(user):
    return set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))


def _passkey(user, name="Laptop"):
    return WebAuthnCredential.objects.create(
        user=user, name=name, confirmed=True, credential_id=b"id-" + name.encode(),
        public_key=b"key", sign_count=0)


def test_new_backup_codes_are_not_kept_without_their_audit_event(approver_a, audit_down):
    client, codes = _signed_in(approver_a)
    before = _codes(approver_a)
    response = client.post(reverse("mfa_backup_codes"), {"code": codes[0]})
    assert response.status_code == 500
    assert _codes(approver_a) == before - {codes[0]}  # the code used to confirm is spent
    assert not _account_events(approver_a).exists()


def test_a_removed_passkey_stays_without_its_audit_event(approver_a, audit_down):
    client, codes = _signed_in(approver_a)
    passkey = _passkey(approver_a)
    response = client.post(reverse("mfa_remove_passkey", args=[passkey.pk]), {"code": codes[0]})
    assert response.status_code == 500
    assert WebAuthnCredential.objects.filter(pk=passkey.pk).exists()


def test_an_authenticator_app_is_not_set_up_without_its_audit_event(approver_a, tenant_a,
                                                                     audit_down):
    client, _ = sign_in_with_password(approver_a)
    client.raise_request_exception = False
    client.get(reverse("mfa_setup"))
    device = TOTPDevice.objects.get(user=approver_a)
    response = client.post(reverse("mfa_setup"), {"code": _code_for(device)})
    assert response.status_code == 500
    device.refresh_from_db()
    assert not device.confirmed
    assert not _codes(approver_a)
    assert not mfa.has_second_factor(approver_a)


def test_a_replaced_authenticator_app_stays_without_its_audit_event(approver_a, tenant_a,
                                                                    audit_down):
    client, codes = _signed_in(approver_a)
    old = TOTPDevice.objects.create(user=approver_a, name="old phone", confirmed=True)
    client.post(reverse("mfa_setup"), {"step": "replace", "code": codes[0]})
    new = TOTPDevice.objects.get(user=approver_a, confirmed=False)
    response = client.post(reverse("mfa_setup"), {"code": _code_for(new)})
    assert response.status_code == 500
    assert list(TOTPDevice.objects.filter(user=approver_a, confirmed=True)) == [old]


def test_a_registered_passkey_is_not_kept_without_its_audit_event(approver_a, audit_down,
                                                                  monkeypatch):
    """The browser's ceremony is replaced by its result: the library saves a passkey and
    answers 200, as it does after a real registration (tests/browser/test_passkeys.py)."""
    def registered(view, *args, **kwargs):
        assert view.get_state() == {"challenge": "spent"}
        return JsonResponse({"id": _passkey(approver_a, "New key").pk})

    monkeypatch.setattr(webauthn.CompleteCredentialRegistrationView, "post", registered)
    client, _ = _signed_in(approver_a)
    session = client.session
    session["otp_webauthn_register_state"] = {"challenge": "spent"}
    session.save()
    response = client.post("/webauthn/registration/complete/", "{}",
                           content_type="application/json")
    assert response.status_code == 500
    assert not WebAuthnCredential.objects.filter(user=approver_a).exists()
    assert "otp_webauthn_register_state" not in client.session  # spent even so


def test_a_registered_passkey_is_audited(approver_a, tenant_a, monkeypatch):
    def registered(view, *args, **kwargs):
        view.get_state()
        return JsonResponse({"id": _passkey(approver_a, "New key").pk})

    monkeypatch.setattr(webauthn.CompleteCredentialRegistrationView, "post", registered)
    client, _ = _signed_in(approver_a)
    session = client.session
    session["otp_webauthn_register_state"] = {"challenge": "x"}
    session.save()
    assert client.post("/webauthn/registration/complete/", "{}",
                       content_type="application/json").status_code == 200
    assert _account_events(approver_a).get().action == "account.passkey_added"


def test_no_audit_event_claims_an_enrolment_whose_backup_codes_failed(approver_a, tenant_a,
                                                                      monkeypatch):
    def broken(user):
        raise OSError("disk full")

    monkeypatch.setattr(mfa, "new_backup_codes", broken)
    client, _ = sign_in_with_password(approver_a)
    client.raise_request_exception = False
    client.get(reverse("mfa_setup"))
    device = TOTPDevice.objects.get(user=approver_a)
    assert client.post(reverse("mfa_setup"), {"code": _code_for(device)}).status_code == 500
    device.refresh_from_db()
    assert not device.confirmed
    assert not _account_events(approver_a).exists()
