"""The Procfile runs the whole topology on one machine with honcho, from the env files the
systemd units read (deploy/env/): both sites, a worker, beat (which queues the checkpoint
signing) and the metrics exporter; stopping honcho stops every process it started."""

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from audit.models import Checkpoint
from tests import factories
from tests.processes import (
    BIN,
    DEPLOY_ENV,
    PRODUCTION_TEST_SIGNING_KEY,
    ROOT,
    collect_static,
    database_url,
    deploy_env,
    free_port,
    production_env,
    redis_server,
    wait_for,
)

PROCFILE = ROOT / "Procfile"
HONCHO = BIN / "honcho"


def _procfile():
    """{name: command} as honcho reads the Procfile."""
    from honcho.environ import parse_procfile

    return parse_procfile(PROCFILE.read_text()).processes


def _manage_py_commands():
    from django.core.management import get_commands

    return set(get_commands())


def test_honcho_check_accepts_the_procfile():
    checked = subprocess.run([str(HONCHO), "-f", str(PROCFILE), "-d", str(ROOT), "check"],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "Valid procfile detected (customer, internal, worker, beat, exporter)" in \
        checked.stderr + checked.stdout


def test_every_procfile_line_names_env_files_and_a_program_that_exist():
    commands = _manage_py_commands()
    for name, command in _procfile().items():
        wrapper, rest = command.split(" ", 1)
        assert (ROOT / wrapper).is_file() and os.access(ROOT / wrapper, os.X_OK), name
        files, program = rest.split(" -- ", 1)
        for env_name in files.split():
            assert (DEPLOY_ENV / f"{env_name}.env").is_file(), (name, env_name)
        words = program.strip("'").split()
        assert (BIN / words[0]).exists(), (name, words[0])
        if words[:2] == ["python", "manage.py"]:
            assert words[2] in commands, (name, words[2])
    sites = {name: DEPLOY_ENV / f"{name}.env" for name in ("customer", "internal")}
    for site, path in sites.items():
        assert f"LOCKBOX_SITE={site}" in path.read_text().splitlines()


def _get(port, path):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"X-Forwarded-Proto": "https"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _answers(port, path):
    try:
        return _get(port, path) == 200
    except OSError:
        return False


def _groups_alive(groups):
    alive = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) in groups:
                    alive.add(int(entry))
            except ProcessLookupError:
                pass
    return alive


@pytest.fixture
def topology(tmp_path, transactional_db):
    """`honcho start` on the repository's Procfile, with the test's database and Redis."""
    with redis_server(tmp_path) as redis_url:
        static = collect_static(production_env(DATABASE_URL=database_url()), tmp_path)
        ports = {name: free_port() for name in
                 ("customer", "internal", "customer_metrics", "internal_metrics",
                  "worker_metrics", "beat_metrics", "exporter_metrics")}
        test_env = production_env()
        env_dir = deploy_env(tmp_path / "etc", {
            "common": {
                "SECRET_KEY": test_env["SECRET_KEY"],
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "LOCKBOX_PORTAL_URL": test_env["LOCKBOX_PORTAL_URL"],
                "LOCKBOX_INTERNAL_URL": test_env["LOCKBOX_INTERNAL_URL"],
                "DATABASE_URL": database_url(),
                "CELERY_BROKER_URL": redis_url,
                "CACHE_URL": redis_url[:-1] + "1",
                "LOCKBOX_SIGNING_KEY_FILE": None,
                "LOCKBOX_SIGNING_KEY": PRODUCTION_TEST_SIGNING_KEY,
                "LOCKBOX_CHECKPOINT_SECONDS": "10",
                "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(free_port()),
                "EMAIL_USE_TLS": "false",
                "STATIC_ROOT": static["STATIC_ROOT"],
            },
            "web": {"WEB_CONCURRENCY": "1"},
            "customer-1": {"LOCKBOX_BIND": f"127.0.0.1:{ports['customer']}",
                           "LOCKBOX_METRICS_PORT": ports["customer_metrics"]},
            "internal-1": {"LOCKBOX_BIND": f"127.0.0.1:{ports['internal']}",
                           "LOCKBOX_METRICS_PORT": ports["internal_metrics"]},
            "worker-1": {"LOCKBOX_METRICS_PORT": ports["worker_metrics"]},
            "beat": {"LOCKBOX_METRICS_PORT": ports["beat_metrics"]},
            "exporter": {"LOCKBOX_METRICS_PORT": ports["exporter_metrics"]},
        })
        names = list(_procfile())
        log = tmp_path / "honcho.log"
        honcho = subprocess.Popen(
            [str(HONCHO), "-f", str(PROCFILE), "-d", str(ROOT), "--no-colour", "start", *names],
            env={"PATH": f"{BIN}:{os.environ['PATH']}", "LOCKBOX_ENV_DIR": str(env_dir),
                 "LOCKBOX_RUN_DIR": str(tmp_path / "run")},
            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        running = {"honcho": honcho, "log": log, "ports": ports, "names": names}
        try:
            yield running
        finally:
            groups = {int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", log.read_text())}
            if honcho.poll() is None:
                os.killpg(honcho.pid, signal.SIGKILL)
                honcho.wait(10)
            for pid in _groups_alive(groups):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.postgres  # the processes share the test's database
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_honcho_runs_both_sites_a_worker_and_beat_and_stops_them_all(topology):
    honcho, log, ports = topology["honcho"], topology["log"], topology["ports"]
    factories.tenant("acme")  # its chain gets an event, which beat has a worker sign

    def both_sites_up():
        assert honcho.poll() is None, log.read_text()[-4000:]
        return _answers(ports["customer"], "/healthz") and _answers(ports["internal"], "/healthz")

    wait_for(both_sites_up, 60, "both sites to answer /healthz")
    assert _get(ports["customer"], "/internal/") == 404
    assert _get(ports["internal"], "/internal/") in (200, 302)
    wait_for(lambda: Checkpoint.objects.exists(), 60,
             "beat to queue audit.checkpoint and the worker to sign it")
    started = dict(re.findall(r"(\w+)\.1 started \(pid=(\d+)\)", log.read_text()))
    assert sorted(started) == sorted(topology["names"])
    groups = {int(pid) for pid in started.values()}
    assert _groups_alive(groups)

    began = time.monotonic()
    honcho.send_signal(signal.SIGTERM)
    honcho.wait(30)
    wait_for(lambda: not _groups_alive(groups), 10, "every process honcho started to stop")
    assert time.monotonic() - began < 30
    assert not any(_answers(ports[site], "/healthz") for site in ("customer", "internal"))
