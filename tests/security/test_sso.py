"""Single sign-on through a tenant's own OpenID Connect provider, against a real provider on
loopback (tests/idp.py: npm's oidc-provider run by node), never a mock of allauth.

The browser's part is played by `requests` at the provider (its sign-in page and redirects) and
by Django's test client at Lockbox; the provider's ID tokens, discovery and keys are real HTTP.
"""

import html
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from approvals import sso
from approvals.models import DomainClaim, SsoConnection, TenantMembership, TenantRole
from audit.models import AuditEvent
from tests import factories
from tests.clients import signed_in
from tests.idp import OidcProvider

FAULTS = ("aud", "iss", "exp", "sig", "nonce")
CLIENTS = ["lockbox", *(f"lockbox-{fault}" for fault in FAULTS), "lockbox-replay",
           "provider-staff"]
USERS = {
    "alice": {"email": "alice@a.example", "groups": ["lockbox-approvers", "staff"],
              "amr": ["pwd", "mfa"]},
    "ada": {"email": "ada@a.example", "groups": ["lockbox-admins"]},
    "carol": {"email": "carol@a.example", "groups": ["staff"]},
    "dave": {"email": "dave@elsewhere.example", "groups": ["lockbox-approvers"]},
    "erin": {"email": "erin@a.example", "groups": ["lockbox-readers", "lockbox-approvers"]},
    "staff": {"email": "engineer@a.example", "groups": ["lockbox-approvers"]},
    # Phishing-resistant MFA at the provider: a hardware key (RFC 8176), or the EAP acr value.
    "pat": {"email": "pat@a.example", "groups": ["lockbox-admins"], "amr": ["hwk", "mfa"]},
    "quinn": {"email": "quinn@a.example", "groups": ["lockbox-approvers"], "acr": "phr"},
    # The provider's own staff, at the provider's identity provider.
    "sam": {"email": "sam@provider.example", "groups": ["support-engineers"]},
    "mona": {"email": "mona@provider.example", "groups": ["support-managers", "auditors"]},
    "una": {"email": "una@provider.example", "groups": ["sales"]},
    # An address the provider itself has not verified, and someone else claiming ada's.
    "vera": {"email": "vera@a.example", "groups": ["lockbox-approvers"], "email_verified": False},
    "mallory": {"email": "ada@a.example", "groups": ["lockbox-approvers"]},
}


@pytest.fixture(autouse=True)
def _fresh_sign_in_counts():
    """Wrong passwords are counted per client address for a minute (security.throttle), and
    every test client is 127.0.0.1: other tests' failures must not refuse these sign-ins."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def callback_path(client_id):
    return f"/accounts/oidc/{client_id}/login/callback/"


@pytest.fixture(scope="module")
def idp():
    clients = {cid: {"secret": f"{cid}-secret",
                     "redirect_uris": [f"http://testserver{callback_path(cid)}"],
                     **({"fault": cid.split("-", 1)[1]} if cid.startswith("lockbox-") else {})}
               for cid in CLIENTS}
    with OidcProvider(users=USERS, clients=clients) as provider:
        yield provider


@pytest.fixture
def connect(idp, tenant_a, admin_a, now):
    """Tenant A's connection to the provider as client `client_id`, a.example verified."""
    DomainClaim.objects.create(tenant=tenant_a, domain="a.example", token="t", created_at=now,
                               verified_at=now)

    def make(client_id="lockbox", *, enabled=True):
        connection = sso.save_connection(tenant=tenant_a, actor=admin_a, given=sso.Settings(
            issuer=idp.issuer, client_id=client_id, client_secret=f"{client_id}-secret",
            role_claim="groups", admin_values=["lockbox-admins"],
            approver_values=["lockbox-approvers"], reader_values=["lockbox-readers"]))
        # The provider knows each client's redirect URI from its start; name ours to match.
        SsoConnection.objects.filter(pk=connection.pk).update(
            provider_id=client_id, enabled=enabled, tested_at=timezone.now())
        connection.refresh_from_db()
        return connection

    return make


