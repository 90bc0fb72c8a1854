"""`make bench`: seed PostgreSQL at three sizes, measure, write bench/results/<date>.json.

Everything runs with production settings against real PostgreSQL (see bench/django_env.py);
the access check is served by gunicorn and loaded with wrk (throughput, and latency at a
fixed rate). Each stage prints as it goes; the table at the end is what bench/README.md keeps.

    python bench/run.py                  # all sizes, all measurements (what `make bench` runs)
    python bench/run.py --sizes small    # one size, for a quick look
    python bench/run.py --reuse          # keep databases already seeded by an earlier run
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from django_env import BENCH_PORT, bench_database, django_env  # noqa: E402

PYTHON = sys.executable
SIZES = {
    # name: (tenants, requests, audit events)
    "small": (100, 1_000, 50_000),
    "medium": (300, 10_000, 500_000),
    "large": (1_000, 100_000, 5_000_000),
    # Only with --sizes xlarge: seeding takes about half an hour and 20 GB of disk.
    "xlarge": (3_000, 300_000, 20_000_000),
}
DEFAULT_SIZES = ("small", "medium", "large")
GOALS = {
    # Pages: issue 15's goals (every page, free text too, ≤ 15 ms and ≤ 10 statements).
    "access ratio": 0.75, "access p99 ms": 10, "page p95 ms": 15, "free text p95 ms": 15,
    "page statements": 10,
    "export rows/s": 100_000, "export rss mb": 150, "append batched/s": 5_000,
    "verify ratio": 0.5, "pages/s": 100, "offline ratio": 0.2, "offline 5M s": 15,
    "ingest actions/s": 10_000,
}


def say(message):
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def run(args, env, *, capture=True):
    done = subprocess.run(args, env=env, cwd=ROOT, text=True,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None)
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def inprocess(what, env, **args):
    out = run([PYTHON, str(HERE / "inprocess.py"), what, json.dumps(args)], env)
    return json.loads(out.strip().splitlines()[-1])


def need_tools():
    missing = [tool for tool in ("wrk",) if shutil.which(tool) is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing {', '.join(missing)} with apt-get")
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True,
                       stdout=subprocess.DEVNULL)
        missing = [tool for tool in missing if shutil.which(tool) is None]
    if missing:
        sys.exit("bench: install wrk (apt-get install -y wrk).")


def _answers(port):
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def need_services():
    """PostgreSQL and Redis on their usual local ports, started the way .ci/run starts them
    when they are installed here but not running."""
    if "BENCH_DATABASE_URL" not in os.environ and not _answers(5432):
        versions = os.listdir("/etc/postgresql") if os.path.isdir("/etc/postgresql") else []
        if versions and shutil.which("pg_ctlcluster"):
            say("starting PostgreSQL")
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main",
                            "start"], check=False)
    if "CELERY_BROKER_URL" not in os.environ and not _answers(6379) and shutil.which(
            "redis-server"):
        say("starting Redis")
        subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port",
                        "6379", "--save", "", "--appendonly", "no"], check=False)
    for _ in range(30):
        if _answers(5432) and _answers(6379):
            return
        time.sleep(1)
    sys.exit("bench: PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) must answer; set "
             "BENCH_DATABASE_URL and CELERY_BROKER_URL to use others.")


def database_url():
    return os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")


def admin_sql(statement, database="postgres"):
    import psycopg

    with psycopg.connect(database_url().rstrip("/") + "/" + database, autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if statement.startswith("SELECT") else None


def earlier_seed(size):
    """The seeding numbers of the run that seeded a reused database: the latest results file
    that has them, marked with that run's date."""
    found = []
    for path in (HERE / "results").glob("*.json"):
        earlier = json.loads(path.read_text())
        seed = earlier.get("sizes", {}).get(size, {}).get("seed")
        if seed:
            found.append((earlier["date"], seed))
    if not found:
        return None
    date, seed = max(found, key=lambda item: item[0])
    return {**seed, "measured": seed.get("measured", date)}


def vacuum(size, name):
    """What autovacuum does to a live database in the background (hint bits, the visibility
    map, statistics), done before measuring: freshly COPYed rows would otherwise have their
    first readers write them back, and autovacuum may be off on a test machine."""
    say(f"{size}: VACUUM (ANALYZE)")
    admin_sql("VACUUM (ANALYZE)", database=name)


