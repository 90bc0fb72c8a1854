from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from approvals.models import ProviderMembership, TenantMembership
from lockbox_portal.security import throttle

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def is_provider_only(user: User) -> bool:
    return (ProviderMembership.objects.filter(user=user).exists()
            and not TenantMembership.objects.filter(user=user).exists())


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # People join a tenant by invitation from its admin; there is no self sign-up.
        return False

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        # Provider staff with no customer tenant land on the internal site.
        user = cast("User", request.user)  # allauth asks once the person is signed in
        if settings.LOCKBOX_SITE != "customer" and is_provider_only(user):
            return "/internal/"
        return super().get_login_redirect_url(request)

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        # allauth counts the address (login_failed); then the account, per address and overall.
        super().pre_authenticate(request, **credentials)
        if not throttle.consume(request, _login(credentials), self._login_failed_rl_usage):
            self._rollback_login_failed_rl_usage()  # refused unread: it counts nowhere
            raise self.validation_error("too_many_login_attempts")

    def _delete_login_attempts_cached_email(self, request: HttpRequest,
                                            **credentials: Any) -> None:
        # After a password reset by e-mail, the account starts afresh, as allauth intends.
        super()._delete_login_attempts_cached_email(request, **credentials)
        throttle.clear(request, _login(credentials))

    def add_message(self, request: HttpRequest, level: int, message_template: str | None = None,
                    *args: Any, **kwargs: Any) -> None:
        # After the password a person is not signed in yet: the second factor comes next.
        if message_template == "account/messages/logged_in.txt":
            return
        super().add_message(request, level, message_template, *args, **kwargs)

    def pre_login(self, request: HttpRequest, user: User,
                  **kwargs: Any) -> HttpResponse | None:
        # The internal site is for the provider's staff only; customer accounts are turned away
        # even with the right password.
        if (settings.LOCKBOX_SITE == "internal"
                and not ProviderMembership.objects.filter(user=user).exists()):
            messages.error(request, "This is the provider's internal site. Customer accounts "
                                    "sign in at the customer portal.")
            return redirect("account_login")
        # A tenant that requires single sign-on: its people sign in only through its provider.
        if not (kwargs.get("signal_kwargs") or {}).get("sociallogin"):
            from approvals.sso import required_for

            required = required_for(user)
            if required is not None:
                messages.error(request, f"{required.tenant.name} requires single sign-on: use "
                                        "\"Sign in with your organisation's single sign-on\".")
                return redirect("sso_start")
        return super().pre_login(request, user, **kwargs)


def _login(credentials: dict[str, Any]) -> str:
    return credentials.get("email", credentials.get("username", "")).lower()