def at_provider(location, login):
    """The browser at the provider: its sign-in page as `login`, then back. Returns the
    redirect to Lockbox's callback (path and query)."""
    browser = requests.Session()
    response = browser.get(location, allow_redirects=False, timeout=10)
    for _ in range(10):
        target = urljoin(response.url, response.headers.get("Location", ""))
        if response.status_code in (302, 303) and target.startswith("http://testserver/"):
            parts = urlsplit(target)
            return f"{parts.path}?{parts.query}"
        if response.status_code in (302, 303):
            response = browser.get(target, allow_redirects=False, timeout=10)
            continue
        form = re.search(r'action="([^"]+)"', response.text)
        assert response.status_code == 200 and form, (response.status_code, response.text)
        response = browser.post(urljoin(response.url, form.group(1)), data={"login": login},
                                allow_redirects=False, timeout=10)
    raise AssertionError("the provider never sent the browser back")


def provider_url(start):
    """Where the page that follows a start sends the browser (a page, not a redirect: see
    lockbox_portal.security.sso.redirect_to_provider)."""
    assert start.status_code == 200, start.content.decode()[:500]
    found = re.search(r'id="continue" href="([^"]+)"', start.content.decode())
    assert found
    return html.unescape(found.group(1))


def sign_in(client, email, login=None):
    location = provider_url(client.post("/accounts/sso/", {"email": email}))
    query = parse_qs(urlsplit(location).query)
    assert query["nonce"][0] and query["code_challenge_method"] == ["S256"]
    back = at_provider(location, login or email.split("@")[0])
    return client.get(back), back


def roles(tenant, email):
    return sorted(TenantMembership.objects.filter(tenant=tenant, user__email=email)
                  .values_list("role", flat=True))


# --- Signing in --------------------------------------------------------------------------------

def test_a_person_at_a_verified_domain_signs_in_with_the_roles_their_groups_give(
        connect, tenant_a):
    connect()
    client = Client()
    response, _ = sign_in(client, "alice@a.example")
    assert response.status_code == 302, response.content.decode()[-900:]
    # Signed in, and next is Lockbox's own second factor (a new person sets one up).
    assert client.get("/t/tenant-a/")["Location"].startswith("/mfa/setup/")
    alice = get_user_model().objects.get(email="alice@a.example")
    assert int(client.session["_auth_user_id"]) == alice.pk
    assert not alice.has_usable_password()
    assert roles(tenant_a, "alice@a.example") == ["approver"]
    account = SocialAccount.objects.get(user=alice)
    assert account.provider == "lockbox" and account.uid == "alice"
    event = AuditEvent.objects.filter(chain=tenant_a.audit_chain,
                                      action="membership.granted").latest("seq")
    assert event.data["email"] == "alice@a.example" and event.data["new"] == ["approver"]
    assert event.data["by"].startswith("single sign-on (http://127.0.0.1:")

    # The second time, the same account, and roles follow the groups.
    TenantMembership.objects.filter(user=alice).delete()
    client2 = Client()
    response, _ = sign_in(client2, "Alice@A.example", login="alice")
    assert response.status_code == 302
    assert int(client2.session["_auth_user_id"]) == alice.pk
    assert roles(tenant_a, "alice@a.example") == ["approver"]
    assert SocialAccount.objects.filter(user=alice).count() == 1


def test_an_invited_person_is_linked_not_duplicated(connect, tenant_a, approver_a):
    connect()
    erin = factories.person("erin@a.example", tenant=tenant_a,
                            tenant_roles=[TenantRole.APPROVER])
    client = Client()
    response, _ = sign_in(client, "erin@a.example")
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == erin.pk
    assert roles(tenant_a, "erin@a.example") == ["approver", "compliance_reader"]
    assert get_user_model().objects.filter(email__iexact="erin@a.example").count() == 1


def test_no_mapped_group_means_no_sign_in_and_the_roles_here_end(connect, tenant_a):
    connect()
    factories.person("carol@a.example", tenant=tenant_a, tenant_roles=[TenantRole.APPROVER])
    client = Client()
    response, _ = sign_in(client, "carol@a.example")
    assert response.status_code == 403
    assert "gives you no role in Tenant A" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert roles(tenant_a, "carol@a.example") == []
    event = AuditEvent.objects.filter(chain=tenant_a.audit_chain,
                                      action="membership.removed").latest("seq")
    assert event.data["old"] == ["approver"] and event.data["new"] == []


