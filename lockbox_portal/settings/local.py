"""`make run`: one process, SQLite, tasks in-process, e-mail to the console. Never deploy this."""

from lockbox_portal.env import env_bool, env_list, env_str

from .base import *  # noqa: F403
from .base import BASE_DIR, INSTALLED_APPS, database_from_env

DEBUG = True
# The demo (`manage.py seed_demo`, `demo_code`) and the benchmark seed; never in production.
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]
# A key that is only acceptable because DEBUG is on; production.py refuses to start without one.
SECRET_KEY = env_str("SECRET_KEY", default="django-insecure-local-development-only-do-not-deploy")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
DATABASES = {"default": database_from_env(f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=True)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# Webhooks to a receiver on this machine are fine while developing.
LOCKBOX_WEBHOOK_ALLOW_PRIVATE = env_bool("LOCKBOX_WEBHOOK_ALLOW_PRIVATE", default=True)
# A signing key of this checkout's own, made on first use (see audit.signing).
LOCKBOX_SIGNING_KEY_FILE = env_str("LOCKBOX_SIGNING_KEY_FILE",
                                   default=str(BASE_DIR / ".lockbox-signing-key.pem"))
# In-process tasks would log a line each; the console is for the server and the e-mails.
LOGGING["loggers"] = {"celery.app.trace": {"level": "WARNING"},  # noqa: F405
                      "kombu.connection": {"level": "ERROR"}}
LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK = env_bool("LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK", default=True)
