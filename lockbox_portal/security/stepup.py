"""Step-up: a fresh second-factor check, bound to one action.

Deciding, revoking and changing settings each name an action key (for example
"approve:<request id>" or "settings:contoso:policy"). A check made for one key is good for that
key alone, and only for LOCKBOX_STEP_UP_MAX_AGE (5 minutes).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from lockbox_portal import clock
from lockbox_portal.security import mfa

SESSION_KEY = "lockbox_step_up"
OFFERED_KEY = "lockbox_step_up_offered"


def is_fresh(request: HttpRequest, action: str, *, now: datetime | None = None) -> bool:
    now = now or clock.now()
    checked_at = request.session.get(SESSION_KEY, {}).get(action)
    if checked_at is None:
        return False
    age = now.timestamp() - checked_at
    return 0 <= age <= settings.LOCKBOX_STEP_UP_MAX_AGE.total_seconds()


def record(request: HttpRequest, action: str, *, now: datetime | None = None) -> None:
    now = now or clock.now()
    checks = {
        key: at for key, at in request.session.get(SESSION_KEY, {}).items()
        if now.timestamp() - at <= settings.LOCKBOX_STEP_UP_MAX_AGE.total_seconds()
    }
    checks[action] = now.timestamp()
    request.session[SESSION_KEY] = checks
    # A new session key after every elevation, so a key seen before it is worth nothing after.
    request.session.cycle_key()


def confirm(request: HttpRequest, action: str, code: str | None, *,
            now: datetime | None = None) -> str:
    """Return "" when the action may go ahead, or the message to show when it may not."""
    if is_fresh(request, action, now=now):
        return ""
    if not mfa.normalise_code(code):
        return ("Enter a code from your authenticator app (or a backup code) to confirm it is "
                "you. Each decision needs a check from the last 5 minutes.")
    device, problem = mfa.verify_code(mfa.signed_in(request), code)
    if device is None:
        return problem
    record(request, action, now=now)
    return ""


def offer(request: HttpRequest, action: str) -> None:
    """Note the action whose confirmation page is open, so that a passkey check made from that
    page (which cannot carry the action itself) counts for it and nothing else."""
    request.session[OFFERED_KEY] = action


def record_offered(request: HttpRequest, *, now: datetime | None = None) -> None:
    action = request.session.pop(OFFERED_KEY, None)
    if action:
        record(request, action, now=now)


class StepUpForm(Protocol):
    """A form built with security.forms.StepUpMixin."""

    needs_code: bool
    fields: dict[str, Any]
    cleaned_data: dict[str, Any]

    @property
    def errors(self) -> Any: ...

    def is_valid(self) -> bool: ...

    def add_error(self, field: str | None, error: Any) -> None: ...


class Confirmation:
    """A form whose action needs a fresh step-up check bound to `action`: one way for every page.

    1. On a POST the code is checked first, even if the rest of the form needs fixing, so a
       person who typed a good code is not asked for another one.
    2. The form gets the code field when the action has no fresh check (`needed=False`: never).
    3. When the code field is shown, the passkey check made from this page counts for `action`.
    4. `passed()` says whether to go ahead; a failed check becomes the form's "code" error.
    5. `apply()` or `attempt()` runs the action; `render()` answers 400 while the form has errors.
    """

    def __init__(self, request: HttpRequest, action: str,
                 form_class: Callable[..., StepUpForm], /, *, needed: bool = True,
                 now: datetime | None = None, **form_kwargs: Any) -> None:
        self.request = request
        self.posted = request.method == "POST"
        self.problem = (confirm(request, action, request.POST.get("code"), now=now)
                        if self.posted and needed else "")
        self.form = form_class(request.POST if self.posted else None, **form_kwargs,
                               needs_code=needed and (bool(self.problem)
                                                      or not is_fresh(request, action, now=now)))
        if self.form.needs_code:
            offer(request, action)

    def passed(self) -> bool:
        """True when this is a POST, the form is valid and the step-up check passed."""
        if not self.posted:
            return False
        valid = self.form.is_valid()
        if self.problem:
            self.form.add_error("code", self.problem)
            return False
        return valid

    def apply(self, call: Callable[[], object]) -> bool:
        """Run the action; its ValidationError lands on the form. True when it succeeded."""
        try:
            call()
        except ValidationError as invalid:
            errors = invalid.message_dict if hasattr(invalid, "error_dict") else {
                None: invalid.messages}
            for field, problems in errors.items():
                for problem in problems:
                    self.form.add_error(field if field in self.form.fields else None, problem)
            return False
        return True

    def attempt(self, call: Callable[[], object], *, refusal: type[Exception],
                done: str) -> bool:
        """Run the action for a page that redirects afterwards: a `refusal` (a domain error with
        a `message` for the person) and success are both said as a message."""
        try:
            call()
        except refusal as refused:
            messages.error(self.request, getattr(refused, "message", str(refused)))
            return False
        messages.success(self.request, done)
        return True

    def refused(self) -> str:
        """Why a confirmation posted from another page did not pass, for a message."""
        return self.form.errors.get("code", ["Confirm with your second factor."])[0]

    def render(self, template: str, context: dict[str, Any]) -> HttpResponse:
        return render(self.request, template, context,
                      status=400 if self.form.errors else 200)
