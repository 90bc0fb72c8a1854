"""An auditor signs in to the read-only admin through the site's own sign-in, with a one-time
code, and checks the audit."""

import pytest
from django_otp.plugins.otp_static.models import StaticDevice

from approvals.models import ProviderRole, State, TenantRole
from tests import factories

pytestmark = pytest.mark.browser


@pytest.fixture
def story(transactional_db, now):
    tenant = factories.tenant("contoso")
    engineer = factories.person("eng@provider.test", provider_role=ProviderRole.ENGINEER)
    manager = factories.person("mgr@provider.test", provider_role=ProviderRole.INTERNAL_APPROVER)
    approver = factories.person("approver@contoso.test", tenant=tenant,
                                tenant_roles=[TenantRole.APPROVER])
    auditor = factories.person("auditor@provider.test", provider_role=ProviderRole.AUDITOR)
    device = StaticDevice.objects.create(user=auditor, name="backup codes")
    device.token_set.create(token="goodcode1")
    granted = factories.request_in_state(State.REVOKED, engineer=engineer, manager=manager,
                                         approver=approver, tenant=tenant, now=now)
    return {"auditor": auditor, "request": granted}


def _sign_in(page, token):
    page.goto("/internal/admin/")
    assert "/accounts/login/" in page.url  # the admin has no sign-in form of its own
    page.fill("input[name=login]", "auditor@provider.test")
    page.fill("input[name=password]", "correct horse battery")
    page.click("main button[type=submit]")
    page.fill("input[name=code]", token)
    page.click("main form.stack button[type=submit]")


def test_a_wrong_code_keeps_the_auditor_out(page, story, screenshot):
    _sign_in(page, "wrongcode")
    assert "/mfa/verify/" in page.url
    assert "not right" in page.locator("main").inner_text()
    screenshot("admin-login-refused")


def test_the_auditor_reads_requests_and_verifies_the_audit(page, story, screenshot):
    _sign_in(page, "goodcode1")
    assert page.locator("#site-name").inner_text() == "Lockbox provider admin (read-only)"
    screenshot("admin-index")

    page.click("#content-main a[href$='/approvals/accessrequest/']")
    row = page.locator("#result_list tbody tr").first
    assert story["request"].reference in row.inner_text()
    assert "Revoked" in row.inner_text()
    assert page.locator("select[name=action]").count() == 0
    screenshot("admin-requests")

    page.click(f"text={story['request'].reference}")
    page.wait_for_url("**/change/")
    assert "approver@contoso.test" in page.locator("#content").inner_text()
    screenshot("admin-request")

    page.goto("/internal/admin/audit/auditevent/")
    screenshot("admin-audit")
    page.click("text=Verify every chain")
    assert "Every chain verifies" in page.locator(".messagelist").inner_text()
    assert "tenant:contoso" in page.locator("table").inner_text()
    screenshot("admin-verify")
