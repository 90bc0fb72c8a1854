"""Second-factor pages: set up, verify, backup codes, the security overview, CSRF failures."""

from __future__ import annotations

import base64
from io import BytesIO
from typing import TYPE_CHECKING

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from lockbox_portal.security import factors, mfa, stepup
from lockbox_portal.security.forms import CodeForm
from lockbox_portal.security.redirects import safe_next

if TYPE_CHECKING:
    pass



def _qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=12)
    buffer = BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _grouped(secret_b32: str) -> str:
    return " ".join(secret_b32[i:i + 4] for i in range(0, len(secret_b32), 4))


def setup(request: HttpRequest) -> HttpResponse:
    """Set up (or replace) the authenticator app.

    First time: scan, enter a code, receive ten backup codes. Replacing one needs a step-up with
    the current factor first, so a stolen session cannot swap in someone else's phone.
    """
    user = mfa.signed_in(request)
    current = mfa.totp_device(user)
    if not mfa.is_verified(user) and mfa.has_second_factor(user):
        return redirect(f"{reverse('mfa_verify')}?next={request.get_full_path()}")
    if request.method == "POST" and request.POST.get("step") == "replace":
        problem = stepup.confirm(request, "mfa:replace", request.POST.get("code"))
        if problem:
            messages.error(request, problem)
            return redirect("mfa_setup")
        mfa.start_totp_enrolment(user)
        return redirect("mfa_setup")

    pending = mfa.pending_totp_device(user)
    if current and not pending:
        return render(request, "security/replace.html", {"device": current})
    pending = pending or mfa.start_totp_enrolment(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        problem = mfa.confirm_new_device_code(pending, form.cleaned_data["code"])
        if not problem:
            codes = factors.enrol_totp(user, pending)
            otp_login(request, pending)
            request.session.cycle_key()
            if codes:
                return render(request, "security/backup_codes.html",
                              {"codes": codes, "next": safe_next(request)})
            messages.success(request, "Your new authenticator app is set up.")
            return redirect("account_security")
        form.add_error("code", problem)
    return render(request, "security/setup.html", {
        "form": form,
        "qr": _qr_data_uri(pending.config_url),
        "secret": _grouped(base64.b32encode(pending.bin_key).decode()),
        "replacing": current is not None,
        "next": safe_next(request, ""),
    })


def verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in."""
    user = mfa.signed_in(request)
    if mfa.is_verified(user):
        return redirect(safe_next(request))
    if not mfa.has_second_factor(user):
        return redirect(f"{reverse('mfa_setup')}?next={safe_next(request)}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device, problem = mfa.verify_code(user, form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            request.session.cycle_key()
            left = mfa.backup_codes_left(user)
            if device.__class__.__name__ == "StaticDevice" and left < 3:
                messages.warning(request, f"You have {left} backup code(s) left. Make new ones "
                                          "on the Security page.")
            return redirect(safe_next(request))
        form.add_error("code", problem)
    return render(request, "security/verify.html", {
        "form": form,
        "has_passkeys": mfa.passkeys(user).exists(),
        "next": safe_next(request),
    })


def security(request: HttpRequest) -> HttpResponse:
    user = mfa.signed_in(request)
    return render(request, "security/overview.html", {
        "totp": mfa.totp_device(user),
        "backup_codes_left": mfa.backup_codes_left(user),
        "passkeys": mfa.passkeys(user),
    })


@require_POST
def backup_codes(request: HttpRequest) -> HttpResponse:
    problem = stepup.confirm(request, "mfa:backup-codes", request.POST.get("code"))
    if problem:
        messages.error(request, problem)
        return redirect("account_security")
    codes = factors.renew_backup_codes(mfa.signed_in(request))
    return render(request, "security/backup_codes.html",
                  {"codes": codes, "next": reverse("account_security")})


@require_POST
def remove_passkey(request: HttpRequest, pk: int) -> HttpResponse:
    passkey = get_object_or_404(mfa.passkeys(mfa.signed_in(request)), pk=pk)
    problem = stepup.confirm(request, f"mfa:remove-passkey:{pk}", request.POST.get("code"))
    if problem:
        messages.error(request, problem)
        return redirect("account_security")
    name = factors.remove_passkey(mfa.signed_in(request), passkey)
    messages.success(request, f"The passkey “{name}” was removed.")
    return redirect("account_security")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "security/csrf_failure.html", status=403)
