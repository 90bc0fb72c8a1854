"""The Celery app, and the entry point of `celery -A lockbox_portal worker` and `... beat`.

Like wsgi.py, this entry point serves production unless DJANGO_SETTINGS_MODULE says otherwise:
a worker started as the README says must never run with the local settings (DEBUG, console
e-mail, webhooks into private networks). Django processes load this module from
LockboxPortalConfig.ready(), after their own entry point chose their settings, so there the
default below changes nothing.
"""

import os

from celery import Celery, signals

from lockbox_portal import metrics_listener

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lockbox_portal.settings.production")

app = Celery("lockbox_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Prometheus: a worker's main process (or beat) serves what it and its pool's children counted,
# on LOCKBOX_METRICS_ADDR:LOCKBOX_METRICS_PORT (lockbox_portal.metrics_listener); unset: none.
@signals.worker_init.connect
def _worker_starts(**kwargs: object) -> None:
    metrics_listener.start_group()


@signals.worker_ready.connect
def _worker_ready(**kwargs: object) -> None:
    metrics_listener.serve()


@signals.worker_process_shutdown.connect
def _pool_child_exits(pid: int | None = None, **kwargs: object) -> None:
    metrics_listener.process_exited(pid or os.getpid())


@signals.beat_init.connect
def _beat_starts(**kwargs: object) -> None:
    metrics_listener.start_group()
    metrics_listener.serve()
