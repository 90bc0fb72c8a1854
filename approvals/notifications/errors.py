"""What a delivery attempt reports when it did not get through."""

from __future__ import annotations


class DeliveryFailed(Exception):
    """A send that did not get through. `permanent` failures are not retried (the webhook was
    deleted, its address is no longer allowed); the others wait and try again."""

    def __init__(self, detail: str, *, status_code: int | None = None,
                 permanent: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code
        self.permanent = permanent
