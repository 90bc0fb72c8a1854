"""Signing in through a tenant's own identity provider, with django-allauth's openid_connect
provider: the apps come from approvals.SsoConnection rows (never allauth's own table, so the
client secret stays encrypted), and the ID token is checked more strictly than allauth does.

What allauth 65.22.1 leaves out, and this module adds (docs/identity-research.md):
- the ID token's signature is checked on every sign-in (allauth skips it in the code flow),
  with the algorithms the provider lists and a key from its JWKS named by `kid`;
- the issuer is the one the tenant's admin typed: discovery must say the same, and so must the
  token (allauth trusts whatever discovery says);
- a nonce, made for each sign-in and kept with allauth's one-time state, must come back in the
  token (allauth sends none): an ID token from an earlier sign-in is refused.

A flow starts only from a POST of ours (start and test_start), never from allauth's own login
view, which is not routed. The callback is allauth's, under its URL name, with the adapter below.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt
from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.adapter import get_adapter as get_social_adapter
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.base import AuthProcess
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from requests import RequestException

from approvals import sso
from approvals.models import SsoConnection
from lockbox_portal.security import secrets as sealed
from lockbox_portal.security.outbound import GuardedSession

if TYPE_CHECKING:
    from allauth.socialaccount.models import SocialLogin

log = logging.getLogger(__name__)

# Asymmetric algorithms only: a token "signed" with HMAC under the provider's public key, or not
# signed at all, is refused whatever its header says.
ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
LEEWAY_SECONDS = 60
TEST = "lockbox_sso_test"


def _app(connection: SsoConnection) -> SocialApp:
    try:
        secret = sealed.unseal(connection.client_secret)
    except sealed.Unreadable:
        secret = ""  # the token endpoint refuses it; the settings page asks for it again
    return SocialApp(provider="openid_connect", provider_id=connection.provider_id,
                     name=connection.tenant.name, client_id=connection.client_id, secret=secret,
                     settings={"server_url": connection.issuer, "fetch_userinfo": True,
                               "oauth_pkce_enabled": True})


def _staff_app() -> SocialApp:
    return SocialApp(provider="openid_connect", provider_id=sso.STAFF_PROVIDER_ID,
                     name="the provider's staff", client_id=settings.LOCKBOX_STAFF_OIDC_CLIENT_ID,
                     secret=settings.LOCKBOX_STAFF_OIDC_CLIENT_SECRET,
                     settings={"server_url": settings.LOCKBOX_STAFF_OIDC_ISSUER,
                               "fetch_userinfo": True, "oauth_pkce_enabled": True})


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request: HttpRequest | None, provider: str | None = None,
                  client_id: str | None = None) -> list[SocialApp]:
        connections = SsoConnection.objects.select_related("tenant")
        if provider and provider != "openid_connect":
            connections = connections.filter(provider_id=provider)
        if client_id:
            connections = connections.filter(client_id=client_id)
        apps = [_app(connection) for connection in connections]
        if (sso.staff_sso_configured() and settings.LOCKBOX_SITE != "customer"
                and provider in (None, "openid_connect", sso.STAFF_PROVIDER_ID)
                and client_id in (None, settings.LOCKBOX_STAFF_OIDC_CLIENT_ID)):
            apps.append(_staff_app())
        return apps

    def on_authentication_error(self, request: HttpRequest, provider: Any, error: Any = None,
                                exception: Any = None, extra_context: Any = None) -> None:
        # The reason goes to the log, never onto the page: it may quote what the provider (or
        # whatever its discovery pointed at) answered.
        log.warning("single sign-on through %s refused: %s: %s",
                    getattr(provider, "id", provider), error, exception)

    def get_requests_session(self) -> GuardedSession:
        # Every call to an identity provider: public https only, no redirects, bounded time
        # and size (lockbox_portal.security.outbound).
        return GuardedSession()

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        # People are created or linked in pre_social_login, never by allauth's sign-up.
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        staff = sociallogin.account.provider == sso.STAFF_PROVIDER_ID
        connection = None if staff else (
            SsoConnection.objects.select_related("tenant")
            .filter(provider_id=sociallogin.account.provider).first())
        if connection is None and not (staff and sso.staff_sso_configured()
                                       and settings.LOCKBOX_SITE != "customer"):
            raise ImmediateHttpResponse(_refused(request, "This sign-in is no longer set up."))
        extra = sociallogin.account.extra_data
        id_claims = extra.get("id_token") or {}
        data = sociallogin.state.get("data") or {}
        nonce = str(data.get("nonce", ""))
        if not nonce or not hmac.compare_digest(nonce.encode(),
                                                str(id_claims.get("nonce", "")).encode()):
            raise ImmediateHttpResponse(_refused(request, "The identity provider's answer was "
                                                          "not for this sign-in."))
        # Claims the ID token leaves to the userinfo endpoint (e-mail, with some providers)
        # count only when userinfo is about the same subject; the ID token's win.
        userinfo = extra.get("userinfo") or {}
        if userinfo and str(userinfo.get("sub")) != str(id_claims.get("sub")):
            raise ImmediateHttpResponse(_refused(request, "The identity provider's answers "
                                                          "were about two different people."))
        claims = {**userinfo, **id_claims}
        refusal = _before_anything_changes(sociallogin, claims)
        if refusal:
            raise ImmediateHttpResponse(_refused(request, refusal))
        try:
            if connection is None:  # the provider's own staff (checked above)
                user = sso.sign_in_staff(claims=claims)
            else:
                if data.get("test"):
                    raise ImmediateHttpResponse(_finish_test(request, connection, claims, data))
                user = sso.sign_in_member(connection=connection, claims=claims)
        except sso.SsoRefused as refused:
            raise ImmediateHttpResponse(_refused(request, refused.message)) from None
        if sociallogin.is_existing:
            if sociallogin.user.pk != user.pk:
                # The provider's account was linked to someone else here (their e-mail
                # changed at the provider): never sign in as that other person.
                raise ImmediateHttpResponse(_refused(
                    request, "This identity provider account belongs to another person here."))
        else:
            sociallogin.connect(request, user)


def _before_anything_changes(sociallogin: SocialLogin, claims: dict[str, Any]) -> str:
    """Why this sign-in is refused before it changes anyone's roles, or "".

    A provider account already linked here signs in only as the person it is linked to, and
    only while its address is still theirs; a new one is linked to an existing person only when
    no other account at the same provider is linked to them. An address the provider itself
    says is unverified is never used."""
    from allauth.socialaccount.models import SocialAccount
    from django.contrib.auth import get_user_model

    verified = claims.get("email_verified")
    if verified is False or str(verified).lower() == "false":
        return "Your identity provider says your e-mail address is not verified."
    email = str(claims.get("email") or "").strip().lower()
    if sociallogin.is_existing:
        if (sociallogin.user.email or "").lower() != email:
            return "This identity provider account belongs to another person here."
        return ""
    person = get_user_model().objects.filter(email__iexact=email).first()
    if person is not None and SocialAccount.objects.filter(
            user=person, provider=sociallogin.account.provider).exists():
        return ("Another account at your identity provider is already linked to this address "
                "here.")
    return ""


def _refused(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "socialaccount/refused.html", {"message": message}, status=403)


def _finish_test(request: HttpRequest, connection: SsoConnection, claims: dict[str, Any],
                 data: dict[str, Any]) -> HttpResponse:
    """A test sign-in's claims go to the settings page of the admin who started it; no one is
    signed in."""
    user = request.user
    if not user.is_authenticated or user.pk != data.get("test"):
        return _refused(request, "Start the test sign-in again from the settings page.")
    sso.record_test(connection=connection, actor=user, claims=claims)
    messages.success(request, "Test sign-in received. Check the claims below before you "
                              "switch single sign-on on.")
    return redirect("portal:sso", connection.tenant.slug)


class VerifyingAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's adapter, with the ID token checked as the module says."""

    def complete_login(self, request: HttpRequest, app: SocialApp, token: Any,
                       **kwargs: Any) -> Any:
        try:
            return super().complete_login(request, app, token, **kwargs)
        except (TypeError, AttributeError, ValueError, KeyError) as problem:
            # Answers of the wrong shape (a userinfo that is a list, say): not signed in, not
            # a 500.
            raise OAuth2Error(f"Malformed answer: {problem.__class__.__name__}") from None

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        issuer = str(app.settings["server_url"]).rstrip("/")
        config = self.openid_config
        if not isinstance(config, dict) or str(config.get("issuer", "")).rstrip("/") != issuer:
            raise OAuth2Error("The provider's discovery names another issuer.")
        offered = set(config.get("id_token_signing_alg_values_supported") or ["RS256"])
        try:
            header = jwt.get_unverified_header(id_token)
            algorithm, kid = header.get("alg"), header.get("kid")
            if algorithm not in ALGORITHMS & offered:
                raise OAuth2Error(f"ID token signed with {algorithm!r}, which is not accepted.")
            key = self._key(config["jwks_uri"], kid, algorithm)
            return jwt.decode(id_token, key=key, algorithms=[algorithm], audience=app.client_id,
                              issuer=[issuer, issuer + "/"], leeway=LEEWAY_SECONDS,
                              options={"require": ["iss", "aud", "exp", "iat", "sub"]})
        except (jwt.PyJWTError, ValueError, KeyError, TypeError, AttributeError) as problem:
            raise OAuth2Error(f"Invalid ID token: {problem.__class__.__name__}") from None

    def _key(self, jwks_uri: str, kid: str | None, algorithm: str) -> Any:
        with get_social_adapter().get_requests_session() as session:
            response = session.get(jwks_uri)
            response.raise_for_status()
            document = response.json()
        keys = document.get("keys") if isinstance(document, dict) else None
        for entry in keys if isinstance(keys, list) else []:
            if not isinstance(entry, dict):
                continue
            if kid and entry.get("kid") == kid and entry.get("use", "sig") == "sig":
                if entry.get("alg", algorithm) != algorithm:
                    break
                return jwt.PyJWK(json.loads(json.dumps(entry)), algorithm=algorithm).key
        raise OAuth2Error("No signing key of the provider's matches the ID token.")


def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        return OAuth2CallbackView.adapter_view(VerifyingAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None


def redirect_to_provider(request: HttpRequest, connection: SsoConnection | None, *,
                         process: str, next_url: str, data: dict[str, Any],
                         login_hint: str = "") -> HttpResponse:
    """Send the browser to the provider (a tenant's, or with None the provider's staff one),
    with a fresh nonce kept in allauth's one-time state."""
    provider_id = connection.provider_id if connection else sso.STAFF_PROVIDER_ID
    whose = f"{connection.tenant.name}'s" if connection else "The provider's"
    provider = get_social_adapter().get_provider(request, provider_id)
    nonce = secrets.token_urlsafe(32)
    params = {**provider.get_auth_params(), "nonce": nonce}
    if login_hint:
        params["login_hint"] = login_hint
    try:
        sent = provider.redirect(request, process, next_url=next_url,
                                 data={**data, "nonce": nonce}, auth_params=params)
    except (RequestException, OAuth2Error, ValueError, KeyError):
        # Discovery did not answer, or not with a usable document (bounded by
        # SOCIALACCOUNT_REQUESTS_TIMEOUT).
        return render(request, "socialaccount/refused.html", {
            "message": f"{whose} identity provider could not be reached. "
                       "Try again in a moment; if it keeps happening, tell your "
                       "organisation's Lockbox admin."}, status=502)
    if sent.status_code != 302:
        return sent
    # Not a redirect: every page's CSP says form-action 'self', which browsers apply to the
    # redirects after a form too, so a 302 to the provider would be blocked. A page that moves
    # on by itself (and a link, for anyone whose browser does not) is not a form's redirect.
    location = sent["Location"]
    return render(request, "socialaccount/continue.html",
                  {"url": location, "host": urlsplit(location).netloc})


def start(request: HttpRequest) -> HttpResponse:
    """Sign-in by e-mail address: an address at a domain whose tenant has single sign-on on is
    sent to that tenant's provider; any other gets the same answer, whoever owns it (the page
    never says whether an account exists)."""
    from approvals.forms import SsoStartForm

    form = SsoStartForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        connection = sso.connection_for_email(email)
        if connection is not None or _is_staff_address(email):
            return redirect_to_provider(request, connection, process=AuthProcess.LOGIN,
                                        next_url=_next(request), data={}, login_hint=email)
        form.add_error("email", "Single sign-on is not set up for addresses at this domain. "
                                "Sign in with your password instead.")
    return render(request, "account/sso_start.html", {"form": form},
                  status=400 if form.errors else 200)


def _next(request: HttpRequest) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    wanted = request.POST.get("next") or request.GET.get("next") or "/"
    return wanted if url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()) else "/"