def prepare(size, reuse, prefix=None):
    """Create, migrate and seed <prefix><size> (lockbox_bench_<size> unless --db-prefix or
    BENCH_DB_PREFIX say otherwise); returns its env and the seed numbers."""
    name = bench_database(size, prefix)
    env = django_env(name)
    exists = admin_sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
    if reuse and exists:
        say(f"{size}: reusing the database {name}")
        run([PYTHON, "manage.py", "migrate", "--noinput"], env)
        vacuum(size, name)
        return env, earlier_seed(size)
    tenants, requests, events = SIZES[size]
    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{name}"')
    run([PYTHON, "manage.py", "migrate", "--noinput"], env)
    say(f"{size}: seeding {tenants:,} tenants, {requests:,} requests, {events:,} events")
    started = time.monotonic()
    # bench_seed belongs to the devtools app, which production settings do not install.
    seeding = {**env, "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.bench"}
    run([PYTHON, "manage.py", "bench_seed", f"--tenants={tenants}", f"--requests={requests}",
         f"--events={events}"], seeding, capture=False)
    seeded = time.monotonic() - started
    started = time.monotonic()
    out = run([PYTHON, "manage.py", "verify_audit"], env)
    verified = time.monotonic() - started
    chains = sum(1 for line in out.splitlines() if line.startswith("OK"))
    vacuum(size, name)
    say(f"{size}: seeded in {seeded:.0f} s; verify_audit: {chains} chains OK in {verified:.0f} s")
    return env, {"seconds": round(seeded, 1), "events_per_s": round(events / seeded),
                 "verify_seconds": round(verified, 1), "chains_ok": chains}


def disk(name):
    """The database's size on disk and that of each audit table, its TOAST and its indexes,
    in MB."""
    total = admin_sql(f"SELECT pg_database_size('{name}')")[0][0]
    rows = admin_sql(
        "SELECT c.relname, pg_relation_size(c.oid), "
        "coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0), "
        "i.indexrelid::regclass::text, pg_relation_size(i.indexrelid) "
        "FROM pg_class c LEFT JOIN pg_index i ON i.indrelid = c.oid "
        "WHERE c.relkind IN ('r', 'p') AND c.relname LIKE 'audit\\_%' ORDER BY 1, 4",
        database=name)
    tables = {}
    for table, heap, toast, index, index_size in rows:
        entry = tables.setdefault(table, {"heap_mb": round(heap / 2**20, 1),
                                          "toast_mb": round(toast / 2**20, 1), "indexes_mb": {}})
        if index:
            entry["indexes_mb"][index] = round(index_size / 2**20, 1)
    return {"database_mb": round(total / 2**20), "audit_tables": {
        table: entry for table, entry in tables.items() if entry["heap_mb"] >= 1}}


# The access check over HTTP.

WRK_SCRIPT = """
-- POST the access check's bodies in turn, one JSON object per line of $BENCH_BODIES; with
-- $BENCH_DELAY_MS, each connection pauses that long between requests (a fixed rate).
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

function request()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end

if pause > 0 then
  function delay() return pause end
end
"""

class Server:
    """gunicorn serving lockbox_portal.wsgi, as in production, on 127.0.0.1."""

    def __init__(self, env, workers):
        self.env, self.workers = env, workers

    def __enter__(self):
        self.process = subprocess.Popen(
            [str(Path(PYTHON).parent / "gunicorn"), "lockbox_portal.wsgi",
             f"--bind=127.0.0.1:{BENCH_PORT}", f"--workers={self.workers}",
             "--worker-class=gthread", "--threads=1", "--keep-alive=30",
             "--log-level=warning"],
            env=self.env, cwd=ROOT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{BENCH_PORT}/healthz", timeout=1)
                return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        sys.exit("bench: gunicorn did not answer /healthz within 30 s")

    def __exit__(self, *exc):
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def post(path, token, body):
    request = urllib.request.Request(
        f"http://127.0.0.1:{BENCH_PORT}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], 2)


def paced(path, setup, seconds, rate, connections=8):
    """wrk at about `rate` req/s: each connection pauses between requests, for a pause that a
    short trial run calibrates (wrk pauses in whole milliseconds)."""
    budget = 1000 * connections / rate
    trial = wrk(path, setup, 3, connections, rate=rate, delay_ms=max(round(budget) - 1, 0))
    spent = 1000 * connections / trial["rps"] - max(round(budget) - 1, 0)
    return wrk(path, setup, seconds, connections, rate=rate,
               delay_ms=max(round(budget - spent), 0))


def wrk(path, setup, seconds, connections, rate=None, delay_ms=0, timeout=2):
    """Requests per second and p50/p99 in ms from wrk; with `rate`, paced by `delay_ms`. A
    request unanswered after `timeout` seconds is an error."""
    script, bodies = HERE / "results" / "post.lua.tmp", HERE / "results" / "bodies.tmp"
    script.write_text(WRK_SCRIPT)
    bodies.write_text("".join(json.dumps(b) + "\n" for b in setup["bodies"]))
    env = dict(os.environ, BENCH_BODIES=str(bodies), BENCH_TOKEN=setup["token"],
               BENCH_DELAY_MS=str(delay_ms if rate else 0))
    out = subprocess.run(
        ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds}s",
         f"--timeout={timeout}s", "-s",
         str(script), "--latency", f"http://127.0.0.1:{BENCH_PORT}{path}"],
        env=env, text=True, capture_output=True, check=True).stdout
    script.unlink()
    bodies.unlink()
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"bench: wrk saw errors on {path}:\n{out}")
    exact = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    result = {"rps": round(exact), "rps_exact": exact}
    for p in (50, 99):
        result[f"p{p}_ms"] = _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1))
    return result


