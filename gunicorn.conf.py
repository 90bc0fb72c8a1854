"""gunicorn's own settings, read by `gunicorn lockbox_portal.wsgi` started from this directory.

Keep each setting small and say why; everything Lockbox itself needs comes from the environment
(README, Configuration).
"""

import gunicorn

# gunicorn names itself in a `Server: gunicorn` header on every answer, which tells a scanner
# what to try; it has no setting for that. The header is gunicorn.SERVER, which
# gunicorn.http.wsgi copies when first imported: after this file is read, before any worker
# answers (tests/test_headers.py checks it against a real gunicorn).
gunicorn.SERVER = "lockbox"
