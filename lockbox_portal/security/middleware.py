"""Every page needs a signed-in person with a verified second factor, unless it is listed here."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from urllib.parse import urlencode

from allauth.account.adapter import get_adapter
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse

from lockbox_portal import clock
from lockbox_portal.security import mfa

# Reachable by anyone: signing in and recovering a password. The admin's login page only sends
# people to the site's sign-in (lockbox_portal.admin_site).
PUBLIC = {
    "healthz",
    "readyz",
    "site_root",
    "admin:login",
    "account_login",
    "account_logout",
    "account_signup",
    "account_inactive",
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "sso_start",
    "openid_connect_callback",
    "socialaccount_login_cancelled",
}
# Reachable after the password alone: finishing sign-in with a second factor, or setting one up.
PASSWORD_ONLY = {
    "mfa_verify",
    "mfa_setup",
    "otp_webauthn:credential-authentication-begin",
    "otp_webauthn:credential-authentication-complete",
    "otp_webauthn:js-i18n-catalog",
}
SIGNED_IN_AT = "lockbox_signed_in_at"
LAST_SEEN = "lockbox_last_seen"
# The session key and time the person's row in "Where you are signed in" was last written.
ACTIVITY_NOTED = "lockbox_activity_noted"

GetResponse = Callable[[HttpRequest], HttpResponseBase]


def _view_name(request: HttpRequest) -> str | None:
    """The resolved view name, or "api" for the API views, which read bearer tokens."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    if getattr(match.func, "lockbox_api", False):
        return "api"  # bearer tokens, checked by approvals.api.http
    return match.view_name


class RequireSecondFactorMiddleware:
    """Default deny: a page not listed above needs a verified second factor.

    The Django admin is no exception: it is reached through the same sign-in as every page.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        name = _view_name(request)
        if name is None or name in PUBLIC or name == "api":
            return self.get_response(request)
        user = request.user
        here = request.get_full_path()
        if not user.is_authenticated:
            return redirect(f"{reverse('account_login')}?{urlencode({'next': here})}")
        if mfa.is_verified(user) or name in PASSWORD_ONLY:
            return self.get_response(request)
        step = "mfa_verify" if mfa.has_second_factor(user) else "mfa_setup"
        return redirect(f"{reverse(step)}?{urlencode({'next': here})}")


class SessionLimitsMiddleware:
    """End a session after LOCKBOX_IDLE_TIMEOUT without requests, and LOCKBOX_SESSION_MAX_AGE
    after sign-in, whatever happens in between."""

    # Writing the session on every request costs a database write; a minute's precision is plenty.
    TOUCH_EVERY = 60

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.user.is_authenticated:
            ended = self._check(request)
            if ended:
                logout(request)
                messages.info(request, ended)
                return redirect(f"{reverse('account_login')}?"
                                f"{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> str:
        now = clock.now().timestamp()
        session = request.session
        signed_in_at = session.setdefault(SIGNED_IN_AT, now)
        last_seen = session.get(LAST_SEEN, now)
        if now - last_seen > settings.LOCKBOX_IDLE_TIMEOUT.total_seconds():
            minutes = int(settings.LOCKBOX_IDLE_TIMEOUT.total_seconds() // 60)
            return f"You were signed out after {minutes} minutes without activity."
        if now - signed_in_at > settings.LOCKBOX_SESSION_MAX_AGE.total_seconds():
            hours = int(settings.LOCKBOX_SESSION_MAX_AGE.total_seconds() // 3600)
            return f"You were signed out because you signed in more than {hours} hours ago."
        if now - last_seen >= self.TOUCH_EVERY or LAST_SEEN not in session:
            session[LAST_SEEN] = now
        return ""


class SessionActivityMiddleware:
    """Keep "Where you are signed in" (allauth's UserSession rows) true to the minute.

    allauth's own middleware writes the row on every request: three statements (read the row,
    its user, update it), a fifth of a small page's. Here the row is written when the session
    is new to it (signed in, or its key rotated by a step-up), when the person's address or
    browser changed, and otherwise at most once a minute: last seen is then at most a minute
    old. Ending a session still deletes it at once; this only notes activity.
    """

    EVERY = 60

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        session = request.session
        if request.user.is_authenticated and session.session_key:
            now = clock.now().timestamp()
            client = _client(request)
            noted = session.get(ACTIVITY_NOTED)
            if (not isinstance(noted, list) or noted[:2] != [session.session_key, client]
                    or now - noted[2] >= self.EVERY):
                UserSession.objects.create_from_request(request)
                session[ACTIVITY_NOTED] = [session.session_key, client, now]
        return self.get_response(request)


def _client(request: HttpRequest) -> str:
    """Where the request comes from, as the session list shows it (address and browser), in
    few bytes: the session keeps it."""
    seen = f"{get_adapter().get_client_ip(request)} {request.META.get('HTTP_USER_AGENT', '')}"
    return hashlib.sha256(seen.encode()).hexdigest()[:16]
