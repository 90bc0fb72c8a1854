"""django-otp-webauthn's ceremonies, with passkey registration written to the audit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.db import transaction
from django.http import HttpResponse
from django.urls import path
from django.views.i18n import JavaScriptCatalog
from django_otp_webauthn import views as webauthn

from lockbox_portal.security import factors, mfa, stepup

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class CompleteRegistration(webauthn.CompleteCredentialRegistrationView):
    """The new passkey and its audit event commit together (security.factors)."""

    def get_state(self) -> Any:
        return self._state

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        # The ceremony's state is taken from the session, and the session saved, before the
        # transaction: if it rolls back, the state is still spent and cannot be replayed.
        self._state = super().get_state()
        with transaction.atomic():
            response = super().post(*args, **kwargs)
            if response.status_code == 200:
                # Registration needs a signed-in person (the view's permission check).
                factors.passkey_added(cast("User", self.request.user))
        return response


class CompleteAuthentication(webauthn.CompleteCredentialAuthenticationView):
    """A passkey finishes signing in, or, for someone already verified, is the step-up check
    for the action whose page they have open (see stepup.offer)."""

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        user = self.request.user
        already_verified = user.is_authenticated and mfa.is_verified(user)
        response = super().post(*args, **kwargs)
        if response.status_code == 200 and already_verified:
            stepup.record_offered(self.request)
        return response


urlpatterns = [
    path("registration/begin/", webauthn.BeginCredentialRegistrationView.as_view(),
         name="credential-registration-begin"),
    path("registration/complete/", CompleteRegistration.as_view(),
         name="credential-registration-complete"),
    path("authentication/begin/", webauthn.BeginCredentialAuthenticationView.as_view(),
         name="credential-authentication-begin"),
    path("authentication/complete/", CompleteAuthentication.as_view(),
         name="credential-authentication-complete"),
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]),
         name="js-i18n-catalog"),
]
