"""What to tell a person whose action a service refused."""


def refusal_message(refused):
    """The message of a domain refusal (TransitionError) or of a ValidationError."""
    return getattr(refused, "message", None) or refused.messages[0]
