"""Making an API token from a confirmed form, the same way on both sites."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest

from approvals import tokens
from approvals.api.models import ApiToken
from approvals.errors import NotPermitted
from approvals.models import Tenant
from lockbox_portal.security.mfa import signed_in
from lockbox_portal.security.stepup import Confirmation


def create_token(request: HttpRequest, confirmation: Confirmation,
                 tenant: Tenant | None = None) -> tuple[ApiToken, str] | None:
    """(token, raw secret) when made; None when a refusal landed on the form instead."""
    made: list[tuple[ApiToken, str]] = []
    data = confirmation.form.cleaned_data

    def run() -> None:
        try:
            made.append(tokens.create_token(owner=signed_in(request), tenant=tenant,
                                            name=data["name"], purpose=data["purpose"],
                                            days=data["days"]))
        except NotPermitted as refused:
            raise ValidationError({"purpose": refused.message}) from None

    return made[0] if confirmation.apply(run) else None
