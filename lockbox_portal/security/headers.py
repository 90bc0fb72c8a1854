"""Response headers that Django's SecurityMiddleware and the CSP do not set.

- Nothing a signed-in person sees, and no API answer, may be kept by a browser or a proxy: the
  page that shows a new token or backup codes once, dashboards, audit exports. A shared computer's
  back button or disk cache must not show them to the next person.
- A Permissions-Policy that switches off every powerful browser feature Lockbox never uses, and
  keeps the two that passkeys need, for this origin only.
"""

from django.utils.cache import add_never_cache_headers

PERMISSIONS_POLICY = ", ".join([
    *(f"{feature}=()" for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media",
        "fullscreen", "geolocation", "gyroscope", "hid", "magnetometer", "microphone", "midi",
        "payment", "picture-in-picture", "screen-wake-lock", "serial", "usb",
        "xr-spatial-tracking")),
    "publickey-credentials-create=(self)",
    "publickey-credentials-get=(self)",
])


class ResponseHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        # Checked after the view: signing in makes the answer to that very request private.
        if getattr(request, "lockbox_api", False) or request.user.is_authenticated:
            add_never_cache_headers(response)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # API views (approvals.api.http, health) mark themselves; they answer bearer tokens, so
        # no session tells that their answers are private.
        request.lockbox_api = getattr(view_func, "lockbox_api", False)
