"""The access check served by gunicorn with several worker processes, as in production, each
reusing a yes for LEASE_MS (approvals.access), as production does by default.

Whatever makes the check fast must not let one process answer from old knowledge: after a
revocation returns, or once a grant's time is up, the very next check says no in every worker.
Which worker answered is read from gunicorn's access log (`%(p)s`, the worker's pid).
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from approvals import transitions as t
from tests import factories
from tests.api_helpers import make_token
from tests.processes import ROOT, free_port

RESOURCE = "exchange/mailbox/user@example.test"
LEASE_MS = 1000
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Gunicorn:
    def __init__(self, tmp, workers=3):
        self.port = free_port()
        self.log = tmp / "access.log"
        self.log.touch()
        db = connection.settings_dict
        env = {
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.test",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
                            f"{db['PORT'] or 5432}/{db['NAME']}",
            "LOCKBOX_ACCESS_CACHE_MS": str(LEASE_MS),
        }
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "lockbox_portal.wsgi",
             f"--bind=127.0.0.1:{self.port}", f"--workers={workers}",
             f"--access-logfile={self.log}", "--access-logformat=%(p)s %(s)s %(U)s"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError("gunicorn did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(20)

    def check(self, raw):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/access/check", method="POST",
            data=json.dumps({"engineer": "engineer@provider.test", "tenant": "tenant-a",
                             "resource": RESOURCE}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {raw}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["allowed"]

    def burst(self, raw, n=60):
        """n checks from 12 threads, each on a new connection; (answers, pids that served)."""
        before = len(self.log.read_text().splitlines())
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: self.check(raw), range(n)))
        time.sleep(0.3)  # the access log line is written after the response
        lines = self.log.read_text().splitlines()[before:]
        pids = {line.split()[0] for line in lines if "/api/v1/access/check" in line}
        return answers, pids


@pytest.fixture
def server(tmp_path, settings):
    settings.LOCKBOX_ACCESS_CACHE = LEASE_MS / 1000  # this process revokes: it waits as long
    gunicorn = Gunicorn(tmp_path)
    yield gunicorn
    gunicorn.stop()


def _grant(engineer, manager2, approver_a, tenant_a, *, ends_in=None):
    now = timezone.now()
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=now - timedelta(minutes=10))
    t.internal_approve(access_request=req, actor=manager2, now=now - timedelta(minutes=9))
    t.customer_approve(access_request=req, actor=approver_a, now=now - timedelta(minutes=8),
                       ends_at=now + ends_in if ends_in else None)
    return req


def test_a_revocation_is_honoured_by_the_next_check_in_every_worker(
        server, engineer, manager, manager2, approver_a, tenant_a):
    _, raw = make_token(manager, "data_plane")
    grant = _grant(engineer, manager2, approver_a, tenant_a)
    answers, pids = server.burst(raw)
    assert all(answers) and len(pids) >= 2  # workers have answered yes, and may keep it

    started = time.monotonic()
    t.revoke(access_request=grant, actor=approver_a)
    assert time.monotonic() - started >= LEASE_MS / 1000  # it returned once no yes was left
    answers, pids = server.burst(raw)
    assert not any(answers) and len(pids) >= 2


def test_the_end_of_a_grant_is_honoured_by_the_next_check_in_every_worker(
        server, engineer, manager, manager2, approver_a, tenant_a):
    _, raw = make_token(manager, "data_plane")
    grant = _grant(engineer, manager2, approver_a, tenant_a, ends_in=timedelta(seconds=4))
    answers, pids = server.burst(raw, n=36)
    assert all(answers) and len(pids) >= 2

    grant.refresh_from_db()
    time.sleep(max((grant.access_ends_at - timezone.now()).total_seconds(), 0) + 0.05)
    answers, pids = server.burst(raw)
    assert not any(answers) and len(pids) >= 2  # no worker, and no sweep, needed to run
