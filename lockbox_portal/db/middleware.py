"""Read your writes: a person's lag-tolerant pages never show less than they themselves did.

After every request that may have changed something (any method but GET, HEAD, OPTIONS, TRACE)
by a signed-in person, the primary's WAL position is kept in their session: every write the view
made has committed by then (views commit their own transactions; none spans the response). On
their next requests, reads that may lag use the replica only once it has replayed past that
position (lockbox_portal.db.replica). One place covers decisions, settings changes and
everything else a person does through the pages; API clients have no session, and their feed
reads follow the lag bound alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponseBase

from lockbox_portal.db import replica

log = logging.getLogger(__name__)

SESSION_KEY = "lockbox_wal_position"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class ReadYourWritesMiddleware:
    """After the session and authentication middleware, so both are there."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not replica.replica_configured():
            return self.get_response(request)
        session = getattr(request, "session", None)
        position = session.get(SESSION_KEY) if session is not None else None
        with replica.reads_after(position):
            response = self.get_response(request)
        user = getattr(request, "user", None)
        if (request.method not in SAFE_METHODS and session is not None and user is not None
                and user.is_authenticated):
            try:
                session[SESSION_KEY] = replica.primary_position()
            except DatabaseError:
                log.warning("The primary's WAL position could not be read after %s %s.",
                            request.method, request.path, exc_info=True)
        return response
