"""Django's session middleware, except that a session it cannot save never turns an answer into
an error.

The session is saved after the view returned, so after any change the view made has committed.
If the database goes away in between, Django answers 500 (or 400, SessionInterrupted) and the
person is told their approval failed when it did not. The answer stands instead: whatever was
only in the session (a step-up's freshness, a notice) is lost, which asks the person for a code
again at worst; a session that another tab signed out stays signed out, as Django intends.
"""

import logging

from django.contrib.sessions import middleware
from django.contrib.sessions.exceptions import SessionInterrupted
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)


class SessionMiddleware(middleware.SessionMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        try:
            return super().process_response(request, response)
        except (SessionInterrupted, DatabaseError):
            log.warning("The session of %s could not be saved; the answer is sent without it.",
                        request.path, exc_info=True)
            return response
