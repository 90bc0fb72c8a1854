"""One access, end to end across both sites, each person in their own browser.

An engineer asks on the internal site, a manager approves it there, a customer approver approves
it in the portal, the engineer sees the access open with its end time and gives it back; the
tenant's audit shows every step and verifies.
"""

import pytest

from approvals.models import AccessRequest, ProviderRole, State, TenantRole
from audit.models import AuditEvent
from audit.verification import verify_chain
from lockbox_portal.security import mfa
from tests import factories
from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser


@pytest.fixture
def people(transactional_db):
    tenant = factories.tenant("contoso", required_approvals=1)
    made = {
        "erin": factories.person("erin@provider.test", provider_role=ProviderRole.ENGINEER),
        "maya": factories.person("maya@provider.test",
                                 provider_role=ProviderRole.INTERNAL_APPROVER),
        "ada": factories.person("ada@contoso.test", tenant=tenant,
                                tenant_roles=[TenantRole.APPROVER]),
    }
    return {name: (user, mfa.new_backup_codes(user)) for name, (user) in made.items()}


@pytest.fixture
def browser_for(chromium, live_server):
    """Open a signed-in browser for a person; every one is closed before the test ends, so no
    request is still in flight when the test database is emptied."""
    contexts = []

    def open_for(person, codes, errors):
        context = chromium.new_context(viewport={"width": 1280, "height": 900},
                                       base_url=live_server.url)
        contexts.append(context)
        return _sign_in(context.new_page(), person, codes, errors)

    yield open_for
    for context in contexts:
        context.close()


def _sign_in(page, person, codes, errors):
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/accounts/login/")
    page.fill("input[name=login]", person.email)
    page.fill("input[name=password]", "correct horse battery")
    page.click("main button[type=submit]")
    page.fill("input[name=code]", codes.pop())
    page.click("main form.stack button[type=submit]")
    page.wait_for_load_state()
    return page


def shot(page, name):
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"cross-{name}.png"), full_page=True)


def test_one_access_from_request_to_release_across_both_sites(browser_for, people):
    errors = []
    (erin, erin_codes), (maya, maya_codes), (ada, ada_codes) = (
        people["erin"], people["maya"], people["ada"])

    engineer = browser_for(erin, erin_codes, errors)
    assert engineer.url.endswith("/internal/requests/mine/")
    engineer.click("text=New request")
    engineer.select_option("select[name=tenant]", "contoso")
    engineer.click("button:has-text('Continue')")
    assert "Lockbox is on" in engineer.locator(".policy-box").inner_text()
    engineer.fill("input[name=case_reference]", "CASE-5150")
    engineer.fill("textarea[name=justification]", "Calendar sync fails; read the sync rules.")
    engineer.fill("textarea[name=scope]", "exchange/mailbox/ceo@contoso.test/rules")
    engineer.select_option("select[name=duration]", "120")
    shot(engineer, "1-request-form")
    engineer.click("button:has-text('Send to a manager')")
    assert "is waiting for a manager" in engineer.locator(".messages").inner_text()
    req = AccessRequest.objects.get(case_reference="CASE-5150")

    manager = browser_for(maya, maya_codes, errors)
    assert manager.url.endswith("/internal/queue/")
    assert manager.locator(".tenant-nav .count").inner_text() == "1"
    shot(manager, "2-queue")
    manager.click("text=Approve…")
    manager.fill("input[name=code]", maya_codes.pop())
    manager.click("button:has-text('Approve for the provider')")
    assert "You approved request" in manager.locator(".messages").inner_text()

    customer = browser_for(ada, ada_codes, errors)
    assert customer.url.endswith("/t/contoso/")
    assert "CASE-5150" in customer.locator("article.request-card").first.inner_text()
    customer.click("text=Approve…")
    customer.fill("input[name=code]", ada_codes.pop())
    shot(customer, "3-customer-approves")
    customer.click("button:has-text('Approve access')")
    assert "Access open from" in customer.locator(".grant").inner_text()

    engineer.goto("/internal/requests/mine/")
    row = engineer.locator("table.table tbody tr").first
    req.refresh_from_db()
    end = req.access_ends_at.strftime("%d %b %Y %H:%M UTC")
    assert "Access open" in row.inner_text() and end in row.inner_text()
    shot(engineer, "4-engineer-sees-access")
    row.locator("text=Give back…").click()
    engineer.click("button:has-text('Give access back now')")
    assert "You gave back the access" in engineer.locator(".messages").inner_text()
    req.refresh_from_db()
    assert req.state == State.COMPLETED

    customer.goto("/t/contoso/audit/")
    table = customer.locator(".audit-table").inner_text()
    for label in ("Request made", "Provider approved", "Access granted", "Access given back"):
        assert label in table
    assert "The log verifies." in customer.locator(".verification").inner_text()
    shot(customer, "5-audit")
    actions = list(AuditEvent.objects.filter(request_id=req.pk).order_by("seq")
                   .values_list("action", "actor_email"))
    assert actions == [
        ("request.submitted", "erin@provider.test"),
        ("request.internal_approved", "maya@provider.test"),
        ("request.approved", "ada@contoso.test"),
        ("request.released", "erin@provider.test"),
    ]
    assert verify_chain("tenant:contoso").ok
    assert errors == []
