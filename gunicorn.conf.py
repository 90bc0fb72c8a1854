"""gunicorn's settings for `gunicorn lockbox_portal.wsgi`, read from the directory it starts in.

Values an operator tunes come from the environment (README, Configuration); command-line flags
still win over this file.
"""

import os

# A worker that has not answered for this long is killed and replaced. Lockbox bounds every
# database call (DATABASE_STATEMENT_TIMEOUT_MS and friends), so this is the last resort, not
# the way a slow dependency is handled.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# gunicorn 27 listens on a control socket at one fixed path per user by default; several
# servers on one host (two sites, a test's own) would fight over it, and nothing uses it.
control_socket_disable = True
