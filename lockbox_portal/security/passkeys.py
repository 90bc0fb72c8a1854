"""django-otp-webauthn's ceremonies, with passkey registration written to the audit."""

from django.db import transaction
from django.urls import path
from django.views.i18n import JavaScriptCatalog
from django_otp_webauthn import views as webauthn

from lockbox_portal.security import factors, stepup


class CompleteRegistration(webauthn.CompleteCredentialRegistrationView):
    """The new passkey and its audit event commit together (security.factors)."""

    def get_state(self):
        return self._state

    def post(self, *args, **kwargs):
        # The ceremony's state is taken from the session, and the session saved, before the
        # transaction: if it rolls back, the state is still spent and cannot be replayed.
        self._state = super().get_state()
        with transaction.atomic():
            response = super().post(*args, **kwargs)
            if response.status_code == 200:
                factors.passkey_added(self.request.user)
        return response


class CompleteAuthentication(webauthn.CompleteCredentialAuthenticationView):
    """A passkey finishes signing in, or, for someone already verified, is the step-up check
    for the action whose page they have open (see stepup.offer)."""

    def post(self, *args, **kwargs):
        already_verified = self.request.user.is_authenticated and self.request.user.is_verified()
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
