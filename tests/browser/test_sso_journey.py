"""Single sign-on in Chromium through a real OpenID Connect provider's own pages (npm's
oidc-provider on loopback, tests/idp.py): from Lockbox's sign-in page to the provider's, back,
and on to Lockbox's own second factor. Screenshots in screenshots/sso-*.png."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from approvals import sso
from approvals.models import DomainClaim, SsoConnection, TenantMembership, TenantRole
from tests import factories
from tests.idp import OidcProvider

pytestmark = pytest.mark.browser


def test_a_person_signs_in_through_their_organisations_provider(page, live_server, screenshot,
                                                                transactional_db):
    tenant = factories.tenant("contoso")
    admin = factories.person("admin@contoso.test", tenant=tenant,
                             tenant_roles=[TenantRole.ADMIN])
    now = timezone.now()
    DomainClaim.objects.create(tenant=tenant, domain="contoso.test", token="t", created_at=now,
                               verified_at=now)
    callback = f"{live_server.url}/accounts/oidc/lockbox/login/callback/"
    users = {"alice": {"email": "alice@contoso.test", "groups": ["lockbox-approvers"]}}
    clients = {"lockbox": {"secret": "lockbox-secret", "redirect_uris": [callback]}}
    with OidcProvider(users=users, clients=clients) as idp:
        connection = sso.save_connection(tenant=tenant, actor=admin, given=sso.Settings(
            issuer=idp.issuer, client_id="lockbox", client_secret="lockbox-secret",
            role_claim="groups", admin_values=[], approver_values=["lockbox-approvers"],
            reader_values=[]))
        SsoConnection.objects.filter(pk=connection.pk).update(
            provider_id="lockbox", enabled=True, tested_at=timezone.now())

        page.goto("/accounts/login/")
        page.click("text=Sign in with your organisation's single sign-on")
        page.fill("input[name=email]", "alice@contoso.test")
        screenshot("sso-start")
        page.click("main button[type=submit]")
        # The provider's own sign-in page, on its own origin.
        page.wait_for_selector("text=Test identity provider")
        assert page.url.startswith(idp.issuer)
        page.fill("input[name=login]", "alice")
        page.click("button[type=submit]")
        # Back at Lockbox: signed in, and next comes Lockbox's own second factor.
        page.wait_for_url("**/mfa/setup/**")
        screenshot("sso-second-factor")
        assert page.inner_text("h1") == "Set up a second factor"

    alice = get_user_model().objects.get(email="alice@contoso.test")
    assert list(TenantMembership.objects.filter(tenant=tenant, user=alice)
                .values_list("role", flat=True)) == ["approver"]
