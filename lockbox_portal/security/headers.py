"""Response headers that Django's SecurityMiddleware and the CSP do not set.

- Nothing a signed-in person sees, and no API answer, may be kept by a browser or a proxy: the
  page that shows a new token or backup codes once, dashboards, audit exports. A shared computer's
  back button or disk cache must not show them to the next person.
- A Permissions-Policy that switches off every powerful browser feature Lockbox never uses, and
  keeps the two that passkeys need, for this origin only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import add_never_cache_headers

View = TypeVar("View", bound=Callable[..., Any])

PERMISSIONS_POLICY = ", ".join([
    *(f"{feature}=()" for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media",
        "fullscreen", "geolocation", "gyroscope", "hid", "magnetometer", "microphone", "midi",
        "payment", "picture-in-picture", "screen-wake-lock", "serial", "usb",
        "xr-spatial-tracking")),
    "publickey-credentials-create=(self)",
    "publickey-credentials-get=(self)",
])


class _ApiView(Protocol):
    lockbox_api: bool


def mark_api_view(view: View) -> View:
    """Mark a view as an API view: it answers bearer tokens, not sessions, so its answers are
    never cached and the second-factor middleware leaves it to the token check."""
    cast(_ApiView, view).lockbox_api = True
    return view


class ResponseHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        # Checked after the view: signing in makes the answer to that very request private.
        if getattr(request, "lockbox_api", False) or request.user.is_authenticated:
            add_never_cache_headers(response)
        return response

    def process_view(self, request: HttpRequest, view_func: Callable[..., Any],
                     view_args: tuple[Any, ...], view_kwargs: dict[str, Any]) -> None:
        # API views (approvals.api.http, health) mark themselves with mark_api_view; they answer
        # bearer tokens, so no session tells that their answers are private.
        cast(_ApiView, request).lockbox_api = getattr(view_func, "lockbox_api", False)