class LoginForm(AllauthLoginForm):
    """The sign-in page, e-mail first: an address at a domain whose tenant signs its people in
    through its own provider is sent there, whatever was typed as a password (which is then not
    checked); any other needs its password, as before. Both fields stay on one page, so
    password managers keep working. (settings.ACCOUNT_FORMS)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password"].required = False
        self.fields["password"].help_text = (
            "If your organisation signs you in through its own identity provider, leave this "
            "empty: you will be sent there.")

    def clean(self) -> dict[str, Any]:
        login = self.cleaned_data.get("login")
        connection = sso.connection_for_email(login) if isinstance(login, str) else None
        if connection is not None and self.data.get("password") and not sso.belongs_to(
                login, connection):
            # Someone of another tenant whose address happens to be at this domain: their
            # password is checked as before (a tenant requiring single sign-on refuses it).
            connection = None
        if connection is not None and self.request is not None:
            raise ImmediateHttpResponse(redirect_to_provider(
                self.request, connection, process=AuthProcess.LOGIN, next_url=_next(self.request),
                data={}, login_hint=login))
        if (isinstance(login, str) and self.request is not None and _is_staff_address(login)):
            raise ImmediateHttpResponse(redirect_to_provider(
                self.request, None, process=AuthProcess.LOGIN, next_url=_next(self.request),
                data={}, login_hint=login))
        if login and not self.data.get("password"):
            self.add_error("password", "Enter your password.")
            return self.cleaned_data
        return super().clean()


def _is_staff_address(email: str) -> bool:
    """An address the internal site sends to the provider's own identity provider."""
    return (sso.staff_sso_configured() and settings.LOCKBOX_SITE != "customer"
            and sso.domain_of(email) in settings.LOCKBOX_STAFF_OIDC_DOMAINS)


def login_cancelled(request: HttpRequest) -> HttpResponse:
    return render(request, "socialaccount/refused.html", {
        "message": "Signing in at your identity provider was cancelled."}, status=200)
