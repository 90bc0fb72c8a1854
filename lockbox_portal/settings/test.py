"""pytest: SQLite by default; PostgreSQL when DATABASE_URL is set (as .ci/run does)."""

from lockbox_portal.env import env_bool, env_int, env_str

from .base import *  # noqa: F403
from .base import BASE_DIR, INSTALLED_APPS, database_from_env, with_replica

DEBUG = False
# The demo and the benchmark seed are tested too; production settings do not install them.
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]
SECRET_KEY = "test-only-key-not-secret-" + "x" * 40
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
DATABASES = with_replica({"default": database_from_env(f"sqlite:///{BASE_DIR / 'test.sqlite3'}")})
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A worker process started by a test sets these to reach the test's database and mailbox.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", default=str(BASE_DIR / "test-mail"))
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", default="memory://")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# A fixed key for tests only (base64 of 32 bytes); tests that rotate keys set their own.
LOCKBOX_SIGNING_KEY = env_str("LOCKBOX_SIGNING_KEY",
                              default="dGVzdC1vbmx5LXNpZ25pbmcta2V5LTMyLWJ5dGVzISE=")
# Test events carry fixed past times and are checkpointed only where a test says so; tests of
# the unsigned-events check set the limit themselves.
LOCKBOX_UNSIGNED_LIMIT_SECONDS = env_int("LOCKBOX_UNSIGNED_LIMIT_SECONDS", 0, min_value=0)
# Unit tests read the database on every access check; tests of reuse set it themselves, and
# gunicorn started by a test takes it from the environment.
LOCKBOX_ACCESS_CACHE = env_int("LOCKBOX_ACCESS_CACHE_MS", 0, min_value=0) / 1000
LOGGING["loggers"] = {"celery.app.trace": {"level": "WARNING"},  # noqa: F405
                      "kombu.connection": {"level": "ERROR"}}
LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK = env_bool("LOCKBOX_SSO_ALLOW_HTTP_LOOPBACK", default=True)
