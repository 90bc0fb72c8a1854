"""gunicorn's own settings, read by `gunicorn lockbox_portal.wsgi` started from this directory.

Keep each setting small and say why; everything Lockbox itself needs comes from the environment
(README, Configuration), and command-line flags still win over this file.
"""

import os

import gunicorn

# A worker that has not answered for this long is killed and replaced. Lockbox bounds every
# database call (DATABASE_STATEMENT_TIMEOUT_MS and friends), so this is the last resort, not
# the way a slow dependency is handled.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# gunicorn 27 listens on a control socket at one fixed path per user by default; several
# servers on one host (two sites, a test's own) would fight over it, and nothing uses it.
control_socket_disable = True

# gunicorn names itself in a `Server: gunicorn` header on every answer, which tells a scanner
# what to try; it has no setting for that. The header is gunicorn.SERVER, which
# gunicorn.http.wsgi copies when first imported: after this file is read, before any worker
# answers (tests/security/test_headers.py checks it against a real gunicorn).
gunicorn.SERVER = "lockbox"


# Prometheus (README, Configuration): the master serves what every worker counted, on its own
# listener (LOCKBOX_METRICS_ADDR:LOCKBOX_METRICS_PORT), never on the site's. Unset port: none.
def on_starting(server):
    from lockbox_portal import metrics_listener

    metrics_listener.start_group()


def when_ready(server):
    from lockbox_portal import metrics_listener

    metrics_listener.serve()


def child_exit(server, worker):
    from lockbox_portal import metrics_listener

    metrics_listener.process_exited(worker.pid)
