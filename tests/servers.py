"""Real components a test starts for itself on loopback, on a free port, and stops."""

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None,
                                 reason="needs redis-server (apt-get install -y redis-server)")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def redis_server(tmp):
    """A redis-server of the test's own; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: answers(port), 10, "redis-server to answer")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def gunicorn(tmp, env, *, workers=1):
    """`gunicorn lockbox_portal.wsgi` run from the repository root, as deployed; yields
    (base URL, access log path). The access log's first field is the worker's pid."""
    port = free_port()
    log = tmp / "access.log"
    log.touch()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "lockbox_portal.wsgi",
         f"--bind=127.0.0.1:{port}", f"--workers={workers}", "--no-control-socket",
         f"--access-logfile={log}", "--access-logformat=%(p)s %(s)s %(U)s"],
        cwd=ROOT, env={"PATH": os.environ["PATH"], **env},
        stdout=subprocess.DEVNULL, stderr=(tmp / "gunicorn.err").open("w"))
    try:
        wait_for(lambda: answers(port), 30, "gunicorn to listen")
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(20)
