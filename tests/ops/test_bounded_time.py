"""A database that hangs gets a bounded, fail-closed answer, never a hung worker.

PostgreSQL is reached through a proxy the test can freeze (connections stay open, new ones are
accepted, nothing is forwarded: a black-holed path) or cut (every connection closed).
"""

import contextlib
import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils import timezone

from approvals import transitions as t
from lockbox_portal.db import limits
from lockbox_portal.db.postgresql import base as bounded
from tests import factories
from tests.api_helpers import make_token
from tests.faults import FreezableProxy
from tests.processes import Gunicorn, production_env

pytestmark = pytest.mark.postgres
RESOURCE = "exchange/mailbox/user@example.test"


@pytest.fixture
def proxy():
    running = FreezableProxy(int(connection.settings_dict["PORT"] or 5432))
    yield running
    running.close()


@pytest.fixture
def proxied(proxy):
    """A second connection to the test database, through the proxy."""
    settings_dict = {**connection.settings_dict, "PORT": str(proxy.port)}
    wrapper = bounded.DatabaseWrapper(settings_dict, alias="proxied")
    yield wrapper
    bounded._retry_at.clear()
    with contextlib.suppress(OperationalError):
        wrapper.close()


def _timed(action):
    started = time.monotonic()
    try:
        action()
    except OperationalError as error:
        return time.monotonic() - started, error
    return time.monotonic() - started, None


def _select_one(wrapper):
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()


def test_every_statement_has_a_server_side_limit(db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "10s"


def test_a_query_on_a_frozen_path_fails_within_the_deadline(proxied, proxy, transactional_db):
    assert _select_one(proxied) == (1,)
    proxy.freeze()
    with limits.within(0.5):
        elapsed, error = _timed(lambda: _select_one(proxied))
    assert error is not None and "did not answer" in str(error)
    assert 0.4 < elapsed < 1.0
    assert proxied.connection.closed  # its protocol state is unknown: never reused


def test_each_answer_is_awaited_only_so_long_without_a_deadline(proxied, proxy,
                                                                transactional_db):
    assert _select_one(proxied) == (1,)
    proxy.freeze()
    with override_settings(LOCKBOX_DB_WAIT=0.5):
        elapsed, error = _timed(lambda: _select_one(proxied))
    assert error is not None and elapsed < 1.0


def test_connecting_over_a_frozen_path_fails_within_the_deadline_then_fast(
        proxied, proxy, transactional_db):
    proxy.freeze()
    with limits.within(0.5):
        elapsed, error = _timed(lambda: _select_one(proxied))
    assert error is not None and "connect" in str(error) and elapsed < 1.0
    # Known to be dead a moment ago: the next attempt does not spend its deadline again.
    with limits.within(0.5):
        elapsed, error = _timed(lambda: _select_one(proxied))
    assert error is not None and "a moment ago" in str(error) and elapsed < 0.1


def test_the_connection_comes_back_when_the_path_does(proxied, proxy, transactional_db):
    assert _select_one(proxied) == (1,)
    proxy.freeze()
    with override_settings(LOCKBOX_DB_RETRY_AFTER=0.2), limits.within(0.3):
        assert _timed(lambda: _select_one(proxied))[1] is not None
    proxy.thaw()
    time.sleep(0.3)
    proxied.close()
    assert _select_one(proxied) == (1,)


# --- The access check and /readyz, served by gunicorn as in production ---------------------------

@pytest.fixture
def grant(transactional_db, engineer, manager, manager2, approver_a, tenant_a):
    now = timezone.now()
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=now - timedelta(minutes=5),
                           scope=[RESOURCE])
    t.internal_approve(access_request=req, actor=manager2, now=now - timedelta(minutes=4))
    t.customer_approve(access_request=req, actor=approver_a, now=now - timedelta(minutes=3))
    return make_token(manager, "data_plane")[1]


@pytest.fixture
def server(proxy, tmp_path, grant):
    db = connection.settings_dict
    env = production_env(
        DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
        LOCKBOX_ACCESS_CACHE_MS="0", SECURE_SSL_REDIRECT="false")
    running = Gunicorn(env, tmp_path, args=["--workers=2"])
    yield running
    running.stop()


def _ask(server, raw, path="/api/v1/access/check"):
    connection_ = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    started = time.monotonic()
    if path in ("/healthz", "/readyz"):
        connection_.request("GET", path)
    else:
        connection_.request("POST", path, body=json.dumps(
            {"engineer": "engineer@provider.test", "tenant": "tenant-a", "resource": RESOURCE}),
            headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"})
    response = connection_.getresponse()
    body = json.loads(response.read())
    return time.monotonic() - started, response.status, body


def test_the_access_check_fails_closed_within_two_seconds_on_a_frozen_database(
        server, proxy, grant):
    for _ in range(4):  # both workers hold an open connection
        elapsed, status, body = _ask(server, grant)
        assert (status, body["allowed"]) == (200, True)

    proxy.freeze()
    timings = []
    for _ in range(6):  # first on the open connections, then on new ones
        elapsed, status, body = _ask(server, grant)
        timings.append(elapsed)
        assert status == 503 and body["allowed"] is False
    assert max(timings) < 2.0, timings

    elapsed, status, body = _ask(server, grant, "/readyz")
    assert status == 503 and body["checks"]["database"] == "unreachable" and elapsed < 2.0
    # Alive all the same: a load balancer must not restart every app server for this.
    elapsed, status, body = _ask(server, grant, "/healthz")
    assert (status, body) == (200, {"status": "ok"}) and elapsed < 1.0

    # Many at once: no worker is held; every caller hears "no" in time.
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: _ask(server, grant), range(32)))
    assert all(status == 503 and body["allowed"] is False for _, status, body in answers)
    assert max(elapsed for elapsed, _, _ in answers) < 2.0, sorted(a[0] for a in answers)

    proxy.thaw()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        elapsed, status, body = _ask(server, grant)
        if status == 200:
            break
        time.sleep(0.2)
    assert (status, body["allowed"]) == (200, True)


def test_the_access_check_fails_closed_at_once_when_the_database_is_cut(server, proxy, grant):
    assert _ask(server, grant)[1] == 200
    proxy.cut()
    proxy.freeze()  # and nothing new gets through
    elapsed, status, body = _ask(server, grant)
    assert status == 503 and body["allowed"] is False and elapsed < 2.0


def test_long_work_runs_without_the_statement_timeout_and_it_comes_back(db):
    def shown():
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            return cursor.fetchone()[0]

    with limits.unbounded_statements(wait_for_answers=True):
        assert shown() == "0"
        assert limits.remaining() is None  # a migration may say nothing for minutes
    assert shown() == "10s" and limits.remaining() is not None
    with limits.unbounded_statements():
        assert limits.remaining() is not None  # an export's blocks must keep coming
