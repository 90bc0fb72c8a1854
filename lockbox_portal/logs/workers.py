"""Celery's side: the task's id and name on every record it logs, the request id of the HTTP
request that queued it (sent as a message header), and Django's LOGGING in the worker instead
of Celery's own format.

`connect()` is called once by lockbox_portal/celery.py.
"""

from __future__ import annotations

import logging.config
from contextvars import Token
from typing import Any

from celery import signals

from lockbox_portal.logs import context

HEADER = "lockbox_request_id"

_tokens: dict[str, Token[dict[str, Any] | None]] = {}


def _use_django_logging(**_: Any) -> None:
    """Connected to `setup_logging`: the worker and beat log exactly as the web processes do
    (LOCKBOX_LOG_FORMAT, LOCKBOX_LOG_LEVEL); Celery's --loglevel is then not used."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def _add_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = context.current().get("request_id")
    if request_id is not None and headers is not None:
        headers[HEADER] = request_id


def _task_started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id is None or task is None:
        return
    # Run eagerly (make run, tests) the task is inside the request that queued it: keep it.
    request_id = task.request.get(HEADER) or context.current().get("request_id")
    _tokens[task_id] = context.begin(**{**context.current(), "request_id": request_id,
                                        "task_id": task_id, "task_name": task.name})


def _task_ended(task_id: str | None = None, **_: Any) -> None:
    token = _tokens.pop(task_id or "", None)
    if token is not None:
        context.end(token)


def connect() -> None:
    signals.setup_logging.connect(_use_django_logging, weak=False)
    signals.before_task_publish.connect(_add_request_id, weak=False)
    signals.task_prerun.connect(_task_started, weak=False)
    signals.task_postrun.connect(_task_ended, weak=False)
