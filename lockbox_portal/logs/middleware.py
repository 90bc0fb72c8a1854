"""The request id, the signed-in user, and one access-log line per request.

First in MIDDLEWARE, so its context covers everything below it: Django's own `django.request`
and `django.security` records, the views, the tasks run in-process. The request id is the
client's (or the proxy's) `X-Request-ID` when it is a sane token, else a new one; either way it
is sent back in the answer's `X-Request-ID`.

The access line is logger `lockbox.access` at INFO: method, the route's name (or the path, never
the query string), status, duration in ms, with the request id, user id, tenant and access
request as fields. Never a header, cookie or body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, cast

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.log import log_response

from lockbox_portal.logs import context

access_log = logging.getLogger("lockbox.access")

GetResponse = Callable[[HttpRequest], HttpResponseBase]


def _user_id(request: HttpRequest) -> int | None:
    # API views authenticate a bearer token and bind its owner themselves; asking them for
    # request.user would load a session nobody sent.
    user = getattr(request, "user", None)
    if user is None or getattr(request, "lockbox_api", False):
        return None
    return user.pk if user.is_authenticated else None


class RequestLogMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = context.request_id_from(request.headers.get("X-Request-ID"))
        token = context.begin(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            context.bind(user_id=_user_id(request))  # signing in or out changes who it is
            if response.status_code >= 400:
                # Django logs an error answer a view returned ("Unauthorized: /api/...") after
                # the middleware, where the context is gone; this is that very line, logged
                # here (log_response marks the answer, so Django does not log it twice).
                log_response("%s: %s", response.reason_phrase, request.path,
                             response=cast(HttpResponse, response), request=request)
            match = request.resolver_match
            route = match.view_name if match is not None and match.url_name else request.path
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            access_log.info("%s %s %s %sms", request.method, route, response.status_code,
                            elapsed, extra={"method": request.method, "route": route,
                                            "status": response.status_code,
                                            "duration_ms": elapsed})
            response["X-Request-ID"] = request_id
            return response
        finally:
            context.end(token)

    def process_view(self, request: HttpRequest, view_func: Callable[..., Any],
                     view_args: tuple[Any, ...], view_kwargs: dict[str, Any]) -> None:
        if not getattr(view_func, "lockbox_api", False):
            # Pages are behind the session: by now the middleware below has loaded it.
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                context.bind(user_id=user.pk)
