"""The production topology on loopback, from the repository, for tests/ops/test_cluster.py.

nginx (TLS, self-signed) → two gunicorn instances per site (LOCKBOX_SITE=customer|internal) →
Redis (broker and cache) → two Celery workers and one beat → a PostgreSQL primary and its
streaming replica (tests/replication.PostgresPair); e-mail to a real SMTP sink, webhooks to a
receiver. Every process gets production settings from its environment only, as an operator
would give them. `Cluster.stop()` ends everything it started, also after a failure.

`Cluster.targets` names each process that listens, as host:port: the place to point a
Prometheus at.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.processes import (
    BIN,
    ROOT,
    Broker,
    Gunicorn,
    Nginx,
    Receiver,
    SmtpSink,
    Workers,
    collect_static,
    free_port,
    production_env,
    self_signed_certificate,
    stop,
    wait_for,
)
from tests.replication import PostgresPair

SITES = ("customer", "internal")
INSTANCES = 2  # gunicorn instances per site
GUNICORN_WORKERS = 2

NGINX_CONF = """
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events {{ worker_connections 512; }}
http {{
    access_log logs/access.log;
    client_body_temp_path temp/body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    client_max_body_size 2m;
    {upstreams}
    {servers}
}}
"""
SERVER = """
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        {extra}
        location / {{
            proxy_pass http://{site};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Request-ID $request_id;
            proxy_connect_timeout 2s;
            proxy_read_timeout 35s;
        }}
    }}
"""


class Cluster:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.started: list = []  # (what, stop function), stopped in reverse
        self.targets: dict[str, str] = {}
        self.instances: dict[str, list[Gunicorn]] = {site: [] for site in SITES}
        self.killed_children: list[int] = []
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    # -- start ------------------------------------------------------------------------------

    def _start(self):
        tmp = self.tmp
        self.pair = PostgresPair(tmp / "pg", dbname="lockbox")
        self._started("postgres", self.pair.stop)
        self.broker = Broker(tmp)
        self.broker.start()
        self._started("redis", lambda: stop(self.broker.process))
        self.smtp = SmtpSink()
        self._started("smtp sink", self.smtp.close)
        self.receiver = Receiver()
        self._started("webhook receiver", self.receiver.close)
        self.ports = {site: free_port() for site in SITES}
        self.urls = {site: f"https://127.0.0.1:{port}" for site, port in self.ports.items()}
        self.env = collect_static(production_env(
            DATABASE_URL=self.pair.primary_url(),
            DATABASE_REPLICA_URL=self.pair.replica_url(),
            CELERY_BROKER_URL=self.broker.url,
            CACHE_URL=f"redis://127.0.0.1:{self.broker.port}/1",
            LOCKBOX_PORTAL_URL=self.urls["customer"],
            LOCKBOX_INTERNAL_URL=self.urls["internal"],
            EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(self.smtp.port),
            # The receiver listens on loopback, which production otherwise refuses.
            LOCKBOX_WEBHOOK_ALLOW_PRIVATE="true",
            # A delivery whose worker was killed is taken up again after this long.
            LOCKBOX_OUTBOX_LEASE_SECONDS="10",
            LOCKBOX_TRUSTED_PROXY_COUNT="1",
        ), tmp)
        self.manage("migrate", "--noinput")
        self.seed = json.loads(self._python(["-m", "tests.cluster_seed", self.receiver.url]))
        for site in SITES:
            for n in range(INSTANCES):
                server = Gunicorn({**self.env, "LOCKBOX_SITE": site}, tmp,
                                  args=[f"--workers={GUNICORN_WORKERS}"],
                                  ready_headers={"X-Forwarded-Proto": "https"})
                self.instances[site].append(server)
                self._started(f"gunicorn {site}-{n + 1}", server.stop)
                self.targets[f"gunicorn-{site}-{n + 1}"] = f"127.0.0.1:{server.port}"
        self.cert, key = self_signed_certificate(tmp)
        self.nginx = Nginx(self._nginx_conf(self.cert, key), tmp, ports=self.ports.values())
        self._started("nginx", self.nginx.stop)
        for site, port in self.ports.items():
            self.targets[f"nginx-{site}"] = f"127.0.0.1:{port}"
        self.targets["redis"] = f"127.0.0.1:{self.broker.port}"
        self.targets["postgres-primary"] = f"127.0.0.1:{self.pair.primary_port}"
        self.targets["postgres-replica"] = f"127.0.0.1:{self.pair.replica_port}"
        self.workers = Workers(self.env, tmp)
        self._started("celery workers", self.workers.stop_all)
        self.worker_processes = [self.workers.start(), self.workers.start()]
        self.beat_log = tmp / "beat.log"
        self.beat = subprocess.Popen(
            [str(BIN / "celery"), "-A", "lockbox_portal", "beat", "--loglevel=INFO",
             "-s", str(tmp / "beat-schedule")], cwd=ROOT, env=self.env,
            stdout=self.beat_log.open("w"), stderr=subprocess.STDOUT)
        self._started("celery beat", lambda: stop(self.beat))
        wait_for(lambda: "beat: Starting" in self.beat_log.read_text()
                 or self.beat.poll() is not None, 60, "beat to start")
        if self.beat.poll() is not None:
            raise AssertionError(f"beat stopped:\n{self.beat_log.read_text()[-3000:]}")

    def _nginx_conf(self, cert, key):
        upstreams = "".join(
            f"upstream {site} {{ "
            + " ".join(f"server 127.0.0.1:{g.port};" for g in self.instances[site]) + " }\n"
            for site in SITES)
        servers = "".join(SERVER.format(
            port=self.ports[site], site=site,
            # The customer site never routes the provider's pages.
            extra="location /internal/ { return 404; }" if site == "customer" else "")
            for site in SITES)
        return NGINX_CONF.format(cert=cert, key=key, upstreams=upstreams, servers=servers)

    def _started(self, what, stopper):
        self.started.append((what, stopper))

    def _python(self, args, timeout=180):
        env = {**self.env, "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.production"}
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"{args} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def manage(self, *args, timeout=180):
        return self._python(["manage.py", *args], timeout=timeout)

    # -- faults -----------------------------------------------------------------------------

    def kill_gunicorn(self, site, index=0):
        """SIGKILL one instance's master, as a crashed host would; its workers, orphaned,
        notice and leave, and nginx sends the next requests to the other instance."""
        master = self.instances[site][index].process
        children = _children(master.pid)
        self.killed_children += children
        master.send_signal(signal.SIGKILL)
        master.wait(10)

    def kill_worker(self, index=0):
        self.workers.kill(self.worker_processes[index])

    def stop_redis(self):
        self.broker.stop()

    def start_redis(self):
        self.broker.start()

    # -- stop -------------------------------------------------------------------------------

    def stop(self):
        problems = []
        for what, stopper in reversed(self.started):
            try:
                stopper()
            except Exception as failure:  # stop the rest whatever one did
                problems.append(f"{what}: {failure!r}")
        self.started.clear()
        deadline = time.monotonic() + 10
        for pid in self.killed_children:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if problems:
            raise AssertionError("stopping the cluster: " + "; ".join(problems))


def _children(pid):
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
