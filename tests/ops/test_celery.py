"""Background work: the beat schedule runs the sweep, and a real worker runs it."""

import threading
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings
from django.utils import timezone

from approvals.models import ProviderRole, State
from lockbox_portal.celery import app
from tests import factories


def test_beat_runs_the_sweep_every_minute():
    entry = settings.CELERY_BEAT_SCHEDULE["lockbox-sweep"]
    assert entry["task"] == "approvals.tasks.sweep"
    assert entry["schedule"] == 60.0
    # What a worker or beat does at start: import every app's tasks module (autodiscovery is
    # lazy, so whether an earlier test imported it decided this test's answer).
    app.loader.import_default_modules()
    assert "approvals.tasks.sweep" in app.tasks
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name


def test_tasks_survive_a_worker_dying():
    # A task whose worker dies is redelivered rather than lost; every task is safe to run twice.
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


@pytest.fixture
def worker(transactional_db, monkeypatch):
    """A Celery worker in this process, on the configured broker (Redis in CI)."""
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def test_a_worker_runs_the_sweep_from_the_queue(worker):
    engineer = factories.person("eng@provider.test", provider_role=ProviderRole.ENGINEER)
    tenant = factories.tenant("queued")
    stale = factories.submit(engineer=engineer, tenant=tenant,
                             now=timezone.now() - timedelta(days=1))

    from approvals.tasks import sweep

    # Wait for the worker to say the task ran, not by reading the database meanwhile: on
    # SQLite's shared in-memory test database a read while the worker writes fails with
    # "database table is locked" (this test failed one run in two that way).
    finished = threading.Event()

    def ran(sender=None, **kwargs):
        if sender is not None and sender.name == sweep.name:
            finished.set()

    task_postrun.connect(ran, weak=False)
    try:
        sweep.delay()
        assert finished.wait(20), "the worker did not run the sweep"
    finally:
        task_postrun.disconnect(ran)
    stale.refresh_from_db()
    assert stale.state == State.EXPIRED
