"""Lockbox's logs: one JSON object per line in production (plain text in `make run` and the
tests), each carrying what is known of the work it belongs to (request id, user id, tenant,
access request, Celery task), and never a secret.

- `context`: the fields known so far, per HTTP request or Celery task (a contextvar), and the
  filter that adds them to every record;
- `redact`: the filter that removes tokens, codes, keys and query strings from what is logged;
- `config`: the LOGGING dictionary (and gunicorn's) from LOCKBOX_LOG_FORMAT / LOCKBOX_LOG_LEVEL;
- `middleware`: the request id and the one access-log line per request;
- `workers`: the Celery hooks (task id and name, the request id that queued the task).

The platform layer: it imports Django, Celery and python-json-logger, never an app.
"""