ROUNDS = 3


def _load(setup, env, workers, seconds):
    """Max throughput of the bare view and of the check, then latency at half of each.

    The machine's speed drifts over minutes (a shared host), so the two are measured in
    alternation, ROUNDS times, each round the better of 4 and 8 connections; the ratio is the
    median of the rounds' ratios and each maximum the median of its rounds.
    """
    check = "/api/v1/access/check"
    paths = (("bare", "/bench/bare"), ("check", check))
    result = {}
    with Server(env, workers):
        status, answer = post(check, setup["token"], setup["bodies"][0])
        if status != 200 or not answer.get("allowed"):
            sys.exit(f"bench: the bench grant is not allowed: {status} {answer}")
        for _, path in paths:
            wrk(path, setup, 3, 8)  # warm every worker and its database connection
        rounds = []
        for _ in range(ROUNDS):
            rounds.append({label: max(wrk(path, setup, seconds, c)["rps"] for c in (4, 8))
                           for label, path in paths})
        for label, _ in paths:
            result[label] = {"max_rps": round(statistics.median(r[label] for r in rounds)),
                             "rounds": [r[label] for r in rounds]}
        ratio = statistics.median(r["check"] / r["bare"] for r in rounds)
        for label, path in paths:
            half = paced(path, setup, seconds, result[label]["max_rps"] / 2)
            result[label].update({"at_rps": half["rps"], "p50_ms": half["p50_ms"],
                                  "p99_ms": half["p99_ms"]})
        result["ratio"] = round(ratio, 3)
    return result


def access(env, workers, seconds):
    setup = inprocess("access_setup", env, grants=200)
    say(f"access: {len(setup['bodies'])} engineers with a grant each; gunicorn, {workers} "
        "workers")
    result = {"workers": workers, "grants": len(setup["bodies"])}
    # As deployed: a yes may be reused for LOCKBOX_ACCESS_CACHE_MS (default 1000).
    result["default"] = _load(setup, env, workers, seconds)
    say(f"access: as deployed: {result['default']}")
    # Every check asks the database (LOCKBOX_ACCESS_CACHE_MS=0): the one round trip's cost.
    result["no_reuse"] = _load(setup, dict(env, LOCKBOX_ACCESS_CACHE_MS="0"), workers, seconds)
    say(f"access: every check asks the database: {result['no_reuse']}")
    # Correctness under the deployed settings: fill every worker's answers, revoke through the
    # one write path (it returns once no kept yes is left), then every check must say no.
    with Server(env, workers):
        check, body = "/api/v1/access/check", setup["bodies"][0]
        for _ in range(50):
            post(check, setup["token"], body)
        inprocess("revoke", env, request=setup["requests"][0])
        if any(post(check, setup["token"], body)[1].get("allowed") for _ in range(50)):
            sys.exit("bench: a check after the revocation allowed access")
    result["after_revoke"] = "50 of 50 checks denied"
    return result


# Pages under load.

