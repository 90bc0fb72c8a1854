"""Real processes for tests: free ports, waiting, a redis-server, Celery workers, gunicorn.

Each is started by the test on loopback and stopped by it. Environments are built from nothing
(only PATH is inherited), so a process sees exactly the configuration the test gives it.
"""

import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
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
        self.keys = []  # each delivery's Lockbox-Delivery header, repeats included
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.keys.append(self.headers.get("Lockbox-Delivery"))
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


class SmtpSink:
    """A real SMTP server on loopback (the subset Django's SMTP backend speaks: EHLO, MAIL,
    RCPT, DATA, RSET, NOOP, QUIT) that keeps every message it accepts, repeats included."""

    def __init__(self):
        self.messages = []
        self._lock = threading.Lock()
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 30

            def reply(self, line):
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.reply("220 sink ESMTP")
                while line := self.rfile.readline():
                    verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        self.reply("250-sink")
                        self.reply("250 8BITMIME")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        lines = []
                        while (part := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                            lines.append(part[1:] if part.startswith(b"..") else part)
                        with sink._lock:
                            sink.messages.append(message_from_bytes(b"".join(lines)))
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                        self.reply("250 ok")
                    else:
                        self.reply("502 not implemented")

        return Handler

    def message_ids(self):
        with self._lock:
            return [message["Message-ID"] for message in self.messages]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def self_signed_certificate(folder, names=("localhost",), addresses=("127.0.0.1",)):
    """(certificate, key) paths: a self-signed certificate for loopback, as `openssl` makes it;
    a client verifies the server with the certificate file itself."""
    cert, key = folder / "tls.crt", folder / "tls.key"
    alt = ",".join([*(f"DNS:{n}" for n in names), *(f"IP:{a}" for a in addresses)])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={alt}",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class Nginx:
    """Debian's nginx in the foreground with a configuration the test gives, its own prefix
    (logs, temp files, pid) in a folder of the test's."""

    BINARY = Path("/usr/sbin/nginx")

    def __init__(self, conf_text, tmp, *, ports):
        self.prefix = tmp / "nginx"
        for sub in ("logs", "temp"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(conf_text)
        test = subprocess.run([str(self.BINARY), "-t", "-p", str(self.prefix), "-c",
                               str(self.conf)], capture_output=True, text=True, timeout=30)
        if test.returncode != 0:
            raise AssertionError(f"nginx refused its configuration:\n{test.stderr}")
        self.process = subprocess.Popen(
            [str(self.BINARY), "-p", str(self.prefix), "-c", str(self.conf), "-g",
             "daemon off;"], stdout=subprocess.DEVNULL,
            stderr=(self.prefix / "logs" / "stderr.log").open("w"))
        wait_for(lambda: all(answers(p) for p in ports) or self.process.poll() is not None,
                 30, "nginx to listen")
        if self.process.poll() is not None:
            raise AssertionError("nginx stopped:\n"
                                 + (self.prefix / "logs" / "stderr.log").read_text())

    def stop(self):
        # SIGQUIT is nginx's graceful stop; stop() ends it with SIGTERM/SIGKILL if it lingers.
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
        stop(self.process)
