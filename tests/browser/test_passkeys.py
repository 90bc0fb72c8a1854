"""Passkeys in Chromium with a virtual authenticator: add one, then use it to finish signing in."""

import pytest

from approvals.models import TenantRole
from audit.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.browser


@pytest.fixture
def ada(transactional_db, settings, live_server):
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    tenant = factories.tenant("contoso")
    person = factories.person("ada@contoso.test", tenant=tenant,
                              tenant_roles=[TenantRole.APPROVER])
    from lockbox_portal.security import mfa

    factories.totp_device(person)
    return person, mfa.new_backup_codes(person)


def _sign_in(page, code=None):
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "ada@contoso.test")
    page.fill("input[name=password]", "correct horse battery")
    page.click("main button[type=submit]")
    page.wait_for_url("**/mfa/verify/**")
    if code:
        page.fill("input[name=code]", code)
        page.click("main form.stack button[type=submit]")
        page.wait_for_url("**/t/contoso/")


def test_a_passkey_is_added_and_then_finishes_sign_in(page, ada, screenshot):
    _, codes = ada
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})

    _sign_in(page, codes[0])
    page.goto("/account/security/")
    page.click("#passkey-register-button")
    page.wait_for_selector("text=No passkeys yet.", state="detached")
    assert page.locator("table.table tbody tr").count() == 1
    screenshot("passkey-added")
    assert AuditEvent.objects.filter(action="account.passkey_added",
                                     actor_email="ada@contoso.test").exists()

    page.click("header button:has-text('Sign out')")
    _sign_in(page)
    screenshot("passkey-verify")
    page.click("#passkey-verification-button")
    page.wait_for_url("**/t/contoso/")
    assert "Waiting for your decision" in page.locator("h1").first.inner_text()


def test_a_passkey_confirms_a_decision(page, ada, screenshot):
    from django.utils import timezone

    from approvals import transitions as t
    from approvals.models import ProviderRole, State, Tenant

    _, codes = ada
    tenant = Tenant.objects.get(slug="contoso")
    engineer = factories.person("erin@provider.test", provider_role=ProviderRole.ENGINEER)
    manager = factories.person("maya@provider.test", provider_role=ProviderRole.INTERNAL_APPROVER)
    req = factories.submit(engineer=engineer, tenant=tenant, now=timezone.now())
    t.internal_approve(access_request=req, actor=manager)

    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})
    _sign_in(page, codes[0])
    page.goto("/account/security/")
    page.click("#passkey-register-button")
    page.wait_for_selector("text=No passkeys yet.", state="detached")

    page.goto(f"/t/contoso/requests/{req.pk}/approve/")
    screenshot("passkey-stepup")
    page.click("#passkey-verification-button")
    page.wait_for_selector("text=less than 5 minutes ago")
    assert page.locator("input[name=code]").count() == 0
    page.click("button:has-text('Approve access')")
    page.wait_for_url(f"**/requests/{req.pk}/")
    req.refresh_from_db()
    assert req.state == State.APPROVED
    # The passkey check was for this approval only: revoking still asks again.
    page.goto(f"/t/contoso/requests/{req.pk}/revoke/")
    assert page.locator("input[name=code]").count() == 1