def test_an_address_outside_the_tenants_verified_domains_is_refused(connect, tenant_a):
    connect()
    # dave's provider account says dave@elsewhere.example; he starts from a.example.
    client = Client()
    response, _ = sign_in(client, "someone@a.example", login="dave")
    assert response.status_code == 403
    assert "not at a domain Tenant A has verified" in response.content.decode()
    assert not get_user_model().objects.filter(email="dave@elsewhere.example").exists()
    assert "_auth_user_id" not in client.session


def test_a_provider_staff_account_never_signs_in_through_a_customer_provider(connect, engineer):
    connect()
    engineer.email = "engineer@a.example"
    engineer.save()
    client = Client()
    response, _ = sign_in(client, "engineer@a.example", login="staff")
    assert response.status_code == 403 and "provider staff account" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_without_single_sign_on_the_start_page_says_so_whoever_asks(connect, tenant_a):
    connect(enabled=False)
    for email in ("alice@a.example", "nobody@a.example", "x@unknown.example"):
        page = Client().post("/accounts/sso/", {"email": email})
        assert page.status_code == 400
        assert "Single sign-on is not set up for addresses at this domain." in \
            page.content.decode()
    for bad in ("not an address", "alice\x00@a.example", "a" * 5000 + "@a.example", ""):
        assert Client().post("/accounts/sso/", {"email": bad}).status_code == 400


# --- What is refused on the way back ----------------------------------------------------------

@pytest.mark.parametrize("fault", FAULTS)
def test_a_bad_id_token_signs_no_one_in(connect, fault):
    connect(f"lockbox-{fault}")
    client = Client()
    response, _ = sign_in(client, "alice@a.example")
    assert response.status_code in (401, 403), fault
    assert "You are not signed in" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not SocialAccount.objects.exists()
    assert not get_user_model().objects.filter(email="alice@a.example").exists()


def test_an_id_token_from_an_earlier_sign_in_is_refused(connect):
    connect("lockbox-replay")
    first = Client()
    response, _ = sign_in(first, "alice@a.example")
    assert response.status_code == 302 and "_auth_user_id" in first.session
    # The provider now hands back the first sign-in's ID token: its nonce is not this one's.
    second = Client()
    response, _ = sign_in(second, "alice@a.example")
    assert response.status_code == 403
    assert "not for this sign-in" in response.content.decode()
    assert "_auth_user_id" not in second.session


def test_a_callback_used_twice_signs_in_once(connect):
    connect()
    client = Client()
    response, back = sign_in(client, "alice@a.example")
    assert response.status_code == 302
    other = Client()
    again = other.get(back)
    assert again.status_code in (400, 401, 403) and "_auth_user_id" not in other.session


def test_a_provider_whose_discovery_names_another_issuer_is_refused(connect, idp, caplog):
    # Reached as localhost, the provider's discovery still names itself 127.0.0.1.
    connection = connect()
    SsoConnection.objects.filter(pk=connection.pk).update(
        issuer=idp.issuer.replace("127.0.0.1", "localhost"))
    client = Client()
    response, _ = sign_in(client, "alice@a.example")
    assert response.status_code == 401
    assert "names another issuer" not in response.content.decode()  # in the log only
    assert "names another issuer" in caplog.text
    assert "_auth_user_id" not in client.session


def test_a_provider_that_cannot_be_reached_is_said_so(connect, idp):
    connection = connect()
    SsoConnection.objects.filter(pk=connection.pk).update(issuer=idp.issuer + "/nothing-here")
    page = Client().post("/accounts/sso/", {"email": "alice@a.example"})
    assert page.status_code == 502
    assert "could not be reached" in page.content.decode()


# --- The settings page ------------------------------------------------------------------------

