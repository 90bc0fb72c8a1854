"""Second factors: which devices a person has, and checking a code against them.

A code of six digits is checked against the authenticator app (TOTP); anything else against the
one-time backup codes. Choosing the device from the code's shape means a wrong code counts
against one device only, as django-otp's throttling intends.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol, cast

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

BACKUP_CODE_COUNT = 10
BACKUP_DEVICE_NAME = "Backup codes"
TOTP_DEVICE_NAME = "Authenticator app"
_TOTP_CODE = re.compile(r"^\d{6}$")

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User
    from django_otp.models import Device
    from django_otp_webauthn.models import WebAuthnCredential



class _VerifiableUser(Protocol):
    def is_verified(self) -> bool: ...


def signed_in(request: HttpRequest) -> User:
    """The signed-in person of a page or form: RequireSecondFactorMiddleware sends anyone else
    to sign in before a view runs."""
    return cast("User", request.user)


def is_verified(user: User | AnonymousUser) -> bool:
    """Whether this request's person passed a second factor in this session: django-otp's
    OTPMiddleware gives request.user an is_verified() that the user model does not declare."""
    return cast(_VerifiableUser, user).is_verified()


def has_second_factor(user: User) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


def totp_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def backup_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def passkeys(user: User) -> QuerySet[WebAuthnCredential]:
    from django_otp_webauthn.models import WebAuthnCredential

    return WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at")


def normalise_code(code: str | None) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def verify_code(user: User, code: str | None) -> tuple[Device | None, str]:
    """Check a code; return (device, "") when it is right, or (None, why) when not.

    The device row is locked while checking, so one code cannot be accepted twice by two
    requests at once; django-otp itself refuses a TOTP code it has already accepted and slows
    down repeated failures.
    """
    code = normalise_code(code)
    if not code:
        return None, "Enter the code from your authenticator app, or a backup code."
    with transaction.atomic():
        device = device_for_code(user, code, for_verify=True)
        if device is None:
            kind = "an authenticator app" if _TOTP_CODE.match(code) else "backup codes"
            return None, f"You have no {kind} set up; use your other second factor."
        problem = _throttled(device)
        if problem:
            return None, problem
        if device.verify_token(code):
            return device, ""
    return None, "That code is not right, or it was already used. Try the next one."


def confirm_new_device_code(device: Device, code: str | None) -> str:
    """Check the first code of a device being set up; "" when right, else why not."""
    problem = _throttled(device)
    if problem:
        return problem
    if device.verify_token(normalise_code(code)):
        return ""
    return ("That code does not match. Check the app shows Lockbox and that your phone's "
            "clock is right, then try the newest code.")


def _throttled(device: Device) -> str:
    allowed, details = device.verify_is_allowed()
    if allowed:
        return ""
    wait = (details or {}).get("locked_until")
    when = f" until {wait:%H:%M:%S} UTC" if wait else " a little"
    return f"Too many wrong codes. Wait{when} and try again."


def device_for_code(user: User, code: str | None, *,
                    for_verify: bool = False) -> Device | None:
    """The one device a code of this shape belongs to: six digits for the app, else backup."""
    model = TOTPDevice if _TOTP_CODE.match(normalise_code(code)) else StaticDevice
    devices = model.objects.filter(user=user, confirmed=True)
    if for_verify:
        devices = devices.select_for_update()
    return devices.first()


def start_totp_enrolment(user: User) -> TOTPDevice:
    """A fresh, unconfirmed authenticator device; it counts once its first code is entered."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)


def pending_totp_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()


@transaction.atomic
def confirm_totp(user: User, device: TOTPDevice) -> None:
    """Make `device` the person's authenticator app, replacing any earlier one."""
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])


@transaction.atomic
def new_backup_codes(user: User) -> list[str]:
    """Replace every backup code with ten new ones and return them (shown once, never again)."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True}
    )
    StaticDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes
