"""Signing in and second factors, shared by both sites.

Only the allauth pages Lockbox uses are routed: no self sign-up, no e-mail address management.
"""

from allauth.account import views as account
from allauth.usersessions import views as usersessions
from django.urls import include, path, re_path

from lockbox_portal.security import passkeys, sso
from lockbox_portal.security import views as security

urlpatterns = [
    path("accounts/login/", account.login, name="account_login"),
    path("accounts/logout/", account.logout, name="account_logout"),
    path("accounts/inactive/", account.account_inactive, name="account_inactive"),
    path("accounts/signup/", account.signup, name="account_signup"),
    path("accounts/password/change/", account.password_change, name="account_change_password"),
    path("accounts/password/reset/", account.password_reset, name="account_reset_password"),
    path("accounts/password/reset/done/", account.password_reset_done,
         name="account_reset_password_done"),
    re_path(r"^accounts/password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$",
            account.password_reset_from_key, name="account_reset_password_from_key"),
    path("accounts/password/reset/key/done/", account.password_reset_from_key_done,
         name="account_reset_password_from_key_done"),
    # Single sign-on through a tenant's identity provider (lockbox_portal.security.sso): our own
    # start page and allauth's callback (under the name allauth reverses), never allauth's
    # provider login view.
    path("accounts/sso/", sso.start, name="sso_start"),
    path("accounts/oidc/<str:provider_id>/login/callback/", sso.callback,
         name="openid_connect_callback"),
    path("accounts/sso/cancelled/", sso.login_cancelled, name="socialaccount_login_cancelled"),
    path("accounts/sessions/", usersessions.list_usersessions, name="usersessions_list"),
    path("mfa/setup/", security.setup, name="mfa_setup"),
    path("mfa/verify/", security.verify, name="mfa_verify"),
    path("account/security/", security.security, name="account_security"),
    path("account/backup-codes/", security.backup_codes, name="mfa_backup_codes"),
    path("account/passkeys/<int:pk>/remove/", security.remove_passkey, name="mfa_remove_passkey"),
    path("webauthn/", include((passkeys.urlpatterns, "otp_webauthn"))),
]