def test_an_admin_connects_tests_and_switches_on(idp, tenant_a, admin_a, now):
    DomainClaim.objects.create(tenant=tenant_a, domain="a.example", token="t", created_at=now,
                               verified_at=now)
    admin = signed_in(admin_a)
    page = admin.get("/t/tenant-a/settings/sso/")
    assert page.status_code == 200 and "Connect your identity provider" in page.content.decode()
    saved = admin.post("/t/tenant-a/settings/sso/", {
        "issuer": idp.issuer, "client_id": "lockbox", "client_secret": "lockbox-secret",
        "role_claim": "groups", "admin_values": "lockbox-admins\n",
        "approver_values": "lockbox-approvers", "reader_values": "",
        "code": admin.codes[0]})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    connection = SsoConnection.objects.get(tenant=tenant_a)
    assert connection.client_secret != "lockbox-secret"  # encrypted at rest
    assert sso.client_secret(connection) == "lockbox-secret"
    event = AuditEvent.objects.filter(action="sso.configured").latest("seq")
    assert "lockbox-secret" not in str(event.data) and "client_secret" in event.data["changed"]
    page = admin.get("/t/tenant-a/settings/sso/").content.decode()
    assert "lockbox-secret" not in page
    assert f"http://testserver/accounts/oidc/{connection.provider_id}/login/callback/" in page

    # Switching on before a test is refused.
    refused = admin.post("/t/tenant-a/settings/sso/on/", {"code": admin.codes[1]}, follow=True)
    assert "Run a test sign-in first" in refused.content.decode()
    assert not SsoConnection.objects.get(pk=connection.pk).enabled

    # The test sign-in: the provider knows this connection's callback under its own client id.
    SsoConnection.objects.filter(pk=connection.pk).update(provider_id="lockbox")
    start = admin.post("/t/tenant-a/settings/sso/test/")
    back = admin.get(at_provider(provider_url(start), "ada"))
    assert back.status_code == 302 and back["Location"] == "/t/tenant-a/settings/sso/"
    assert int(admin.session["_auth_user_id"]) == admin_a.pk  # still the admin, no one else
    assert not get_user_model().objects.filter(email="ada@a.example").exists()
    page = admin.get("/t/tenant-a/settings/sso/").content.decode()
    assert "ada@a.example" in page and "Tenant admin" in page
    assert AuditEvent.objects.filter(action="sso.tested").latest("seq").data["roles"] == \
        ["admin"]

    switched = admin.post("/t/tenant-a/settings/sso/on/", {}, follow=True)
    assert "Single sign-on is on" in switched.content.decode()
    assert SsoConnection.objects.get(pk=connection.pk).enabled
    assert AuditEvent.objects.filter(action="sso.enabled").exists()

    # A new client secret switches it off until a new test.
    admin.post("/t/tenant-a/settings/sso/", {
        "issuer": idp.issuer, "client_id": "lockbox", "client_secret": "another-secret",
        "role_claim": "groups", "admin_values": "lockbox-admins",
        "approver_values": "lockbox-approvers", "reader_values": ""})
    connection.refresh_from_db()
    assert not connection.enabled and not connection.tested_since_change


def test_settings_refuse_what_cannot_work(idp, tenant_a, admin_a):
    admin = signed_in(admin_a)
    base = {"issuer": idp.issuer, "client_id": "lockbox", "client_secret": "s",
            "role_claim": "groups", "admin_values": "", "approver_values": "lockbox-approvers",
            "reader_values": "", "code": admin.codes[0]}
    for field, value, said in [
            ("issuer", "http://idp.example.com", "The issuer is the https:// address"),
            ("issuer", "https://idp.example.com/?x=1", "The issuer is the https:// address"),
            ("issuer", "javascript:alert(1)", "The issuer is the https:// address"),
            ("approver_values", "", "Name at least one group or role"),
            ("role_claim", "email", "Select a valid choice"),
            ("client_secret", "", "The client secret is needed the first time")]:
        page = admin.post("/t/tenant-a/settings/sso/", {**base, field: value})
        assert page.status_code == 400, field
        assert said in page.content.decode(), field
    assert not SsoConnection.objects.exists()


def test_a_test_sign_in_started_by_someone_else_is_not_recorded(connect, tenant_a, admin_a):
    connection = connect(enabled=False)
    SsoConnection.objects.filter(pk=connection.pk).update(tested_at=None)
    admin = signed_in(admin_a)
    start = admin.post("/t/tenant-a/settings/sso/test/")
    back = at_provider(provider_url(start), "ada")
    # The callback reaches a browser that is not the admin's: allauth's state is the admin's
    # session's, so it is refused there.
    stranger = Client()
    assert stranger.get(back).status_code >= 400
    connection.refresh_from_db()
    assert connection.tested_at is None


