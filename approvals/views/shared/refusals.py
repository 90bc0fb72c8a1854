"""What to tell a person whose action a service refused."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from approvals.errors import TransitionError


def refusal_message(refused: TransitionError | ValidationError) -> str:
    """The message of a domain refusal (TransitionError) or of a ValidationError."""
    message = getattr(refused, "message", None)
    if message:
        return str(message)
    assert isinstance(refused, ValidationError)
    return refused.messages[0]
