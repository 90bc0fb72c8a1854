"""What is known of the work in progress, added to every log record.

One contextvar holds a small dict per HTTP request or Celery task; `bind` adds to it where the
code learns something (the guards the tenant, the selectors the access request), and the
`ContextFilter` copies it onto each record. Middleware and task hooks start a fresh one with
`begin` and restore the previous one with `end`, so nothing leaks from one request to the next
on a reused thread.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar, Token
from typing import Any

# The fields, in the order they appear in a JSON line.
FIELDS = ("request_id", "user_id", "tenant", "access_request", "task_id", "task_name")

# None outside a unit of work: what a test, a shell or a command's loop binds there would
# otherwise stay on the thread and name the wrong request in later lines.
_context: ContextVar[dict[str, Any] | None] = ContextVar("lockbox_log_context", default=None)

# A request id a client or proxy may choose: short, and nothing that could forge a log line.
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def request_id_from(header: str | None) -> str:
    """The incoming X-Request-ID when it is a sane token, else a new random one."""
    if header and _SANE_ID.fullmatch(header):
        return header
    return str(uuid.uuid4())


def begin(**fields: Any) -> Token[dict[str, Any] | None]:
    """Start a fresh context (a request, a task) holding only `fields`."""
    return _context.set({k: v for k, v in fields.items() if v is not None})


def end(token: Token[dict[str, Any] | None]) -> None:
    _context.reset(token)


def bind(**fields: Any) -> None:
    """Add what just became known to the current context (None values are skipped); outside
    a request or task, nothing."""
    now = _context.get()
    known = {k: v for k, v in fields.items() if v is not None}
    if known and now is not None:
        _context.set({**now, **known})


def current() -> dict[str, Any]:
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    """Copies the current context onto the record (never overwriting what the record says)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
