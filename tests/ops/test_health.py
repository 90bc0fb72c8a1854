"""/healthz says the process answers; /readyz says it can work now, naming each check, and
answers in bounded time whatever a dependency does."""

import socket
import time

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings

from tests.processes import Broker, free_port, needs_redis


@pytest.mark.parametrize("name", ["customer", "internal"])
def test_both_sites_answer_both_probes_uncached(serve_site, client, name, db):
    serve_site(name)
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200, response.content
        assert "no-cache" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    assert client.get("/readyz").json() == {"status": "ok", "checks": {
        "signing_key": "ok", "database": "ok", "migrations": "ok", "broker": "ok"}}


def test_it_is_not_ready_while_a_migration_is_missing(client, db):
    applied = MigrationRecorder.Migration.objects.filter(app="approvals").order_by("-id").first()
    applied.delete()  # as if this code's newest migration had not been run yet
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "1 not applied"
    assert client.get("/healthz").status_code == 200


def test_it_is_not_ready_without_a_loadable_signing_key(client, db):
    with override_settings(LOCKBOX_SIGNING_KEY="", LOCKBOX_SIGNING_KEY_FILE="/nonexistent.pem"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["signing_key"] == "not loadable: ImproperlyConfigured"
    assert "nonexistent" not in response.content.decode()


def test_it_is_not_ready_when_the_broker_refuses(client, db):
    with override_settings(CELERY_BROKER_URL=f"redis://:secret@127.0.0.1:{free_port()}/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("unreachable")
    assert "secret" not in response.content.decode()


def test_a_broker_that_never_answers_gets_a_bounded_no(client, db):
    with socket.socket() as silent:  # accepts connections (the kernel does), says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        with override_settings(CELERY_BROKER_URL=url, LOCKBOX_ACCESS_CHECK_TIMEOUT=0.5):
            started = time.monotonic()
            response = client.get("/readyz")
            elapsed = time.monotonic() - started
    assert response.status_code == 503 and response.json()["checks"]["broker"] != "ok"
    assert elapsed < 1.5, elapsed


@needs_redis
def test_it_is_ready_with_a_real_broker_and_not_once_it_stops(client, db, tmp_path):
    broker = Broker(tmp_path)
    broker.start()
    try:
        with override_settings(CELERY_BROKER_URL=broker.url):
            assert client.get("/readyz").json()["checks"]["broker"] == "ok"
            broker.stop()
            response = client.get("/readyz")
    finally:
        if broker.process.poll() is None:
            broker.stop()
    assert response.status_code == 503 and response.json()["checks"]["broker"] != "ok"


@pytest.mark.postgres
def test_a_database_that_holds_its_answer_gets_a_bounded_no(client, transactional_db):
    """The migrations table locked by another session: the database check's deadline ends it."""
    from django.db import connections

    other = connections.create_connection("default")
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:
            cursor.execute("LOCK TABLE django_migrations IN ACCESS EXCLUSIVE MODE")
        with override_settings(LOCKBOX_ACCESS_CHECK_TIMEOUT=0.5):
            started = time.monotonic()
            response = client.get("/readyz")
            elapsed = time.monotonic() - started
    finally:
        other.rollback()
        other.close()
    connection.close()
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "unreachable"
    assert elapsed < 1.5, elapsed
