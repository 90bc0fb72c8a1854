"""Changes to a person's second factors, each written with its audit event in one transaction.

A device change and the event that records it commit together or not at all: the audit never
misses a change, and never claims one that did not happen. The person's row is locked first, so
two changes for one person (two tabs, a double click) happen one after the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from approvals.actions import Action
from lockbox_portal.security import mfa
from lockbox_portal.security.events import record_account_event

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_otp_webauthn.models import WebAuthnCredential


def _lock(user: User) -> None:
    get_user_model().objects.select_for_update().get(pk=user.pk)


def enrol_totp(user: User, device: TOTPDevice) -> list[str]:
    """Make `device` the person's authenticator app, replacing any earlier one.

    The first app comes with ten backup codes (and so does a new app for someone with none
    left); returns them to show once, or [] when the old ones stay.
    """
    with transaction.atomic():
        _lock(user)
        first_time = mfa.totp_device(user) is None
        mfa.confirm_totp(user, device)
        codes = mfa.new_backup_codes(user) if first_time or not mfa.backup_codes_left(user) \
            else []
        record_account_event(user, Action.ACCOUNT_MFA_ENROLLED if first_time
                             else Action.ACCOUNT_MFA_REPLACED, {"device": "authenticator app"})
    return codes


def renew_backup_codes(user: User) -> list[str]:
    """Replace every backup code with ten new ones; returns them (shown once)."""
    with transaction.atomic():
        _lock(user)
        codes = mfa.new_backup_codes(user)
        record_account_event(user, Action.ACCOUNT_BACKUP_CODES_RENEWED)
    return codes


def remove_passkey(user: User, passkey: WebAuthnCredential) -> str:
    with transaction.atomic():
        _lock(user)
        name = passkey.name
        passkey.delete()
        record_account_event(user, Action.ACCOUNT_PASSKEY_REMOVED, {"name": name})
    return name


def passkey_added(user: User) -> None:
    """The audit half of a passkey registration; the caller holds the transaction that saves
    the passkey (security.passkeys)."""
    _lock(user)
    record_account_event(user, Action.ACCOUNT_PASSKEY_ADDED)