def test_only_the_tenants_admins_reach_single_sign_on_settings(connect, approver_a, approver_b):
    connect()
    assert signed_in(approver_a).get("/t/tenant-a/settings/sso/").status_code == 403
    other = signed_in(approver_b)
    assert other.get("/t/tenant-a/settings/sso/").status_code == 404
    assert other.post("/t/tenant-a/settings/sso/test/").status_code == 404
    assert other.post("/t/tenant-a/settings/sso/off/").status_code == 404


def test_removing_single_sign_on_needs_a_confirmation(connect, tenant_a, admin_a):
    connect()
    admin = signed_in(admin_a)
    page = admin.get("/t/tenant-a/settings/sso/remove/")
    assert "Remove single sign-on from Tenant A?" in page.content.decode()
    assert SsoConnection.objects.exists()
    done = admin.post("/t/tenant-a/settings/sso/remove/", {"code": admin.codes[0]})
    assert done.status_code == 302 and not SsoConnection.objects.exists()
    assert AuditEvent.objects.filter(action="sso.removed").exists()
    # Nothing is left to sign in with.
    assert Client().post("/accounts/sso/", {"email": "alice@a.example"}).status_code == 400


def test_an_unreadable_secret_is_said_on_the_page(connect, tenant_a, admin_a, settings):
    connect()
    settings.SECRET_KEY = "another-secret-key-" + "y" * 40
    page = signed_in(admin_a).get("/t/tenant-a/settings/sso/").content.decode()
    assert "can no longer be read" in page


def test_roles_come_only_from_the_configured_claim(connect):
    connection = connect()
    assert sso.roles_from_claims(connection, {"groups": ["lockbox-admins"]}) == ["admin"]
    assert sso.roles_from_claims(connection, {"roles": ["lockbox-admins"]}) == []
    assert sso.roles_from_claims(connection, {"groups": "lockbox-approvers"}) == ["approver"]
    assert sso.roles_from_claims(connection, {"groups": {"lockbox-admins": 1}}) == []
    assert sso.roles_from_claims(connection, {"groups": [["lockbox-admins"]]}) == []


# --- Requiring single sign-on ------------------------------------------------------------------

