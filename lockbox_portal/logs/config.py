"""The LOGGING dictionary for Django and Celery, and gunicorn's `logconfig_dict`.

`json`: one object per line, `{"time": "2026-03-02T09:00:00.123Z", "level": "INFO",
"logger": "lockbox.access", "message": "...", "request_id": ..., ...}`, times in UTC. `text`: one
readable line, the same fields appended as `key=value`. Both go to stderr through the same two
filters: the context (who, which tenant, which request) and the redaction.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from lockbox_portal.logs.context import FIELDS

FORMATS = ("json", "text")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Extras never written: Django's HttpRequest object (its repr holds the query string) and
# Celery's copy of the task's arguments (the message already names the task).
_DROPPED = ("request", "data", "server_time", "color_message")


def utc_time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(_JsonFormatter):
    """time, level, logger, message first; then the context fields and any other extras."""

    def __init__(self) -> None:
        from pythonjsonlogger.core import RESERVED_ATTRS

        super().__init__(reserved_attrs=[*RESERVED_ATTRS, *_DROPPED, "taskName"],
                         json_ensure_ascii=False)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        log_data["time"] = utc_time(record)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        for name in FIELDS:
            if getattr(record, name, None) is not None:
                log_data[name] = getattr(record, name)
        super().add_fields(log_data, record, message_dict)


class TextFormatter(logging.Formatter):
    """`2026-03-02T09:00:00.123Z INFO lockbox.access GET /x 200 3ms request_id=... user_id=3`"""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        fields = " ".join(f"{name}={getattr(record, name)}" for name in FIELDS
                          if getattr(record, name, None) is not None)
        line = f"{utc_time(record)} {record.levelname} {record.name} {record.message}"
        if fields:
            line += " " + fields
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


FORMATTERS: dict[str, dict[str, Any]] = {
    "json": {"()": "lockbox_portal.logs.config.JsonFormatter"},
    "text": {"()": "lockbox_portal.logs.config.TextFormatter"},
}
FILTERS: dict[str, dict[str, Any]] = {
    "context": {"()": "lockbox_portal.logs.context.ContextFilter"},
    "redact": {"()": "lockbox_portal.logs.redact.RedactFilter"},
}


def _handler(fmt: str) -> dict[str, Any]:
    # The context first, so the redaction sees the whole record.
    return {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": fmt,
            "filters": ["context", "redact"]}


def logging_config(fmt: str, level: str) -> dict[str, Any]:
    """Django's LOGGING: everything through one stderr handler in `fmt`, at `level`, and the
    access log (logger `lockbox.access`) at INFO whatever the level."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}, got {fmt!r}")
    # Python's warnings (a library's UserWarning at start-up) become records of `py.warnings`,
    # so they too are one line in the format, not raw text on stderr.
    logging.captureWarnings(True)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {fmt: FORMATTERS[fmt]},
        "filters": FILTERS,
        "handlers": {"console": _handler(fmt)},
        "root": {"handlers": ["console"], "level": level},
        # Django's own handlers (console with DEBUG, mail to ADMINS) stay; what reaches the root
        # is written once, by ours.
        "loggers": {},
    }


def gunicorn_config(fmt: str, level: str) -> dict[str, Any]:
    """gunicorn's `logconfig_dict` (merged over its defaults): its error log through the same
    handler, format and filters as the app's. Its access log is left to gunicorn.GunicornLogger
    (only to an --access-logfile)."""
    config = logging_config(fmt, level)
    config["loggers"] = {
        "gunicorn.error": {"level": level, "handlers": ["console"], "propagate": False},
    }
    return config

