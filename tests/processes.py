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

    def start(self, **env):
        """Another worker; `env` adds to the shared environment (a metrics port of its own)."""
        output = self.log.open("a")
        process = subprocess.Popen(
            [str(BIN / "celery"), "-A", "lockbox_portal", "worker", "--pool=solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO",
             "-n", f"test{len(self.processes)}@%h"],
            cwd=ROOT, env={**self.env, **env}, stdout=output, stderr=subprocess.STDOUT)
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


NGINX = Path("/usr/sbin/nginx")


def render_nginx(env, path):
    """deploy/nginx/render with `env` (and PATH) as its whole environment, written to `path`."""
    rendered = subprocess.run([str(ROOT / "deploy" / "nginx" / "render")], capture_output=True,
                              text=True, timeout=30, env={"PATH": os.environ["PATH"], **env})
    if rendered.returncode != 0:
        raise AssertionError(f"deploy/nginx/render failed: {rendered.stderr}")
    Path(path).write_text(rendered.stdout)
    return Path(path)


def self_signed_certificate(folder, names):
    """A certificate for the host names `names` and 127.0.0.1, and its key: (cert, key) paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(name) for name in names]
            + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "tls.pem", folder / "tls.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


class Nginx:
    """Debian's nginx running deploy/nginx/lockbox.conf, rendered by deploy/nginx/render, on
    free loopback ports with a self-signed certificate (`self.cert`) for both sites; every file
    under tmp/nginx. customer_apps and internal_apps are two "host:port" each (the same one
    twice when a test runs one gunicorn per site). Host names: CUSTOMER_HOST, INTERNAL_HOST."""

    CUSTOMER_HOST = "portal.lockbox.test"
    INTERNAL_HOST = "internal.lockbox.test"

    def __init__(self, tmp, *, customer_apps, internal_apps, static_root, env=None, ports=None):
        self.folder = tmp / "nginx"
        (self.folder / "logs").mkdir(parents=True, exist_ok=True)
        self.cert, self.key = self_signed_certificate(
            self.folder, [self.CUSTOMER_HOST, self.INTERNAL_HOST])
        # `ports` (some or all of these) when the apps must know the addresses before nginx runs.
        self.ports = {name: free_port() for name in
                      ("customer", "customer_http", "internal", "internal_http")}
        self.ports.update(ports or {})
        self.customer_url = f"https://{self.CUSTOMER_HOST}:{self.ports['customer']}"
        self.internal_url = f"https://{self.INTERNAL_HOST}:{self.ports['internal']}"
        values = {
            "LOCKBOX_PORTAL_URL": self.customer_url,
            "LOCKBOX_INTERNAL_URL": self.internal_url,
            "NGINX_CUSTOMER_SERVER_NAME": self.CUSTOMER_HOST,
            "NGINX_CUSTOMER_LISTEN": f"127.0.0.1:{self.ports['customer']}",
            "NGINX_CUSTOMER_HTTP_LISTEN": f"127.0.0.1:{self.ports['customer_http']}",
            "NGINX_CUSTOMER_CERT": str(self.cert), "NGINX_CUSTOMER_KEY": str(self.key),
            "NGINX_CUSTOMER_APP_1": customer_apps[0], "NGINX_CUSTOMER_APP_2": customer_apps[1],
            "NGINX_INTERNAL_SERVER_NAME": self.INTERNAL_HOST,
            "NGINX_INTERNAL_LISTEN": f"127.0.0.1:{self.ports['internal']}",
            "NGINX_INTERNAL_HTTP_LISTEN": f"127.0.0.1:{self.ports['internal_http']}",
            "NGINX_INTERNAL_CERT": str(self.cert), "NGINX_INTERNAL_KEY": str(self.key),
            "NGINX_INTERNAL_APP_1": internal_apps[0], "NGINX_INTERNAL_APP_2": internal_apps[1],
            "NGINX_STATIC_ROOT": str(static_root),
            "NGINX_PROXY_READ_TIMEOUT": "35s",
            "NGINX_LOG_DIR": str(self.folder / "logs"),
            **(env or {}),
        }
        site = render_nginx(values, self.folder / "lockbox.conf")
        temp = "".join(f"    {kind}_temp_path {self.folder / kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        # As root (the tests in CI), workers would run as nobody, who cannot read pytest's
        # temporary folders.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        self.conf = self.folder / "nginx.conf"
        self.conf.write_text(
            f"{user}worker_processes 1;\npid {self.folder / 'nginx.pid'};\n"
            f"error_log {self.folder / 'logs' / 'error.log'} warn;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n    include /etc/nginx/mime.types;\n"
            f"    default_type application/octet-stream;\n{temp}    include {site};\n}}\n")
        command = [str(NGINX), "-p", str(self.folder), "-c", str(self.conf)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            raise AssertionError(f"nginx -t refused the configuration:\n{checked.stderr}")
        self.process = subprocess.Popen([*command, "-g", "daemon off;"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(lambda: all(answers(port) for port in self.ports.values())
                 or self.process.poll() is not None, 15, "nginx to listen")
        if self.process.poll() is not None:
            raise AssertionError("nginx stopped:\n"
                                 + (self.folder / "logs" / "error.log").read_text()[-3000:])

    def access_log(self, site):
        path = self.folder / "logs" / f"lockbox-{site}.access.log"
        return path.read_text() if path.exists() else ""

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish requests in flight
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
