"""Nothing secret reaches a log line: the last filter before a record is formatted.

It rewrites the message (with its arguments already merged), the exception text and any extra
string field, replacing what looks like:

- a Lockbox API token (`lbx_…`), the value after `Bearer`/`Basic`, and `name=value` or
  `name: value` pairs whose name says secret (session, csrf, cookie, secret, password, token,
  key, code, otp, signature, authorization);
- a query string after a URL or a path (they carry invitation and reset keys, webhook secrets);
- the key of a password-reset or invitation link (`/key/<uid>-<key>/`);
- a Django session id (32 lowercase letters and digits);
- a six-digit one-time code, and a backup code (eight of a-z2-7 with a digit, django-otp's
  shape; one with no digit is caught only next to a word such as "code").

It is a net under the rule that nothing logs a secret on purpose; it cannot know every shape of
secret, so code must still never log one.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from lockbox_portal.logs.context import FIELDS

REDACTED = "[redacted]"

_NAMES = (r"(?:[\w-]*(?:session|csrf)[\w-]*|cookie|set-cookie|secret|client_secret|password"
          r"|passwd|token|access_token|refresh_token|api_key|key|code|otp|sig|signature"
          r"|authorization)")

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"lbx_[A-Za-z0-9_\-]*"), "lbx_" + REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s,;\"']+"), r"\1\2" + REDACTED),
    (re.compile(r"(?i)\b(" + _NAMES + r")(\s*[=:]\s*)(['\"]?)(?!\[redacted\])[^\s&;,'\"]+"),
     r"\1\2\3" + REDACTED),
    (re.compile(r"((?:https?://[^\s?#'\"<>]*|(?<![\w])/[^\s?#'\"<>]*)\?)[^\s#'\"<>]+"),
     r"\1" + REDACTED),
    (re.compile(r"(/key/)[^/\s?#'\"<>]+"), r"\1" + REDACTED),
    (re.compile(r"(?<![A-Za-z0-9])[a-z0-9]{32}(?![A-Za-z0-9])"), REDACTED),
    (re.compile(r"(?<![\w.])\d{6}(?!\w|\.\d)"), REDACTED),
    (re.compile(r"(?<![\w-])(?=[a-z2-7]*[2-7])[a-z2-7]{8}(?![\w-])"), REDACTED),
    (re.compile(r"(?i)\b((?:backup\s+)?codes?\W{1,3})[a-z2-7]{8}(?![\w-])"), r"\1" + REDACTED),
]

# A LogRecord's own attributes; anything else on a record is an `extra` to redact.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message",
                                                                             "asctime"}


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


class RedactFilter(logging.Filter):
    """Rewrites the record in place; later handlers of the same record see the redacted one."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):
            record.msg = _redact_value(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # arguments that do not fit the message: keep both, redacted
                message = f"{record.msg} {record.args!r}"
            record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and name not in FIELDS:
                setattr(record, name, _redact_value(value))
        return True
