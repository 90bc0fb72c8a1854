"""The production topology on loopback, from the repository, for tests/ops/test_cluster.py.

nginx (deploy/nginx/lockbox.conf, TLS, self-signed) → two gunicorn instances per site
(LOCKBOX_SITE=customer|internal) → Redis (broker and cache) → two Celery workers and one beat →
a PostgreSQL primary and its streaming replica (tests/replication.PostgresPair); e-mail to a
real SMTP sink, webhooks to a receiver. Every process gets production settings from its
environment only, as an operator would give them. `Cluster.stop()` ends everything it started,
also after a failure.

Every Lockbox process (each gunicorn instance, each worker, beat, and the exporter) serves its
metrics on a listener of its own, and a real Prometheus (tests/prometheus.py) scrapes them all
with the shipped alert rules loaded: `Cluster.metrics` is {job: [host:port]}, `Cluster.targets`
every process that listens.
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
    answers,
    collect_static,
    free_port,
    production_env,
    stop,
    wait_for,
)
from tests.prometheus import Prometheus
from tests.replication import PostgresPair

SITES = ("customer", "internal")
INSTANCES = 2  # gunicorn instances per site
GUNICORN_WORKERS = 2

class Cluster:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.started: list = []  # (what, stop function), stopped in reverse
        self.targets: dict[str, str] = {}
        self.metrics: dict[str, list[str]] = {}  # Prometheus job -> metrics listeners
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
            # A delivery whose worker was killed is taken up again after this long: longer than
            # a live worker's send may take (EMAIL_TIMEOUT, the webhook timeout of 10 s).
            LOCKBOX_OUTBOX_LEASE_SECONDS="30", EMAIL_TIMEOUT="10",
            LOCKBOX_TRUSTED_PROXY_COUNT="1",
        ), tmp)
        self.manage("migrate", "--noinput")
        self.seed = json.loads(self._python(["-m", "tests.cluster_seed", self.receiver.url]))
        for site in SITES:
            for n in range(INSTANCES):
                server = Gunicorn({**self.env, "LOCKBOX_SITE": site,
                                   **self._metrics(f"lockbox-{site}", f"{site}-{n + 1}")}, tmp,
                                  args=[f"--workers={GUNICORN_WORKERS}"],
                                  ready_headers={"X-Forwarded-Proto": "https"})
                self.instances[site].append(server)
                self._started(f"gunicorn {site}-{n + 1}", server.stop)
                self.targets[f"gunicorn-{site}-{n + 1}"] = f"127.0.0.1:{server.port}"
        # deploy/nginx/lockbox.conf as an operator renders it, each site's upstream its two
        # instances; clients use https://127.0.0.1:<port> (the certificate names the address).
        self.nginx = Nginx(
            tmp, ports=self.ports, static_root=self.env["STATIC_ROOT"],
            customer_apps=[f"127.0.0.1:{g.port}" for g in self.instances["customer"]],
            internal_apps=[f"127.0.0.1:{g.port}" for g in self.instances["internal"]],
            env={"LOCKBOX_PORTAL_URL": self.urls["customer"],
                 "LOCKBOX_INTERNAL_URL": self.urls["internal"]})
        self.cert = self.nginx.cert
        self._started("nginx", self.nginx.stop)
        for site, port in self.ports.items():
            self.targets[f"nginx-{site}"] = f"127.0.0.1:{port}"
        self.targets["redis"] = f"127.0.0.1:{self.broker.port}"
        self.targets["postgres-primary"] = f"127.0.0.1:{self.pair.primary_port}"
        self.targets["postgres-replica"] = f"127.0.0.1:{self.pair.replica_port}"
        self.workers = Workers(self.env, tmp)
        self._started("celery workers", self.workers.stop_all)
        self.worker_processes = [self.workers.start(**self._metrics("lockbox-worker", f"w{n}"))
                                 for n in (1, 2)]
        self.beat_log = tmp / "beat.log"
        self.beat = subprocess.Popen(
            [str(BIN / "celery"), "-A", "lockbox_portal", "beat", "--loglevel=INFO",
             "-s", str(tmp / "beat-schedule")], cwd=ROOT,
            env={**self.env, **self._metrics("lockbox-beat", "beat")},
            stdout=self.beat_log.open("w"), stderr=subprocess.STDOUT)
        self._started("celery beat", lambda: stop(self.beat))
        wait_for(lambda: "beat: Starting" in self.beat_log.read_text()
                 or self.beat.poll() is not None, 60, "beat to start")
        if self.beat.poll() is not None:
            raise AssertionError(f"beat stopped:\n{self.beat_log.read_text()[-3000:]}")
        # One exporter per deployment reads the database's gauges (and the replica's lag).
        self.exporter = subprocess.Popen(
            [sys.executable, "manage.py", "lockbox_exporter"], cwd=ROOT,
            env={**self.env, **self._metrics("lockbox-exporter", "exporter"),
                 "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.production"},
            stdout=(tmp / "exporter.log").open("w"), stderr=subprocess.STDOUT)
        self._started("exporter", lambda: stop(self.exporter))
        for job, listeners in self.metrics.items():
            for listener in listeners:
                port = int(listener.rsplit(":", 1)[1])
                wait_for(lambda port=port: answers(port), 30, f"the {job} metrics listener")
        self.prometheus = Prometheus(
            tmp, self.metrics, rule_files=[ROOT / "deploy" / "prometheus" / "lockbox-rules.yml"])
        self._started("prometheus", self.prometheus.stop)

    def _metrics(self, job, name):
        """The environment that gives one process group its metrics listener."""
        port = free_port()
        folder = self.tmp / f"metrics-{name}"
        folder.mkdir()
        self.metrics.setdefault(job, []).append(f"127.0.0.1:{port}")
        self.targets[f"metrics-{name}"] = f"127.0.0.1:{port}"
        return {"LOCKBOX_METRICS_ADDR": "127.0.0.1", "LOCKBOX_METRICS_PORT": str(port),
                "PROMETHEUS_MULTIPROC_DIR": str(folder)}

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
