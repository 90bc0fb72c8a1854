"""A real Prometheus scrapes a real gunicorn (2 workers), a Celery worker and the exporter, each
on its own metrics listener, and its query API returns what they counted and read."""

import json
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from approvals import transitions as t
from approvals.actions import REQUEST_EVENTS
from approvals.notifications.webhooks.endpoints import create_endpoint
from audit.encoding import tenant_chain
from tests import factories
from tests.api_helpers import make_token
from tests.processes import (
    ROOT,
    Broker,
    Gunicorn,
    Workers,
    answers,
    collect_static,
    database_url,
    free_port,
    production_env,
    stop,
    wait_for,
)
from tests.prometheus import PROMETHEUS, Prometheus, require

pytestmark = pytest.mark.postgres
RESOURCE = "exchange/mailbox/user@example.test"


def _post(url, token, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def world(transactional_db, engineer, manager, manager2, boss, admin_a, tenant_a):
    now = timezone.now()
    waiting = factories.submit(engineer=engineer, tenant=tenant_a, now=now)
    t.internal_approve(access_request=waiting, actor=manager2, now=now)
    factories.submit(engineer=engineer, tenant=tenant_a, now=now - timedelta(minutes=20))
    dead_port = free_port()  # nothing listens: every webhook attempt fails
    with override_settings(LOCKBOX_WEBHOOK_ALLOW_PRIVATE=True):
        create_endpoint(tenant=tenant_a, actor=admin_a, url=f"http://127.0.0.1:{dead_port}/hook",
                        event_types=[str(e) for e in REQUEST_EVENTS])
    return {"waiting": waiting, "data_plane": make_token(manager, "data_plane")[1],
            "decide": make_token(boss, "tenant_decide", tenant=tenant_a)[1]}


@pytest.fixture
def cluster(world, tmp_path):
    require(PROMETHEUS)
    broker = Broker(tmp_path)
    broker.start()
    started = []
    ports = {"web": free_port(), "worker": free_port(), "exporter": free_port()}

    def env(group, **extra):
        folder = tmp_path / f"metrics-{group}"
        folder.mkdir()
        return production_env(DATABASE_URL=database_url(), CELERY_BROKER_URL=broker.url,
                              SECURE_SSL_REDIRECT="false", LOCKBOX_METRICS_ADDR="127.0.0.1",
                              LOCKBOX_METRICS_PORT=str(ports[group]),
                              PROMETHEUS_MULTIPROC_DIR=str(folder), **extra)

    try:
        # Its own static files, so a 404 page renders as in production.
        web = Gunicorn(collect_static(env("web"), tmp_path), tmp_path, args=["--workers=2"])
        started.append(web.process)
        workers = Workers(env("worker", LOCKBOX_WEBHOOK_ALLOW_PRIVATE="true"), tmp_path)
        started.append(workers.start())
        exporter = subprocess.Popen(
            [sys.executable, "manage.py", "lockbox_exporter"], cwd=ROOT,
            env={**env("exporter"), "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.production"},
            stdout=(tmp_path / "exporter.log").open("w"), stderr=subprocess.STDOUT)
        started.append(exporter)
        for group, port in ports.items():
            wait_for(lambda port=port: answers(port), 30, f"the {group} metrics listener")
        prometheus = Prometheus(tmp_path, {f"lockbox-{group}": [f"127.0.0.1:{port}"]
                                           for group, port in ports.items()})
        started.append(prometheus.process)
        yield {"web": web, "prometheus": prometheus, "ports": ports}
    finally:
        for process in reversed(started):
            stop(process)
        stop(broker.process)


def test_prometheus_scrapes_every_process_and_sees_the_traffic(cluster, world):
    web, prometheus = cluster["web"], cluster["prometheus"]
    check = {"engineer": "engineer@provider.test", "tenant": "tenant-a", "resource": RESOURCE}
    # Not yet approved by the customer: no. Then the customer approves through the Google API.
    assert _post(f"{web.url}/api/v1/access/check", world["data_plane"], check)[1][
        "allowed"] is False
    status, _ = _post(f"{web.url}/v1/organizations/tenant-a/approvalRequests/"
                      f"{world['waiting'].pk}:approve", world["decide"], {})
    assert status == 200
    for _ in range(4):  # spread over both workers
        assert _post(f"{web.url}/api/v1/access/check", world["data_plane"], check)[1][
            "allowed"] is True

    for job in ("lockbox-web", "lockbox-worker", "lockbox-exporter"):
        prometheus.wait_for(f'up{{job="{job}"}}', lambda v: v == 1)
    assert prometheus.wait_for('sum(lockbox_access_checks_total{outcome="allowed"})',
                               lambda v: v >= 4) == 4
    assert prometheus.value('sum(lockbox_access_checks_total{outcome="denied"})') == 1
    assert prometheus.wait_for(
        'sum(lockbox_decisions_total{level="customer",verdict="approve"})', lambda v: v >= 1) == 1
    assert prometheus.value(
        'sum(lockbox_http_request_duration_seconds_count{view="api_access_check"})') == 5
    p99 = prometheus.value('histogram_quantile(0.99, sum by (le) '
                           '(lockbox_http_request_duration_seconds_bucket'
                           '{view="api_access_check"}))')
    assert 0 < p99 < 5
    # The worker tried the webhooks the decisions queued, at an address where nothing listens.
    prometheus.wait_for("sum(lockbox_webhook_failures_total)", lambda v: v >= 1, timeout=60)

    chain = tenant_chain("tenant-a")
    assert prometheus.value("lockbox_exporter_database_up") == 1
    assert prometheus.value('lockbox_pending_requests{stage="internal"}') == 1
    assert 20 * 60 - 5 < prometheus.value(
        'lockbox_pending_oldest_age_seconds{stage="internal"}') < 25 * 60
    assert prometheus.value('lockbox_pending_requests{stage="customer"}') == 0
    assert prometheus.value('lockbox_outbox_backlog{channel="webhook"}') >= 1
    assert prometheus.value('lockbox_outbox_oldest_age_seconds{channel="webhook"}') >= 0
    assert prometheus.value(f'lockbox_unsigned_events_age_seconds{{chain="{chain}"}}') > 0
    assert prometheus.value(f'lockbox_audit_verification_age_seconds{{chain="{chain}"}}') > 0
    assert prometheus.value("lockbox_replica_lag_seconds") is None  # no replica configured here


def test_the_sites_do_not_route_the_metrics(cluster):
    web = cluster["web"]
    for path in ("/metrics", "/internal/metrics"):
        try:
            urllib.request.urlopen(web.url + path, timeout=10)
            raise AssertionError(f"{path} answered on the site")
        except urllib.error.HTTPError as error:
            assert error.code == 404
    with urllib.request.urlopen(f"http://127.0.0.1:{cluster['ports']['web']}/metrics",
                                timeout=10) as answer:
        assert b"lockbox_http_request_duration_seconds" in answer.read()