def _get(path, cookie):
    """The status of a GET with the session cookie, redirects not followed (a page that sends
    the person to sign in answers 302)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(f"http://127.0.0.1:{BENCH_PORT}{path}",
                                     headers={"Cookie": cookie})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wrk_get(path, seconds, connections, cookie=None):
    """wrk GETs of `path` (with the session cookie if given): req/s and p50/p99 in ms."""
    out = subprocess.run(
        ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "--timeout", "30s", *(["-H", f"Cookie: {cookie}"] if cookie else []),
         f"http://127.0.0.1:{BENCH_PORT}{path}"],
        text=True, capture_output=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"bench: wrk saw errors on {path}:\n{out}")
    result = {"rps": round(float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), 1)}
    for p in (50, 99):
        result[f"p{p}_ms"] = _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1))
    return result


PAGE_ROUNDS = 2


def page_load(env, workers, seconds):
    """Signed-in pages through gunicorn, loaded with wrk, beside the bare view in the same run.

    One customer session (password and second factor, as a browser holds it) asks for the
    dashboard, a request page and the audit search; the bare view gets the same server. The
    machine's speed drifts, so the paths are measured in alternation, PAGE_ROUNDS times, each
    the better of 4 and 8 connections; each result is the median of its rounds.
    """
    setup = inprocess("signed_in", env)
    paths = {"bare view": ("/bench/bare", None),
             **{name: (path, setup["cookie"]) for name, path in setup["paths"].items()}}
    rounds = []
    with Server(env, workers):
        for name, (path, cookie) in paths.items():
            status = _get(path, cookie or "")
            if status != 200:
                sys.exit(f"bench: {name} answered {status} to the signed-in session")
            wrk_get(path, 3, 4, cookie)  # warm every worker
        for _ in range(PAGE_ROUNDS):
            rounds.append({name: max((wrk_get(path, seconds, c, cookie) for c in (4, 8)),
                                     key=lambda r: r["rps"])
                           for name, (path, cookie) in paths.items()})
    return {name: {"rps": round(statistics.median(r[name]["rps"] for r in rounds), 1),
                   "p50_ms": round(statistics.median(r[name]["p50_ms"] for r in rounds), 2),
                   "p99_ms": round(statistics.median(r[name]["p99_ms"] for r in rounds), 2),
                   "rounds": [r[name]["rps"] for r in rounds]} for name in paths}



# Ingest: the data plane's activity reports over HTTP.

def ingest(env, workers, seconds, grants=50, exact_batches=50):
    """POST /api/v1/activity in batches of 500 through gunicorn, beside the bare view.

    1. Setup (inprocess.ingest_setup): `grants` engineers, each with a grant on one mailbox of
       one tenant (a chain each), made through the write path, and a batch body per grant with
       some actions out of scope.
    2. Throughput: ROUNDS rounds in alternation, the bare view then the activity endpoint, each
       the better of 2 and 4 connections, with the same bodies and token: batches per second,
       actions per second (batches times 500) and the ratio of the two request rates.
    3. Exactness: with the server idle, count each chain's activity events; post
       `exact_batches` batches one by one, each of which must answer 500 recorded with the
       expected number flagged; count again: every chain must hold exactly the actions sent to
       it, flagged exactly as expected, and every chain verifies.
    """
    setup = inprocess("ingest_setup", env, grants=grants)
    batch = len(setup["bodies"][0]["actions"])
    say(f"ingest: {len(setup['bodies'])} engineers with a grant each, batches of {batch}; "
        f"gunicorn, {workers} workers")
    path, paths = "/api/v1/activity", (("bare", "/bench/bare"), ("ingest", "/api/v1/activity"))
    result = {"workers": workers, "grants": len(setup["bodies"]), "batch": batch}
    with Server(env, workers):
        status, answer = post(path, setup["token"], setup["bodies"][0])
        if status != 200 or answer.get("out_of_scope") != setup["flagged"][0]:
            sys.exit(f"bench: the first ingest batch was not recorded as expected: {status} "
                     f"{str(answer)[:300]}")
        for _, p in paths:
            wrk(p, setup, 5, 4, timeout=30)  # warm every worker and its database connection
        rounds = []
        for _ in range(ROUNDS):
            rounds.append({label: max(wrk(p, setup, seconds, c, timeout=30)["rps_exact"]
                                      for c in (2, 4))
                           for label, p in paths})
        for label, _ in paths:
            result[label] = {"max_rps": round(statistics.median(r[label] for r in rounds), 1),
                             "rounds": [r[label] for r in rounds]}
        result["actions_per_s"] = round(result["ingest"]["max_rps"] * batch)
        result["ratio"] = round(statistics.median(r["ingest"] / r["bare"] for r in rounds), 4)
        say(f"ingest: {result['actions_per_s']:,} actions/s ({result['ingest']['max_rps']} "
            f"batches/s; bare view {result['bare']['max_rps']:,} req/s; ratio "
            f"{result['ratio']})")
        time.sleep(1)  # let the last requests wrk gave up on finish on the server
        before = inprocess("ingest_counts", env, chains=setup["chains"])["counts"]
        sent = {chain: [0, 0] for chain in setup["chains"]}
        for n in range(exact_batches):
            i = n % len(setup["bodies"])
            status, answer = post(path, setup["token"], setup["bodies"][i])
            if (status, answer.get("recorded"), answer.get("out_of_scope")) != (
                    200, batch, setup["flagged"][i]):
                sys.exit(f"bench: ingest batch {n} answered {status} {str(answer)[:300]}")
            sent[setup["chains"][i]][0] += batch
            sent[setup["chains"][i]][1] += setup["flagged"][i]
    after = inprocess("ingest_counts", env, chains=setup["chains"], verify=True)
    wrong = [chain for chain in setup["chains"]
             if [a - b for a, b in zip(after["counts"][chain], before[chain], strict=True)]
             != sent[chain]]
    if wrong or after["broken"]:
        sys.exit(f"bench: ingest chains do not hold what was sent: {wrong[:3]}; "
                 f"not verifying: {after['broken'][:3]}")
    result["exact"] = (f"{exact_batches * batch:,} actions sent one batch at a time: each chain "
                       f"holds exactly its {sum(s[0] for s in sent.values()):,}, "
                       f"{sum(s[1] for s in sent.values()):,} flagged; "
                       f"{len(setup['chains'])} chains verify")
    say(f"ingest: {result['exact']}")
    return result


# Profiling.

# Where a check's time goes: each group is the share of samples with such a frame in its stack.
PROFILE_GROUPS = (
    ("whole request (Django test client)", "client.py"),
    ("middleware before and after the view", "middleware"),
    ("the view (lockbox's API code)", "approvals/api/"),
    ("the one prepared query (psycopg, round trip to PostgreSQL)", "psycopg/"),
    ("reading and writing JSON", "json/"),
)


def profile_access(reuse, checks=20_000):
    """py-spy samples an in-process loop of access checks that ask the database every time
    (LOCKBOX_ACCESS_CACHE_MS=0); prints the shares of PROFILE_GROUPS and writes the raw stacks to
    bench/results/access-profile.txt (flamegraph.pl or speedscope read them)."""
    spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
    if not Path(spy).exists():
        sys.exit("bench: --profile needs py-spy (pip install py-spy==0.4.3 into .venv)")
    need_services()
    env, _ = prepare("small", reuse)
    out = HERE / "results" / "access-profile.txt"
    out.parent.mkdir(exist_ok=True)
    say(f"profile: {checks:,} access checks under py-spy")
    run([spy, "record", "--format", "raw", "--rate", "250", "--output", str(out), "--",
         PYTHON, str(HERE / "inprocess.py"), "access_profile", json.dumps({"checks": checks})],
        dict(env, LOCKBOX_ACCESS_CACHE_MS="0"))
    stacks = []
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "access_profile" in stack:  # the measured loop, not start-up or setup
            stacks.append((stack, int(count)))
    total = sum(count for _, count in stacks) or 1
    say(f"profile: {total:,} samples of the check loop")
    for label, marker in PROFILE_GROUPS:
        share = sum(count for stack, count in stacks if marker in stack) / total
        print(f"  {share:6.1%}  {label}")


# Reporting.

def table(results):
    rows = []
    large = results.get("sizes", {}).get("large", {})
    acc = results.get("access")
    if acc:
        d, n = acc["default"], acc["no_reuse"]
        rows.append(("Access check, max throughput (req/s)",
                     f"{d['check']['max_rps']:,} vs bare view {d['bare']['max_rps']:,}",
                     f"ratio {d['ratio']:.2f}; asking the database every time: "
                     f"{n['check']['max_rps']:,} vs {n['bare']['max_rps']:,}, "
                     f"ratio {n['ratio']:.2f}", "≥ 0.75", d["ratio"] >= GOALS["access ratio"]))
        rows.append(("Access check, latency at half max",
                     f"p50 {d['check']['p50_ms']} ms, p99 {d['check']['p99_ms']} ms "
                     f"({d['check']['at_rps']:,} req/s)",
                     f"bare p99 {d['bare']['p99_ms']} ms; every time to the database: "
                     f"p99 {n['check']['p99_ms']} ms", "p99 < 10 ms",
                     d["check"]["p99_ms"] < GOALS["access p99 ms"]))
    load = results.get("page_load")
    if load:
        bare = load["bare view"]["rps"]
        for name, page in load.items():
            if name != "bare view":
                rows.append((f"Pages under load: {name} (pages/s)",
                             f"{page['rps']:,} vs bare view {bare:,}",
                             f"wrk, signed in, {results['page_load_workers']} gunicorn workers; "
                             f"p50 {page['p50_ms']} ms, p99 {page['p99_ms']} ms",
                             f"≥ {GOALS['pages/s']}", page["rps"] >= GOALS["pages/s"]))
    ing = results.get("ingest")
    if ing:
        rows.append((f"Ingest, POST /api/v1/activity in batches of {ing['batch']} (actions/s)",
                     f"{ing['actions_per_s']:,} ({ing['ingest']['max_rps']:,} batches/s)",
                     f"bare view {ing['bare']['max_rps']:,} req/s with the same bodies, ratio "
                     f"{ing['ratio']}; {ing['exact']}", "≥ 10,000 actions/s",
                     ing["actions_per_s"] >= GOALS["ingest actions/s"]))
    for name, page in large.get("pages", {}).items():
        small = results["sizes"].get("small", {}).get("pages", {}).get(name, {})
        limit = GOALS["free text p95 ms" if "free text" in name else "page p95 ms"]
        queries = f"{page['queries']} queries" + (
            f" ({small['queries']} at 1k requests)" if small else "")
        rows.append((f"Page: {name}", f"p50 {page['p50_ms']} ms, p95 {page['p95_ms']} ms",
                     queries, f"p95 ≤ {limit} ms, ≤ {GOALS['page statements']} queries",
                     page["p95_ms"] <= limit and page["queries"] <= GOALS["page statements"]
                     and (not small or small["queries"] == page["queries"])))
    for fmt, ex in large.get("export", {}).items():
        rows.append((f"Export {fmt} ({ex['rows']:,} events)", f"{ex['rows_per_s']:,} rows/s",
                     f"peak RSS {ex['peak_rss_mb']} MB", "≥ 100,000 rows/s, < 150 MB",
                     ex["rows_per_s"] >= GOALS["export rows/s"]
                     and ex["peak_rss_mb"] < GOALS["export rss mb"]))
    ap = large.get("append")
    if ap:
        rows.append(("Audit append (events/s)",
                     f"batched {ap['batched, one chain']:,} one chain, "
                     f"{ap['batched, 100 chains']:,} across 100",
                     f"single {ap['single, one chain']:,} / {ap['single, 100 chains']:,}",
                     "≥ 5,000 batched", min(ap["batched, one chain"], ap["batched, 100 chains"])
                     >= GOALS["append batched/s"]))
    ve = large.get("verify")
    if ve:
        rows.append((f"verify_audit ({ve['events']:,} events, {ve['jobs']} processes)",
                     f"{ve['verify_per_s']:,} events/s",
                     f"COPY of the same rows {ve['copy_fastest_per_s']:,}/s (one stream "
                     f"{ve['copy_one_stream_per_s']:,}, {ve['jobs']} streams "
                     f"{ve['copy_parallel_per_s']:,}): ratio {ve['ratio_to_copy']}",
                     "≥ 0.5 x COPY", ve["ratio_to_copy"] >= GOALS["verify ratio"]))
        rows.append((f"Offline verifier ({ve['offline_events']:,} exported events)",
                     f"{ve['offline_seconds']} s, {ve['offline_per_s']:,} events/s",
                     f"raw SHA-256 of the same bytes {ve['raw_sha256_per_s']:,}/s: ratio "
                     f"{ve['offline_ratio']}; 5,000,000 events at this rate: "
                     f"{ve['offline_5m_seconds']} s",
                     "≥ 0.2 x SHA-256, ≤ 15 s for 5M",
                     ve["offline_ratio"] >= GOALS["offline ratio"]
                     and ve["offline_5m_seconds"] <= GOALS["offline 5M s"]))
    seed = large.get("seed")
    if seed:
        rows.append(("bench_seed, default size", f"{seed['seconds']:.0f} s",
                     f"{seed['events_per_s']:,} events/s; {seed['chains_ok']} chains verify"
                     + (f" (seeded by the run of {seed['measured']})"
                        if "measured" in seed else ""),
                     "< 600 s", seed["seconds"] < 600))
    return rows


def by_size(results):
    """One column per measured size: what must stay flat as the log grows (pages, export,
    append, verify) beside what grows with it (seeding, disk)."""
    sizes = [s for s in SIZES if s in results["sizes"]]
    got = {s: results["sizes"][s] for s in sizes}
    lines = ["| | " + " | ".join(f"{s} ({SIZES[s][2]:,} events)" for s in sizes) + " |",
             "|---|" + "---|" * len(sizes)]

    def row(label, cell):
        cells = []
        for s in sizes:
            try:
                cells.append(cell(got[s]))
            except (KeyError, TypeError, StopIteration):
                cells.append("n/a")
        if any(c != "n/a" for c in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("seeding", lambda r: f"{r['seed']['seconds']:,.0f} s ({r['seed']['events_per_s']:,}/s)")
    row("database on disk", lambda r: f"{r['disk']['database_mb'] / 1024:,.1f} GB")
    row("audit events: heap + TOAST", lambda r: "{:,.0f} MB".format(
        r["disk"]["audit_tables"]["audit_auditevent"]["heap_mb"]
        + r["disk"]["audit_tables"]["audit_auditevent"]["toast_mb"]))
    row("audit events: indexes", lambda r: "{:,.0f} MB".format(sum(
        r["disk"]["audit_tables"]["audit_auditevent"]["indexes_mb"].values())))
    pages = next((got[s]["pages"] for s in sizes if "pages" in got[s]), {})
    for page in pages:
        row(f"page p95: {page}", lambda r, page=page: "{} ms ({} q)".format(
            r["pages"][page]["p95_ms"], r["pages"][page]["queries"]))
    for fmt in ("csv", "jsonl"):
        row(f"export {fmt}", lambda r, fmt=fmt: "{:,}/s, {} MB".format(
            r["export"][fmt]["rows_per_s"], r["export"][fmt]["peak_rss_mb"]))
    row("append batched, one chain / 100", lambda r: "{:,} / {:,}".format(
        r["append"]["batched, one chain"], r["append"]["batched, 100 chains"]))
    row("append single, one chain / 100", lambda r: "{:,} / {:,}".format(
        r["append"]["single, one chain"], r["append"]["single, 100 chains"]))
    row("verify_audit", lambda r: "{:,}/s (ratio {})".format(
        r["verify"]["verify_per_s"], r["verify"]["ratio"]))
    return "\n".join(lines)


def markdown(rows):
    lines = ["| Measurement | Result | Detail | Goal | Met |", "|---|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} | {'yes' if ok else '**no**'} |"
              for a, b, c, d, ok in rows]
    return "\n".join(lines)


def chart(results, path):
    """An SVG of page p95 against the number of audit events (a log scale: the sizes grow
    tenfold, the last fourfold), one line per page."""
    sizes = [s for s in SIZES if "pages" in results["sizes"].get(s, {})]
    if len(sizes) < 2:
        return False
    pages = list(results["sizes"][sizes[0]]["pages"])
    width, height, left, bottom, top = 720, 360, 60, 40, 20
    peak = max(results["sizes"][s]["pages"][p]["p95_ms"] for s in sizes for p in pages)
    ceiling = max(100, (int(peak / 25) + 1) * 25)
    colours = ["#1b5e9f", "#b5461a", "#2c7a3f", "#7a3f8f", "#8a6d00", "#0f7c7c", "#555"]

    import math

    logs = [math.log10(SIZES[s][2]) for s in sizes]

    def x(i):
        return left + (logs[i] - logs[0]) * (width - left - 220) / (logs[-1] - logs[0])

    def y(ms):
        return top + (1 - ms / ceiling) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    for ms in range(0, ceiling + 1, 25):
        parts.append(f'<line x1="{left}" x2="{width - 220}" y1="{y(ms):.1f}" y2="{y(ms):.1f}" '
                     f'stroke="#ddd"/><text x="{left - 8}" y="{y(ms) + 4:.1f}" '
                     f'text-anchor="end">{ms} ms</text>')
    for i, size in enumerate(sizes):
        parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 18}" text-anchor="middle">'
                     f'{SIZES[size][2] / 1e6:g}M events</text>')
    for n, page in enumerate(pages):
        colour = colours[n % len(colours)]
        points = " ".join(f"{x(i):.1f},{y(results['sizes'][s]['pages'][page]['p95_ms']):.1f}"
                          for i, s in enumerate(sizes))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                     f'stroke-width="2"/>')
        parts.append(f'<text x="{width - 210}" y="{top + 14 + n * 18}" fill="{colour}">'
                     f'— {page}</text>')
    parts.append(f'<text x="{left}" y="{top - 6}">page server time, p95 (lower is better)'
                 f'</text></svg>')
    path.write_text("\n".join(parts) + "\n")
    return True


def update_readme(results, rows, commands):
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    machine = results["machine"]
    block = "\n".join([
        start, "",
        f"Run {results['date']} on {machine['cpus']} CPUs ({machine['cpu']}), "
        f"{machine['memory_gb']} GB RAM, {machine['os']}, Python {machine['python']}, "
        f"PostgreSQL {machine['postgresql']}. Command: `{commands}`. "
        f"Raw numbers: `bench/results/{results['file']}`.", "",
        markdown(rows), "",
        "Page p95 against data size (requests; audit events grow with them):", "",
        "![page time against data size](results/pages.svg)", "",
        "| Page | " + " | ".join(f"{SIZES[s][1]:,} req p95 (queries)" for s in SIZES
                               if "pages" in results["sizes"].get(s, {})) + " |",
        "|---|" + "---|" * sum(1 for s in SIZES if "pages" in results["sizes"].get(s, {})),
        *[f"| {page} | " + " | ".join(
            f"{results['sizes'][s]['pages'][page]['p95_ms']} ms "
            f"({results['sizes'][s]['pages'][page]['queries']})"
            for s in SIZES if "pages" in results["sizes"].get(s, {})) + " |"
          for page in next(r["pages"] for r in results["sizes"].values() if "pages" in r)],
        "", end])
    if start in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)


def update_sizes(results, command):
    """The block of bench/README.md that compares the sizes of a run with xlarge."""
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = "<!-- sizes:start -->", "<!-- sizes:end -->"
    block = "\n".join([
        start, "", f"Run {results['date']}. Command: `{command}`. Raw numbers: "
        f"`bench/results/{results['file']}`.", "", by_size(results), "",
        "![page time against data size](results/pages.svg)", "", end])
    if start in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)


def machine():
    import psycopg

    with psycopg.connect(database_url().rstrip("/") + "/postgres") as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": round(memory / 1024 / 1024),
            "os": platform.platform(terse=True), "python": platform.python_version(),
            "postgresql": version.split()[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(DEFAULT_SIZES),
                        help="comma-separated: " + ", ".join(SIZES) + " (default: "
                        + ",".join(DEFAULT_SIZES) + ")")
    parser.add_argument("--db-prefix", default=None,
                        help="databases are named <prefix><size> (default $BENCH_DB_PREFIX, "
                             "else lockbox_bench_)")
    parser.add_argument("--no-access", action="store_true",
                        help="leave out the access check under load (gunicorn and wrk)")
    parser.add_argument("--seed-only", action="store_true",
                        help="create and seed the databases, record seeding and disk, measure "
                        "nothing else")
    parser.add_argument("--reuse", action="store_true",
                        help="keep bench databases seeded by an earlier run")
    parser.add_argument("--seconds", type=int, default=10, help="length of each load run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="gunicorn workers (default: one per CPU)")
    parser.add_argument("--page-requests", type=int, default=200,
                        help="requests per page measured in process (default 200)")
    parser.add_argument("--pages-only", action="store_true",
                        help="measure the pages alone: in-process, and under load with wrk")
    parser.add_argument("--no-readme", action="store_true",
                        help="print and save the results, leave bench/README.md alone")
    parser.add_argument("--ingest", action="store_true",
                        help="measure only the ingest step, on the last size given")
    parser.add_argument("--profile", action="store_true",
                        help="profile the access check with py-spy instead (small size)")
    options = parser.parse_args()
    if options.db_prefix is not None and not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}",
                                                          options.db_prefix):
        sys.exit("bench: --db-prefix is lower-case letters, digits and _")
    if options.profile:
        profile_access(options.reuse)
        return
    sizes = [s.strip() for s in options.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        sys.exit(f"bench: unknown size {unknown[0]!r}; choose from {', '.join(SIZES)}")
    need_tools()
    need_services()
    started = time.monotonic()
    results = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
               "sizes": {}}
    biggest = sizes[-1] if "large" not in sizes else "large"
    # xlarge is there to show what stays flat as the log grows: with it, export, append and
    # verify run at every size of the run, not at the biggest alone.
    everywhere = "xlarge" in sizes
    # Production serves hashed static files (WhiteNoise's manifest); pages need the manifest.
    run([PYTHON, "manage.py", "collectstatic", "--noinput"], django_env("postgres"))
    if options.ingest:
        env, _ = prepare(sizes[-1], options.reuse, options.db_prefix)
        results["ingest"] = ingest(env, options.workers, options.seconds)
        sizes = []
    for size in sizes:
        env, seed = prepare(size, options.reuse, options.db_prefix)
        out = results["sizes"][size] = {"counts": dict(zip(
            ("tenants", "requests", "events"), SIZES[size], strict=True))}
        if seed:
            out["seed"] = seed
        out["disk"] = disk(bench_database(size, options.db_prefix))
        say(f"{size}: disk: {out['disk']['database_mb']:,} MB")
        if options.seed_only:
            continue
        say(f"{size}: pages")
        out["pages"] = inprocess("pages", env, n=options.page_requests)
        for name, page in out["pages"].items():
            say(f"{size}:   {name}: {page}")
        if size != biggest and not everywhere:
            continue
        if size == biggest:
            if not options.pages_only and not options.no_access:
                results["access"] = access(env, options.workers, options.seconds)
            results["page_load"] = page_load(env, options.workers, options.seconds)
            results["page_load_workers"] = options.workers
            say(f"pages under load: {results['page_load']}")
            if options.pages_only:
                continue
            results["ingest"] = ingest(env, options.workers, options.seconds)
        out["export"] = {}
        for fmt in ("csv", "jsonl"):
            out["export"][fmt] = inprocess("export", env, format=fmt, rows=1_000_000)
            say(f"{size}: export {fmt}: {out['export'][fmt]}")
        out["append"] = inprocess("append", env)
        say(f"{size}: append: {out['append']}")
        out["verify"] = inprocess("verify", env)
        say(f"{size}: verify: {out['verify']}")
    results["seconds"] = round(time.monotonic() - started)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    results["file"] = next(name for n in range(1, 1000) if not (out_dir / (
        name := f"{stamp}.json" if n == 1 else f"{stamp}-{n}.json")).exists())
    (out_dir / results["file"]).write_text(json.dumps(results, indent=2) + "\n")
    rows = table(results)
    print()
    print(markdown(rows))
    print()
    print(by_size(results))
    print(f"\nbench: {results['seconds']} s; results in bench/results/{results['file']}")
    if not options.no_readme and "xlarge" in sizes and len(sizes) > 1:
        chart(results, out_dir / "pages.svg")
        update_sizes(results, "make bench BENCH_ARGS=\"" + " ".join(sys.argv[1:]) + "\"")
        print("bench: bench/README.md updated (sizes)")
    elif not options.no_readme and set(sizes) == set(DEFAULT_SIZES):
        chart(results, out_dir / "pages.svg")
        args = " ".join(sys.argv[1:])
        update_readme(results, rows, f"make bench BENCH_ARGS=\"{args}\"" if args else "make bench")
        print("bench: bench/README.md updated")


if __name__ == "__main__":
    main()
