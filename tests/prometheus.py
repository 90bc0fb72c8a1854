"""A real Prometheus server (Debian's `prometheus`) for tests: started on a free loopback port
with a generated configuration and its own storage, scraping the targets it is given every
second, stopped by the test."""

import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request

import pytest

from tests.processes import free_port, stop, wait_for

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def require(binary):
    """Skip (saying why) when `binary` is absent; in CI (LOCKBOX_REQUIRE_BROWSER=1) fail."""
    if shutil.which(binary):
        return
    why = f"{binary} is absent (.ci/run installs it: apt-get install -y nginx prometheus)"
    if os.environ.get("LOCKBOX_REQUIRE_BROWSER") == "1":
        pytest.fail(why)
    pytest.skip(why)


class Prometheus:
    """targets: {job name: ["127.0.0.1:port", ...]}."""

    def __init__(self, tmp, targets, *, rule_files=()):
        require(PROMETHEUS)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        folder = tmp / f"prometheus-{self.port}"
        folder.mkdir()
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(hosts)}]}
                               for job, hosts in targets.items()],
        }
        (folder / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
        self.log = folder / "prometheus.log"
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={folder / 'prometheus.yml'}",
             f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        try:
            wait_for(self._ready, 30, "prometheus to be ready")
        except AssertionError:
            self.stop()
            raise AssertionError(
                f"prometheus did not start:\n{self.log.read_text()[-3000:]}") from None

    def _ready(self):
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus stopped:\n{self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False

    def query(self, expr):
        """The instant vector `expr` evaluates to now: [(labels, float value)]."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = json.loads(answer.read())
        assert body["status"] == "success", body
        return [(item["metric"], float(item["value"][1])) for item in body["data"]["result"]]

    def value(self, expr):
        """The one value `expr` evaluates to, or None when it has no series."""
        found = self.query(expr)
        assert len(found) <= 1, found
        return found[0][1] if found else None

    def wait_for(self, expr, check, timeout=30):
        """Wait until `check(value of expr)` holds; return that value."""
        seen = []

        def holds():
            seen.append(self.value(expr))
            return seen[-1] is not None and check(seen[-1])

        try:
            wait_for(holds, timeout, f"{expr} in prometheus")
        except AssertionError:
            raise AssertionError(f"{expr}: last seen {seen[-1:]}") from None
        return seen[-1]

    def rules(self):
        """The names of the alerting rules Prometheus loaded."""
        with urllib.request.urlopen(f"{self.url}/api/v1/rules?type=alert", timeout=10) as answer:
            body = json.loads(answer.read())
        assert body["status"] == "success", body
        return {rule["name"] for group in body["data"]["groups"] for rule in group["rules"]}

    def stop(self):
        stop(self.process)
