"""The customer approver's whole journey in Chromium, against a live server.

Sign in, enrol an authenticator app, sign in again with it, see the pending request, approve it
with a step-up, see the access open with its countdown, find the decision in the audit search,
and export it. Each page is kept as a screenshot in screenshots/journey-*.png.
"""

import base64
import time

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_otp.oath import TOTP

from approvals import transitions as t
from approvals.models import ProviderRole, State, TenantRole
from tests import factories

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


def code_from_secret(secret, seconds_from_now=0):
    clock = TOTP(base64.b32decode(secret.replace(" ", "")), 30, 0, 6, 0)
    clock.time = time.time() + seconds_from_now
    return f"{clock.token():06d}"


@pytest.fixture
def pending_request(transactional_db):
    tenant = factories.tenant("contoso", required_approvals=1)
    engineer = factories.person("erin@provider.test", provider_role=ProviderRole.ENGINEER)
    manager = factories.person("maya@provider.test", provider_role=ProviderRole.INTERNAL_APPROVER)
    factories.person("ada@contoso.test", tenant=tenant, tenant_roles=[TenantRole.APPROVER])
    req = factories.submit(engineer=engineer, tenant=tenant, now=timezone.now(), hours=2,
                           case_reference="CASE-7781",
                           justification="Shared mailbox rejects mail; read its transport rules.",
                           scope=["exchange/mailbox/support@contoso.test"])
    t.internal_approve(access_request=req, actor=manager, comment="Case checked.")
    return req


def sign_in(page):
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "ada@contoso.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")


def test_an_approver_enrols_approves_and_finds_it_in_the_audit(page, pending_request,
                                                               screenshot, tmp_path):
    sign_in(page)
    page.wait_for_url("**/mfa/setup/**")
    assert page.locator("img.qr").is_visible()
    screenshot("journey-1-enrol")
    page.click("text=Can't scan it?")
    secret = page.locator("code.secret").inner_text()
    page.fill("input[name=code]", code_from_secret(secret))
    page.click("main button[type=submit]")
    codes = page.locator(".backup-codes code").all_inner_texts()
    assert len(codes) == 10
    screenshot("journey-2-backup-codes")
    page.click("text=I have saved them, continue")

    # Sign out and in again: this time the app's code is asked for, not set up.
    page.click("header button:has-text('Sign out')")
    sign_in(page)
    page.wait_for_url("**/mfa/verify/**")
    screenshot("journey-3-verify")
    page.fill("input[name=code]", code_from_secret(secret, seconds_from_now=30))
    page.click("main form.stack button[type=submit]")

    page.wait_for_url("**/t/contoso/")
    card = page.locator("article.request-card").first
    assert "CASE-7781" in card.inner_text()
    assert "Expires in" in card.inner_text()
    assert page.locator(".tenant-nav .count").inner_text() == "1"
    screenshot("journey-4-dashboard")

    card.locator("text=Approve…").click()
    assert "opens access now" in page.locator(".consequence").inner_text()
    page.fill("textarea[name=comment]", "Go ahead, read-only.")
    screenshot("journey-5-confirm")
    page.click("button:has-text('Approve access')")
    # No code yet: the page asks for one and keeps the comment.
    assert "Enter a code" in page.locator(".field.has-error").inner_text()
    assert page.locator("textarea[name=comment]").input_value() == "Go ahead, read-only."
    page.fill("input[name=code]", codes[0])
    page.click("button:has-text('Approve access')")

    page.wait_for_url(f"**/requests/{pending_request.pk}/")
    assert "You approved request" in page.locator(".messages").inner_text()
    assert page.locator(".badge").first.inner_text() == "Approved"
    countdown = page.locator("time[data-countdown]").first.inner_text()
    assert countdown.startswith("in 1 h") or countdown.startswith("in 2 h")
    screenshot("journey-6-active")
    pending_request.refresh_from_db()
    assert pending_request.state == State.APPROVED

    page.click(".tenant-nav >> text=Audit")
    page.select_option("select[name=action]", "request.approved")
    page.click("button:has-text('Search')")
    rows = page.locator(".audit-table tbody tr")
    assert rows.count() == 1
    assert "ada@contoso.test" in rows.first.inner_text()
    assert "Go ahead, read-only." in rows.first.inner_text()
    assert "The log verifies." in page.locator(".verification").inner_text()
    screenshot("journey-7-audit")

    with page.expect_download() as download:
        page.click(".exports >> text=CSV")
    saved = tmp_path / "audit.csv"
    download.value.save_as(saved)
    exported = saved.read_text()
    assert exported.splitlines()[0].startswith("chain,seq,occurred_at,action")
    assert "request.approved" in exported and "ada@contoso.test" in exported
    assert len(exported.splitlines()) == 2
    assert get_user_model().objects.get(email="ada@contoso.test").totpdevice_set.filter(
        confirmed=True).count() == 1


def test_the_portal_reads_well_on_a_phone(chromium, live_server, pending_request):
    from tests.browser.conftest import SCREENSHOTS

    context = chromium.new_context(viewport={"width": 390, "height": 844},
                                   base_url=live_server.url)
    phone = context.new_page()
    from django.test import Client

    # Signed in through the test client, then handed to the browser: this test is about layout.
    client = Client()
    factories.verify_with_otp(client, get_user_model().objects.get(email="ada@contoso.test"))
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    phone.goto("/t/contoso/")
    body_width = phone.evaluate("document.documentElement.scrollWidth")
    assert body_width <= 390, "the dashboard scrolls sideways on a phone"
    SCREENSHOTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(SCREENSHOTS / "journey-dashboard-phone.png"), full_page=True)
    phone.goto(f"/t/contoso/requests/{pending_request.pk}/approve/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(SCREENSHOTS / "journey-confirm-phone.png"), full_page=True)
    context.close()
