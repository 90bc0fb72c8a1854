"""Every entry point gets the settings it documents, and importing the project chooses none.

`gunicorn lockbox_portal.wsgi` and `celery -A lockbox_portal worker`, started exactly as the
README says and without DJANGO_SETTINGS_MODULE, must run with production settings: no debug
pages, secure cookies, HTTPS enforced, webhooks kept out of private networks.
"""

import http.client
import shutil
import subprocess
import sys

import pytest
from django.utils import timezone

from approvals.notifications.models import OutboxMessage, Status, WebhookEndpoint
from approvals.notifications.webhooks import endpoints
from lockbox_portal.celery import app
from tests.processes import (
    ROOT,
    Broker,
    Gunicorn,
    Receiver,
    Workers,
    collect_static,
    database_url,
    production_env,
    wait_for,
)


def _fresh_python(code, env):
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_importing_the_project_chooses_no_settings():
    found = _fresh_python("import os, lockbox_portal\n"
                          "print(os.environ.get('DJANGO_SETTINGS_MODULE'))", production_env())
    assert found.stdout.strip() == "None", found.stderr


@pytest.mark.parametrize("module", ["lockbox_portal.wsgi", "lockbox_portal.celery"])
def test_each_server_entry_point_chooses_production(module, tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    found = _fresh_python(f"import {module}\nfrom django.conf import settings\n"
                          "print(settings.SETTINGS_MODULE, settings.DEBUG)", env)
    assert found.stdout.split() == ["lockbox_portal.settings.production", "False"], found.stderr


def test_manage_py_chooses_local_settings_as_documented(tmp_path):
    env = {"PATH": production_env()["PATH"],
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    found = subprocess.run([sys.executable, "manage.py", "shell", "-c",
                            "from django.conf import settings; print(settings.SETTINGS_MODULE)"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert found.stdout.split()[-1] == "lockbox_portal.settings.local", found.stderr


@pytest.fixture
def production_gunicorn(tmp_path):
    env = collect_static(production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"),
                         tmp_path)
    server = Gunicorn(env, tmp_path, ready_headers={"X-Forwarded-Proto": "https"})
    yield server
    server.stop()


def _get(server, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    return response, response.read().decode()


def test_gunicorn_as_the_readme_says_serves_production(production_gunicorn):
    https = {"X-Forwarded-Proto": "https"}
    missing, body = _get(production_gunicorn, "/no-such-page/", https)
    assert missing.status == 404
    assert "URLconf" not in body and "DEBUG = True" not in body  # no debug page listing URLs

    plain, _ = _get(production_gunicorn, "/accounts/login/")
    assert plain.status == 301  # HTTPS enforced
    assert plain.getheader("Location").startswith("https://")

    login, _ = _get(production_gunicorn, "/accounts/login/", https)
    assert login.status == 200
    cookies = login.getheader("Set-Cookie") or ""
    assert "csrftoken" in cookies.lower() and "secure" in cookies.lower()
    assert login.getheader("Strict-Transport-Security")


@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_a_celery_worker_as_the_readme_says_runs_production(tmp_path, transactional_db,
                                                           monkeypatch, admin_a, tenant_a):
    broker = Broker(tmp_path)
    broker.start()
    receiver = Receiver()
    workers = Workers(production_env(DATABASE_URL=database_url(), CELERY_BROKER_URL=broker.url,
                                     EMAIL_BACKEND="django.core.mail.backends.filebased."
                                                   "EmailBackend",
                                     EMAIL_FILE_PATH=str(tmp_path / "mail")), tmp_path)
    # This process queues to the test's broker: Celery reads the variable before its setting.
    monkeypatch.setenv("CELERY_BROKER_URL", broker.url)
    monkeypatch.setitem(app.conf, "broker_url", broker.url)
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    app._pool = None
    app.amqp._producer_pool = None
    try:
        workers.start()
        # Saved as an operator's script might (the test settings allow loopback); only the
        # worker's own settings decide whether it is delivered.
        endpoint = WebhookEndpoint.objects.create(
            tenant=tenant_a, url=receiver.url, secret="s" * 64, event_types=["webhook.test"],
            created_at=timezone.now())
        key = endpoints.send_test(endpoint=endpoint, actor=admin_a)
        tried = (Status.SENT, Status.FAILED, Status.RETRYING)
        wait_for(lambda: OutboxMessage.objects.get(key=key).status in tried, 60,
                 "the worker to try the delivery")
        row = OutboxMessage.objects.get(key=key)
        assert row.status == Status.FAILED
        assert "private or local address" in row.last_error
        assert receiver.bodies == []
    finally:
        workers.stop_all()
        receiver.close()
        broker.stop()
        app._pool = None
        app.amqp._producer_pool = None
