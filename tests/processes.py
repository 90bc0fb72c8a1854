"""Real processes for tests: free ports, waiting, a redis-server, Celery workers, gunicorn.

Each is started by the test on loopback and stopped by it. Environments are built from nothing
(only PATH is inherited), so a process sees exactly the configuration the test gives it.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None,
                                 reason="needs redis-server (apt-get install -y redis-server)")
# base64 of 32 bytes: a signing key for processes started with production settings.
PRODUCTION_TEST_SIGNING_KEY = "cHJvZHVjdGlvbi10ZXN0LXNpZ25pbmcta2V5LTMyYiE="


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def answers(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def database_url():
    """The URL of the test database this process uses, for processes that share it."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return (f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
            f"{db['NAME']}")


def production_env(**overrides):
    """What an operator sets for production settings (README's Configuration), and no
    DJANGO_SETTINGS_MODULE: the entry point must choose production by itself."""
    env = {
        "PATH": os.environ["PATH"],
        "SECRET_KEY": "production-test-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOCKBOX_PORTAL_URL": "https://portal.example.test",
        "LOCKBOX_INTERNAL_URL": "https://internal.example.test",
        "LOCKBOX_SIGNING_KEY": PRODUCTION_TEST_SIGNING_KEY,
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        # Production requires a shared cache; these processes sign nobody in, so it is unused.
        "CACHE_URL": "redis://127.0.0.1:1/0",
    }
    env.update(overrides)
    return env


DEPLOY_ENV = ROOT / "deploy" / "env"
# manage.py commands the deploy files name that another branch of issue 14 adds (the metrics
# exporter); the lead empties this set when merging it.
PENDING_COMMANDS = {"lockbox_exporter"}


def env_file_values(path):
    """The NAME=value lines of an env file (deploy/env/), as honcho, systemd and sh read them:
    "#NAME=" lines are optional settings left at their defaults, and not returned."""
    import shlex

    values = {}
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = " ".join(shlex.split(value))
    return values


def deploy_env(folder, overrides):
    """Copy deploy/env/*.env into `folder`, with the values in overrides ({"common": {NAME:
    value}, "customer-1": {...}}) replacing or adding lines; a value of None drops the line.
    Returns the folder an operator's /etc/lockbox would be, for LOCKBOX_ENV_DIR."""
    import shlex

    folder.mkdir(parents=True, exist_ok=True)
    names = {path.stem for path in DEPLOY_ENV.glob("*.env")} | set(overrides)
    for name in names:
        source = DEPLOY_ENV / f"{name}.env"
        lines = source.read_text().splitlines() if source.exists() else []
        changes = dict(overrides.get(name, {}))
        kept = []
        for line in lines:
            key = line.partition("=")[0].strip()
            if not line.lstrip().startswith("#") and key in changes:
                value = changes.pop(key)
                if value is not None:
                    kept.append(f"{key}={shlex.quote(str(value))}")
            else:
                kept.append(line)
        kept += [f"{key}={shlex.quote(str(value))}" for key, value in changes.items()
                 if value is not None]
        (folder / f"{name}.env").write_text("\n".join(kept) + "\n")
    return folder


def collect_static(env, tmp):
    """Production serves the files `manage.py collectstatic` gathered (with a manifest); give
    a process started with production settings its own copy."""
    env["STATIC_ROOT"] = str(tmp / "static")
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT,
                   env={**env, "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.production"},
                   check=True, capture_output=True, timeout=120)
    return env


class Broker:
    """A redis-server of the test's own, which the test may stop and start again."""

    def __init__(self, tmp):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.tmp = tmp
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: answers(self.port), 10, "redis-server to answer")

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
        wait_for(lambda: not answers(self.port), 10, "redis-server to stop")


class Workers:
    """`celery -A lockbox_portal worker` processes with the environment the test gives."""

    def __init__(self, env, tmp):
        self.env = env
        self.log = tmp / "worker.log"
        self.processes = []

    def start(self):
        output = self.log.open("a")
        process = subprocess.Popen(
            [str(BIN / "celery"), "-A", "lockbox_portal", "worker", "--pool=solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO",
             "-n", f"test{len(self.processes)}@%h"],
            cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT)
        self.processes.append(process)
        wait_for(lambda: self.log.read_text().count(" ready.") >= len(self.processes)
                 or process.poll() is not None, 60, f"worker {len(self.processes)} to start")
        if process.poll() is not None:
            raise AssertionError(f"the worker stopped:\n{self.log.read_text()[-3000:]}")
        return process

    def kill(self, process):
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self):
        for process in self.processes:
            stop(process)


class Mailbox:
    """The folder Django's file-based e-mail backend writes to, read as messages."""

    def __init__(self, folder):
        self.folder = folder
        folder.mkdir(exist_ok=True)

    def to(self, address):
        found = []
        for path in self.folder.glob("*.log"):
            for raw in path.read_bytes().split(b"-" * 79):
                if raw.strip():
                    message = message_from_bytes(raw.strip())
                    if message["To"] == address:
                        found.append(message)
        return found


class Gunicorn:
    """`gunicorn lockbox_portal.wsgi` from the repository's root, as the README runs it."""

    def __init__(self, env, tmp, *, args=(), ready_path="/healthz", ready_headers=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"gunicorn-{self.port}.log"
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "lockbox_portal.wsgi", f"--bind=127.0.0.1:{self.port}",
             *args], cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        headers = ready_headers or {}

        def up():
            if self.process.poll() is not None:
                return True
            try:
                urllib.request.urlopen(urllib.request.Request(self.url + ready_path,
                                                              headers=headers), timeout=1)
            except urllib.error.HTTPError:
                return True  # it answered
            except OSError:
                return False
            return True

        wait_for(up, 30, "gunicorn to answer")
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn stopped:\n{self.log.read_text()[-3000:]}")

    def stop(self):
        stop(self.process)


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def redis_server(tmp):
    """A redis-server of the test's own; yields its URL."""
    broker = Broker(tmp)
    broker.start()
    try:
        yield broker.url
    finally:
        stop(broker.process)


@contextmanager
def gunicorn(tmp, env, *, workers=1):
    """`gunicorn lockbox_portal.wsgi` run from the repository root, as deployed; yields
    (base URL, access log path). The access log's first field is the worker's pid."""
    port = free_port()
    log = tmp / "access.log"
    log.touch()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "lockbox_portal.wsgi", f"--bind=127.0.0.1:{port}",
         f"--workers={workers}", f"--access-logfile={log}",
         "--access-logformat=%(p)s %(s)s %(U)s"],
        cwd=ROOT, env={"PATH": os.environ["PATH"], **env},
        stdout=subprocess.DEVNULL, stderr=(tmp / "gunicorn.err").open("w"))
    try:
        wait_for(lambda: answers(port), 30, "gunicorn to listen")
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop(process)


class Receiver:
    """A webhook receiver on loopback that keeps every body it is sent and answers 204."""

    def __init__(self, host="127.0.0.1", port=0):
        self.bodies = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