def sso_session(email, login):
    """A browser signed in through single sign-on, its second factor passed; with backup codes
    for step-ups."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_static.models import StaticDevice

    from lockbox_portal.security import mfa

    client = Client()
    response, _ = sign_in(client, email, login=login)
    assert response.status_code == 302
    user = get_user_model().objects.get(email=email)
    client.codes = mfa.new_backup_codes(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = StaticDevice.objects.get(user=user).persistent_id
    session.save()
    return client


def test_requiring_single_sign_on_stops_passwords_and_ends_other_sessions(
        connect, tenant_a, admin_a, approver_a, django_capture_on_commit_callbacks):
    from approvals.api.models import ApiToken
    from tests.api_helpers import make_token

    connect()
    ada = sso_session("ada@a.example", "ada")  # an admin through the provider's groups
    assert roles(tenant_a, "ada@a.example") == ["admin"]
    by_password = signed_in(admin_a)
    token, _ = make_token(admin_a, "tenant_read", tenant=tenant_a)

    page = ada.get("/t/tenant-a/settings/sso/").content.decode()
    assert "2 members of Tenant A have an address outside your verified domains" in page
    assert "admin@a.test" in page and "approver@a.test" in page

    # An admin who signed in with a password cannot require it (they would shut themselves out).
    refused = by_password.post("/t/tenant-a/settings/sso/require/",
                               {"code": by_password.codes[0]}, follow=True)
    assert "Sign in through single sign-on yourself first" in refused.content.decode()
    assert not SsoConnection.objects.get(tenant=tenant_a).required

    with django_capture_on_commit_callbacks(execute=True):  # sessions end after the commit
        done = ada.post("/t/tenant-a/settings/sso/require/", {"code": ada.codes[0]},
                        follow=True)
    assert "Single sign-on is required. 1 session(s) signed in another way were ended and 1 " \
           "API token(s) revoked." in done.content.decode()
    assert SsoConnection.objects.get(tenant=tenant_a).required
    event = AuditEvent.objects.filter(action="sso.required").latest("seq")
    assert event.data["sessions_ended"] == 1 and event.data["tokens_revoked"] == 1
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiToken.objects.filter(owner=admin_a, revoked_at__isnull=True).count() == 0

    # The password session is gone; the single sign-on one goes on.
    assert by_password.get("/t/tenant-a/")["Location"].startswith("/accounts/login/")
    assert ada.get("/t/tenant-a/").status_code == 200

    # A password no longer signs anyone of the tenant in.
    client = Client()
    response = client.post("/accounts/login/", {"login": "approver@a.test",
                                                "password": "correct horse battery"})
    assert response.status_code == 302 and response["Location"] == "/accounts/sso/"
    assert "_auth_user_id" not in client.session
    # Nor does a session that did not sign in through the provider reach the tenant's pages.
    assert signed_in(approver_a).get("/t/tenant-a/").status_code == 403

    # Stopping the requirement lets passwords work again.
    ada.post("/t/tenant-a/settings/sso/unrequire/", {})
    assert not SsoConnection.objects.get(tenant=tenant_a).required
    response = Client().post("/accounts/login/", {"login": "approver@a.test",
                                                  "password": "correct horse battery"})
    assert response["Location"] != "/accounts/sso/"
    assert signed_in(approver_a).get("/t/tenant-a/").status_code == 200


def test_switching_off_or_changing_the_provider_ends_the_requirement(connect, tenant_a, admin_a,
                                                                      idp):
    connection = connect()
    SsoConnection.objects.filter(pk=connection.pk).update(required=True)
    sso.save_connection(tenant=tenant_a, actor=admin_a, given=sso.Settings(
        issuer=idp.issuer, client_id="lockbox", client_secret="another-secret",
        role_claim="groups", admin_values=["lockbox-admins"],
        approver_values=["lockbox-approvers"], reader_values=[]))
    connection.refresh_from_db()
    assert not connection.enabled and not connection.required
    # A tenant whose provider is off requires nothing: passwords work.
    assert sso.required_for(admin_a) is None


def test_the_sign_in_page_sends_an_address_with_single_sign_on_to_its_provider(
        connect, approver_a):
    connect()
    for password in ("", "anything at all"):
        client = Client()
        page = client.post("/accounts/login/", {"login": "Alice@A.example",
                                                "password": password})
        back = at_provider(provider_url(page), "alice")
        assert client.get(back).status_code == 302
        assert client.session["_auth_user_id"] == str(
            get_user_model().objects.get(email="alice@a.example").pk)
    # Other addresses still need their password, and get it checked.
    empty = Client().post("/accounts/login/", {"login": "approver@a.test", "password": ""})
    assert empty.status_code == 200 and "Enter your password." in empty.content.decode()
    wrong = Client().post("/accounts/login/", {"login": "approver@a.test", "password": "nope"})
    assert "_auth_user_id" not in wrong.wsgi_request.session
    right = Client()
    assert right.post("/accounts/login/", {"login": "approver@a.test",
                                           "password": "correct horse battery"}).status_code == 302
    assert "_auth_user_id" in right.session



# --- The provider's own staff on the internal site ---------------------------------------------

@pytest.fixture
def staff_sso(idp, settings):
    settings.LOCKBOX_STAFF_OIDC_ISSUER = idp.issuer
    settings.LOCKBOX_STAFF_OIDC_CLIENT_ID = "provider-staff"
    settings.LOCKBOX_STAFF_OIDC_CLIENT_SECRET = "provider-staff-secret"
    settings.LOCKBOX_STAFF_OIDC_DOMAINS = ["provider.example"]
    settings.LOCKBOX_STAFF_OIDC_ROLES = {"engineer": ["support-engineers"],
                                         "internal_approver": ["support-managers"],
                                         "auditor": ["auditors"]}


def staff_roles(email):
    from approvals.models import ProviderMembership

    return sorted(ProviderMembership.objects.filter(user__email=email)
                  .values_list("role", flat=True))


def test_staff_sign_in_to_the_internal_site_through_the_providers_own_provider(
        staff_sso, serve_site, db):
    serve_site("internal")
    client = Client()
    response, _ = sign_in(client, "sam@provider.example")
    assert response.status_code == 302
    assert client.get("/internal/")["Location"].startswith("/mfa/setup/")
    assert staff_roles("sam@provider.example") == ["engineer"]
    granted = AuditEvent.objects.filter(chain="provider", action="provider_role.granted").latest(
        "seq")
    assert granted.data["email"] == "sam@provider.example"

    client = Client()
    page = client.post("/accounts/login/", {"login": "mona@provider.example", "password": ""})
    assert client.get(at_provider(provider_url(page), "mona")).status_code == 302
    assert staff_roles("mona@provider.example") == ["auditor", "internal_approver"]


def test_staff_whose_groups_no_longer_map_lose_their_roles(staff_sso, serve_site, db):
    serve_site("internal")
    factories.person("una@provider.example", provider_role="engineer")
    response, _ = sign_in(Client(), "una@provider.example")
    assert response.status_code == 403 and "gives you no role" in response.content.decode()
    assert staff_roles("una@provider.example") == []
    assert AuditEvent.objects.filter(chain="provider", action="provider_role.removed").exists()


def test_staff_single_sign_on_refuses_customers_and_other_domains(staff_sso, serve_site,
                                                                 tenant_a):
    serve_site("internal")
    factories.person("sam@provider.example", tenant=tenant_a, tenant_roles=[TenantRole.APPROVER])
    response, _ = sign_in(Client(), "sam@provider.example")
    assert response.status_code == 403 and "customer account" in response.content.decode()
    assert staff_roles("sam@provider.example") == []
    # An address outside the staff domains is never sent to the staff provider.
    page = Client().post("/accounts/sso/", {"email": "dave@elsewhere.example"})
    assert page.status_code == 400


def test_the_customer_portal_never_offers_the_staff_provider(staff_sso, serve_site, db):
    serve_site("customer")
    page = Client().post("/accounts/login/", {"login": "sam@provider.example", "password": ""})
    assert page.status_code == 200 and "Enter your password." in page.content.decode()
    assert Client().get(callback_path("provider-staff") + "?code=x&state=y").status_code == 404


# --- Where Lockbox calls -----------------------------------------------------------------------

@pytest.mark.parametrize("issuer", ["https://10.1.2.3", "https://169.254.169.254/latest",
                                    "https://[::1]:8443", "https://192.168.0.10/realms/x",
                                    "https://user:pw@login.example.com"])
def test_an_issuer_inside_the_providers_network_is_refused(tenant_a, admin_a, issuer, settings):
    settings.LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK = False
    with pytest.raises(ValidationError):
        sso.save_connection(tenant=tenant_a, actor=admin_a, given=sso.Settings(
            issuer=issuer, client_id="c", client_secret="s", role_claim="groups",
            admin_values=[], approver_values=["x"], reader_values=[]))


def test_loopback_is_refused_unless_development_allows_it(settings, idp):
    from lockbox_portal.security.outbound import GuardedSession, OutboundRefused

    settings.LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK = False
    with pytest.raises(OutboundRefused, match=r"a private or local address|not an https"):
        GuardedSession().get(idp.issuer + "/.well-known/openid-configuration")
    settings.LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK = True
    assert GuardedSession().get(idp.issuer + "/.well-known/openid-configuration").json()[
        "issuer"] == idp.issuer


def test_calls_follow_no_redirect_and_read_a_bounded_answer(settings):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from lockbox_portal.security.outbound import MAX_BODY, GuardedSession, OutboundRefused

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * (MAX_BODY + 10))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        settings.LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK = True
        assert GuardedSession().get(base + "/redirect").status_code == 302  # not followed
        with pytest.raises(OutboundRefused, match="too large"):
            GuardedSession().get(base + "/big")
    finally:
        server.shutdown()
        server.server_close()



# --- Linking people (review) ---------------------------------------------------------------------

def test_an_address_the_provider_has_not_verified_is_not_used(connect):
    connect()
    client = Client()
    response, _ = sign_in(client, "vera@a.example")
    assert response.status_code == 403 and "not verified" in response.content.decode()
    assert not get_user_model().objects.filter(email="vera@a.example").exists()


def test_a_second_provider_account_cannot_take_over_a_linked_person(connect, tenant_a):
    connect()
    assert sign_in(Client(), "ada@a.example")[0].status_code == 302  # linked to sub "ada"
    before = roles(tenant_a, "ada@a.example")
    # Another account at the same provider now says it is ada@a.example.
    client = Client()
    response, _ = sign_in(client, "ada@a.example", login="mallory")
    assert response.status_code == 403 and "already linked" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert roles(tenant_a, "ada@a.example") == before
    assert SocialAccount.objects.filter(user__email="ada@a.example").count() == 1


def test_a_linked_account_whose_address_moved_on_signs_in_as_no_one(connect, tenant_a):
    connect()
    assert sign_in(Client(), "alice@a.example")[0].status_code == 302
    alice = get_user_model().objects.get(email="alice@a.example")
    alice.email = alice.username = "alice.old@a.example"
    alice.save()
    TenantMembership.objects.filter(user=alice).delete()
    client = Client()
    response, _ = sign_in(client, "alice@a.example")
    assert response.status_code == 403
    assert "belongs to another person" in response.content.decode()
    assert not get_user_model().objects.filter(email="alice@a.example").exists()
    assert roles(tenant_a, "alice.old@a.example") == []  # nothing changed before refusing


def test_someone_of_another_tenant_at_that_domain_keeps_their_password(connect, tenant_b):
    connect()
    factories.person("consultant@a.example", tenant=tenant_b, tenant_roles=[TenantRole.APPROVER])
    client = Client()
    response = client.post("/accounts/login/", {"login": "consultant@a.example",
                                                "password": "correct horse battery"})
    assert response.status_code == 302 and "_auth_user_id" in client.session
    # With no password typed, the domain's provider is offered.
    page = Client().post("/accounts/login/", {"login": "consultant@a.example", "password": ""})
    assert 'id="continue"' in page.content.decode()


def test_a_new_issuer_gets_a_new_provider_name(connect, tenant_a, admin_a, idp):
    connection = connect()
    old = connection.provider_id
    sso.save_connection(tenant=tenant_a, actor=admin_a, given=sso.Settings(
        issuer=idp.issuer.replace("127.0.0.1", "localhost"), client_id="lockbox",
        client_secret="", role_claim="groups", admin_values=["lockbox-admins"],
        approver_values=["lockbox-approvers"], reader_values=[]))
    connection.refresh_from_db()
    assert connection.provider_id != old and not connection.enabled


# --- The way back in ---------------------------------------------------------------------------

def test_operators_can_stop_requiring_single_sign_on_with_a_reason(connect, tenant_a):
    from django.core.management import CommandError, call_command

    connection = connect()
    SsoConnection.objects.filter(pk=connection.pk).update(required=True)
    with pytest.raises(CommandError, match="at least 10 characters"):
        call_command("sso_release", tenant="tenant-a", reason="outage")
    with pytest.raises(CommandError, match="No tenant"):
        call_command("sso_release", tenant="nope", reason="the provider is down since 9:00")
    call_command("sso_release", tenant="tenant-a", reason="the provider is down since 9:00")
    assert not SsoConnection.objects.get(pk=connection.pk).required
    event = AuditEvent.objects.filter(chain=tenant_a.audit_chain,
                                      action="sso.not_required").latest("seq")
    assert event.data["reason"] == "Operator: the provider is down since 9:00"


def test_losing_the_last_verified_domain_ends_the_requirement(connect, tenant_a, admin_a, now):
    from approvals import domains

    connection = connect()
    SsoConnection.objects.filter(pk=connection.pk).update(required=True)
    claim = DomainClaim.objects.get(tenant=tenant_a, domain="a.example")
    domains.remove_domain(claim=claim, actor=admin_a, now=now)
    assert not SsoConnection.objects.get(pk=connection.pk).required
    event = AuditEvent.objects.filter(chain=tenant_a.audit_chain,
                                      action="sso.not_required").latest("seq")
    assert "No verified domain is left" in event.data["reason"]
