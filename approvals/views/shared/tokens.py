"""Making an API token from a confirmed form, the same way on both sites."""

from django.core.exceptions import ValidationError

from approvals.api import tokens
from approvals.errors import NotPermitted


def create_token(request, confirmation, tenant=None):
    """(token, raw secret) when made; None when a refusal landed on the form instead."""
    made = []
    data = confirmation.form.cleaned_data

    def run():
        try:
            made.append(tokens.create_token(owner=request.user, tenant=tenant, name=data["name"],
                                            purpose=data["purpose"], days=data["days"]))
        except NotPermitted as refused:
            raise ValidationError({"purpose": refused.message}) from None

    return made[0] if confirmation.apply(run) else None
