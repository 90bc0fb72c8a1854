"""Domain errors. Each carries a message written for the person who tried the action."""


class TransitionError(Exception):
    """A move the lifecycle refuses. Nothing was written."""

    code = "refused"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IllegalTransition(TransitionError):
    """The request's state (or its time window) does not allow this move."""

    code = "illegal_transition"


class NotPermitted(TransitionError):
    """This person may not make this move on this request."""

    code = "not_permitted"


class AlreadyDecided(TransitionError):
    """This person has already recorded a decision on this request."""

    code = "already_decided"
