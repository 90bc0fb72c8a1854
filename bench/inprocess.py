"""Benchmarks that run inside one Django process (pages, export, append, verify).

Run by bench/run.py as `python bench/inprocess.py <what> <json args>` with the environment of
bench/django_env.py; prints one JSON object.
"""

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

BIG = "t0000"


class Counter(list):
    """A database execute wrapper that notes every statement."""

    def __call__(self, execute, sql, params, many, context):
        self.append(sql)
        return execute(sql, params, many, context)


def _client(email, **roles):
    from django.contrib.auth import get_user_model
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_static.models import StaticDevice

    user = get_user_model().objects.get(email=email)
    device, _ = StaticDevice.objects.get_or_create(user=user, name="bench")
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def _ensure_roles():
    """The people whose pages are measured: an admin of the big tenant who also approves and
    reads compliance, a manager and the auditor."""
    from django.contrib.auth import get_user_model

    from approvals.models import Tenant, TenantRole
    from approvals.tenants import add_tenant_member

    admin = get_user_model().objects.get(email=f"admin@{BIG}.bench")
    tenant = Tenant.objects.get(slug=BIG)
    for role in (TenantRole.APPROVER, TenantRole.COMPLIANCE_READER):
        add_tenant_member(tenant=tenant, user=admin, role=role)
    return tenant


def page_urls():
    """Each benchmarked page: (the signed-in client that reads it, its path)."""
    from approvals.models import AccessRequest

    tenant = _ensure_roles()
    customer = _client(f"admin@{BIG}.bench")
    manager = _client("mgr00@provider.bench")
    auditor = _client("auditor@provider.bench")
    request = (AccessRequest.objects.filter(tenant=tenant, state="completed")
               .order_by("-created_at").first())
    since = "2026-01-01"
    urls = {
        "customer dashboard": (customer, f"/t/{BIG}/"),
        "history": (customer, f"/t/{BIG}/history/"),
        "request page": (customer, f"/t/{BIG}/requests/{request.pk}/"),
        "audit search (filters)": (customer, f"/t/{BIG}/audit/?action=activity.recorded"
                                             f"&since={since}"),
        "audit search (free text)": (customer, f"/t/{BIG}/audit/?q=mailbox+user12"),
        # Words that meet in a hundred of the tenant's million events (requests submitted
        # for user12, user120-129): the page cannot fill from the newest events.
        "audit search (free text, rare)": (customer, f"/t/{BIG}/audit/?q=submitted+user12"),
        "internal queue": (manager, "/internal/queue/"),
        "provider audit": (auditor, "/internal/audit/?action=request.approved"),
    }
    return urls


def pages(args):
    results = {}
    for name, (client, url) in page_urls().items():
        for _ in range(10):
            response = client.get(url)
            assert response.status_code == 200, (name, response.status_code)
        queries = Counter()
        with connection.execute_wrapper(queries):
            client.get(url)
        times = []
        for _ in range(args.get("n", 200)):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        results[name] = {"queries": len(queries), "p50_ms": round(statistics.median(times), 2),
                         "p95_ms": round(times[int(len(times) * 0.95) - 1], 2)}
    return results


def signed_in(args):
    """A signed-in customer session (password and second factor) for a load test from outside
    the process: its cookie, and the paths of the pages loaded with it."""
    from django.conf import settings

    from approvals.models import AccessRequest

    tenant = _ensure_roles()
    client = _client(f"admin@{BIG}.bench")
    request = (AccessRequest.objects.filter(tenant=tenant, state="completed")
               .order_by("-created_at").first())
    name = settings.SESSION_COOKIE_NAME
    return {"cookie": f"{name}={client.cookies[name].value}",
            "paths": {"customer dashboard": f"/t/{BIG}/",
                      "request page": f"/t/{BIG}/requests/{request.pk}/",
                      "audit search (filters)": f"/t/{BIG}/audit/?action=activity.recorded"
                                                f"&since=2026-01-01"}}


def export(args):
    """The tenant export, as the download view streams it, into /dev/null: rows (lines less
    the CSV header) per second and the process's peak memory."""
    from audit import export as exports
    from audit.selectors import search_events

    lines = {"csv": exports.csv_lines, "jsonl": exports.jsonl_lines}[args["format"]]
    rows = search_events(f"tenant:{BIG}").filter(seq__lte=args.get("rows", 1_000_000))
    count, size = 0, 0
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        for chunk in lines(rows):
            chunk = chunk.encode() if isinstance(chunk, str) else chunk
            sink.write(chunk)
            count += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.perf_counter() - started
    count -= args["format"] == "csv"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": count, "seconds": round(seconds, 2), "rows_per_s": round(count / seconds),
            "mb": round(size / 1e6, 1), "peak_rss_mb": round(peak, 1)}


def append(args):
    from audit.services import record_event, record_events

    n = args.get("n", 2000)
    out = {}
    started = time.perf_counter()
    for i in range(n):
        record_event(chain="bench:one", action="bench.appended", data={"i": i})
    out["single, one chain"] = round(n / (time.perf_counter() - started))
    started = time.perf_counter()
    for i in range(n):
        record_event(chain=f"bench:many-{i % 100}", action="bench.appended", data={"i": i})
    out["single, 100 chains"] = round(n / (time.perf_counter() - started))
    batch = args.get("batch", 500)
    total = n * 10
    started = time.perf_counter()
    for _ in range(total // batch):
        record_events(chain="bench:one", events=[
            {"action": "bench.appended", "data": {"i": i}} for i in range(batch)])
    out["batched, one chain"] = round(total / (time.perf_counter() - started))
    started = time.perf_counter()
    for b in range(total // batch):
        record_events(chain=f"bench:many-{b % 100}", events=[
            {"action": "bench.appended", "data": {"i": i}} for i in range(batch)])
    out["batched, 100 chains"] = round(total / (time.perf_counter() - started))
    return out


def verify(args):
    """Verification at the speed of the disk (issue 15), all in one run:

    1. `verify_audit` over every chain (one process per CPU), events per second;
    2. the fastest read of the same rows out of PostgreSQL: COPY of the columns verification
       reads, as one stream and as one stream per CPU (halves of the table by block), no
       ordering, no Python per row: the ratio is verify_audit's rate to the faster of the two;
    3. the offline verifier (tools/lockbox_verify.py, its own process) on the big tenant's
       JSON Lines export as the portal writes it, against raw SHA-256 of the same events'
       hashed bytes in this process: the ratio, and the seconds it would take for 5,000,000
       events at the rate it ran (its start, timed on a one-line export, counted once).
    """
    import hashlib
    import subprocess
    import tempfile
    from multiprocessing import get_context

    from django.core.management import call_command

    from audit import export as exports
    from audit.checkpoints import as_document, checkpoint_chains
    from audit.models import AuditEvent, Checkpoint
    from audit.selectors import search_events
    from audit.signing import published_keys

    # What beat does every minute in a deployment: events appended earlier in the run (the
    # access check's grants, the append benchmark) are signed, however long the run took.
    checkpoint_chains()
    total = AuditEvent.objects.count()
    jobs = os.cpu_count() or 1
    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        call_command("verify_audit", f"--jobs={jobs}", stdout=sink)
    seconds = time.perf_counter() - started

    one = _copy_rate([(None, None)], total)
    with connection.cursor() as cursor:
        cursor.execute("SELECT relpages FROM pg_class WHERE relname = 'audit_auditevent'")
        pages = cursor.fetchone()[0] + 1
    step = pages // jobs + 1
    halves = [(k * step, (k + 1) * step) for k in range(jobs)]
    connection.close()
    with get_context("fork").Pool(jobs) as pool:
        started = time.perf_counter()
        copied = sum(pool.map(_copy_part, halves))
        parallel = copied / (time.perf_counter() - started)
    fastest = max(one, parallel)

    chain = f"tenant:{BIG}"
    with tempfile.TemporaryDirectory() as tmp:
        path, cps, keys = (Path(tmp) / name for name in
                           ("export.jsonl", "checkpoints.json", "keys.json"))
        with open(path, "wb") as out:
            for chunk in exports.jsonl_lines(search_events(chain)):
                out.write(chunk.encode() if isinstance(chunk, str) else chunk)
        cps.write_text(json.dumps({"chain": chain, "checkpoints": [
            as_document(c) for c in Checkpoint.objects.filter(chain=chain)]}))
        keys.write_text(json.dumps({"keys": published_keys()}))
        verifier = [sys.executable, str(Path(__file__).resolve().parent.parent / "tools"
                                        / "lockbox_verify.py")]
        # Its start (Python, the keys): the same command on the export's first line alone.
        first = Path(tmp) / "first.jsonl"
        with open(path, "rb") as lines:
            first.write_bytes(lines.readline())
        started = time.perf_counter()
        subprocess.run([*verifier, str(first), "--keys", str(keys)], check=True,
                       capture_output=True)
        startup = time.perf_counter() - started
        started = time.perf_counter()
        done = subprocess.run([*verifier, str(path), "--checkpoints", str(cps), "--keys",
                               str(keys)], capture_output=True, text=True)
        offline_seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"bench: the offline verifier failed: {done.stdout}{done.stderr}")
        size = path.stat().st_size
        with open(path, "rb") as lines:
            # The bytes each event's hash was taken over: the line up to its hash, and the
            # version (audit.encoding.export_line).
            bodies = [line[:line.rindex(b',"hash":')] + b',"v":1}' for line in lines]
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for body in bodies:
        sha256(body).hexdigest()
    raw_rate = len(bodies) / (time.perf_counter() - started)
    offline_rate = len(bodies) / offline_seconds
    rate = total / seconds
    return {"events": total, "seconds": round(seconds, 1), "jobs": jobs,
            "verify_per_s": round(rate), "copy_one_stream_per_s": round(one),
            "copy_parallel_per_s": round(parallel), "copy_fastest_per_s": round(fastest),
            "ratio_to_copy": round(rate / fastest, 3),
            "offline_events": len(bodies), "offline_seconds": round(offline_seconds, 2),
            "offline_per_s": round(offline_rate), "export_mb": round(size / 1e6, 1),
            "raw_sha256_per_s": round(raw_rate),
            "offline_ratio": round(offline_rate / raw_rate, 3),
            "offline_startup_seconds": round(startup, 2),
            "offline_5m_seconds": round(
                startup + (offline_seconds - startup) * 5_000_000 / len(bodies), 1),
            "mean_event_bytes": round(sum(map(len, bodies)) / len(bodies))}


# The columns verification reads (audit.reading), as stored.
_VERIFIED = ("seq, occurred_at, action, actor_id, actor_email, request_id, data, "
             "canonical_data, prev_hash, hash")


def _copy_rate(parts, total):
    started = time.perf_counter()
    copied = sum(map(_copy_part, parts))
    assert copied == total, (copied, total)
    return copied / (time.perf_counter() - started)


def _copy_part(blocks):
    """COPY the verified columns of the table's blocks [first, last) (all with None), as
    bytes into nothing: how many rows came."""
    first, last = blocks
    where = ("" if first is None else
             f" WHERE ctid >= '({first},0)'::tid AND ctid < '({last},0)'::tid")
    from lockbox_portal.db.limits import unbounded_statements

    count = 0
    with unbounded_statements(), connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY (SELECT {_VERIFIED} FROM audit_auditevent{where}) TO STDOUT") as copy:
        for block in copy:
            count += bytes(block).count(b"\n")
    connection.close()
    return count


def access_setup(args):
    """A data-plane token and `grants` engineers with access to one tenant each, made through
    the write path (submitted, approved by a manager and by the tenant), so the run does not
    depend on how long ago the data was seeded."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model

    from approvals import transitions
    from approvals.models import Tenant
    from approvals.tokens import create_token

    users = get_user_model().objects
    manager = users.get(email="mgr00@provider.bench")
    bodies, requests = [], []
    for i in range(args.get("grants", 200)):
        tenant = Tenant.objects.get(slug=f"t{i % Tenant.objects.count():04d}")
        engineer = users.get(email=f"eng{i % 50:03d}@provider.bench")
        resource = f"exchange/mailbox/bench{i}@{tenant.slug}.bench"
        request = transitions.submit_request(
            requester=engineer, tenant=tenant, case_reference=f"BENCH-{i}",
            justification="make bench: the access check under load.",
            reason_type="customer_initiated_support", scope=[resource],
            requested_duration=timedelta(hours=4))
        transitions.internal_approve(access_request=request, actor=manager)
        transitions.customer_approve(access_request=request,
                                     actor=users.get(email=f"approver1@{tenant.slug}.bench"))
        bodies.append({"engineer": engineer.email, "tenant": tenant.slug, "resource": resource,
                       "access_level": "read_only"})
        requests.append(str(request.pk))
    _, raw = create_token(owner=manager, name="bench", purpose="data_plane", days=1)
    return {"token": raw, "bodies": bodies, "requests": requests}


def revoke(args):
    from django.contrib.auth import get_user_model

    from approvals import transitions
    from approvals.models import AccessRequest

    manager = get_user_model().objects.get(email="mgr00@provider.bench")
    transitions.revoke(access_request=AccessRequest.objects.get(pk=args["request"]), actor=manager,
                       comment="make bench: the next check must deny")
    return {"revoked": args["request"]}


def access_profile(args):
    """`checks` access checks through every middleware, in this process, for a profiler to
    watch (bench/run.py --profile): what one check spends its time on."""
    setup = access_setup({"grants": 20})
    client = Client(SERVER_NAME="localhost")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {setup['token']}"}
    bodies = [json.dumps(body) for body in setup["bodies"]]
    started = time.perf_counter()
    checks = args.get("checks", 20_000)
    for n in range(checks):
        response = client.post("/api/v1/access/check", bodies[n % len(bodies)],
                               content_type="application/json", **headers)
        if response.status_code != 200 or not response.json()["allowed"]:
            raise SystemExit(f"access_profile: check {n} was not allowed: {response.content}")
    seconds = time.perf_counter() - started
    return {"checks": checks, "per_check_ms": round(seconds / checks * 1000, 3)}


# --- Ingest: the data plane's activity reports (bench/run.py's ingest step) ---------------------

INGEST_BATCH = 500


def _ingest_actions(i, slug, at, batch):
    """One batch of `batch` actions by the engineer of grant `i`: mostly reads, lists and
    searches inside the grant's mailbox, and, as a real data plane reports them, some outside
    it: another mailbox (1 in 25), a write under the read-only grant (1 in 50) and a path that
    climbs out ("..", 1 in 250). Returns (actions, how many a correct judge flags)."""
    mailbox = f"exchange/mailbox/ingest{i}@{slug}.bench"
    operations = ("read", "list", "search", "read", "read")
    actions, flagged = [], 0
    for n in range(batch):
        action = {"resource": f"{mailbox}/folders/inbox/messages/m{(i * 7919 + n) % 100_000}",
                  "operation": operations[n % len(operations)], "access_level": "read_only",
                  "at": at, "outcome": "failure" if n % 40 == 39 else "success"}
        if n % 250 == 125:
            action["resource"] = f"{mailbox}/../ceo@{slug}.bench"
        elif n % 50 == 17:
            action.update(operation="delete", access_level="read_write")
        elif n % 25 == 3:
            action["resource"] = f"exchange/mailbox/ceo@{slug}.bench/folders/inbox"
        else:
            actions.append(action)
            continue
        flagged += 1
        actions.append(action)
    return actions, flagged


def ingest_setup(args):
    """A data-plane token and `grants` engineers, each with a read-only grant on one mailbox of
    one tenant made through the write path, and one batch body per grant of INGEST_BATCH
    actions timed just after the grant began. Returns the token, the bodies, how many of each
    body's actions are out of scope, and each body's chain."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model

    from approvals import transitions
    from approvals.models import Tenant
    from approvals.tokens import create_token
    from audit.encoding import format_time
    from lockbox_portal import clock

    users = get_user_model().objects
    manager = users.get(email="mgr00@provider.bench")
    tenants = list(Tenant.objects.order_by("slug")[:args.get("tenants", 50)])
    bodies, flagged, chains = [], [], []
    for i in range(args.get("grants", 50)):
        tenant = tenants[i % len(tenants)]
        engineer = users.get(email=f"eng{i % 50:03d}@provider.bench")
        request = transitions.submit_request(
            requester=engineer, tenant=tenant, case_reference=f"INGEST-{i}",
            justification="make bench: activity reports under load.",
            reason_type="customer_initiated_support",
            scope=[f"exchange/mailbox/ingest{i}@{tenant.slug}.bench/*"],
            requested_duration=timedelta(hours=4))
        transitions.internal_approve(access_request=request, actor=manager)
        transitions.customer_approve(access_request=request,
                                     actor=users.get(email=f"approver1@{tenant.slug}.bench"))
        at = format_time(clock.now() + timedelta(seconds=1))
        actions, bad = _ingest_actions(i, tenant.slug, at, args.get("batch", INGEST_BATCH))
        bodies.append({"tenant": tenant.slug, "engineer": engineer.email, "actions": actions})
        flagged.append(bad)
        chains.append(tenant.audit_chain)
    _, raw = create_token(owner=manager, name="bench ingest", purpose="data_plane", days=1)
    return {"token": raw, "bodies": bodies, "flagged": flagged, "chains": chains}


def ingest_counts(args):
    """How many activity events each of `chains` holds, recorded and flagged, and whether each
    chain verifies."""
    from django.db.models import Count, Q

    from audit.keyring import pinned
    from audit.models import AuditEvent, SigningKey
    from audit.verification import verify_chain

    flagged = Count("id", filter=Q(action="activity.out_of_scope"))
    rows = (AuditEvent.objects.filter(chain__in=args["chains"], action__startswith="activity.")
            .values("chain").annotate(total=Count("id"), flagged=flagged))
    counts = {row["chain"]: [row["total"], row["flagged"]] for row in rows}
    out = {"counts": {c: counts.get(c, [0, 0]) for c in args["chains"]}}
    if args.get("verify"):
        # A reused database was signed with the key of the run that seeded it: the keys it
        # published are trusted here, as this checks the chains' hashes, not the key pinning.
        keys = {k.key_id: pinned(k.public_key, current=False, where="bench")
                for k in SigningKey.objects.all()}
        out["broken"] = [c for c in args["chains"] if not verify_chain(c, keys=keys).ok]
    return out


def ingest_profile(args):
    """`batches` activity batches through every middleware, in this process, under cProfile:
    where a batch of INGEST_BATCH actions spends its time. Prints the top functions to stderr
    and writes the stats to bench/results/ingest-profile.pstats."""
    import cProfile
    import pstats

    setup = ingest_setup({"grants": args.get("grants", 10)})
    client = Client(SERVER_NAME="localhost")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {setup['token']}"}
    bodies = [json.dumps(body) for body in setup["bodies"]]
    batches = args.get("batches", 100)

    def post(n):
        response = client.post("/api/v1/activity", bodies[n % len(bodies)],
                               content_type="application/json", **headers)
        if response.status_code != 200:
            raise SystemExit(f"ingest_profile: batch {n}: {response.status_code} "
                             f"{response.content[:300]}")

    for n in range(5):
        post(n)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for n in range(batches):
        post(n)
    profiler.disable()
    seconds = time.perf_counter() - started
    out = Path(__file__).resolve().parent / "results" / "ingest-profile.pstats"
    profiler.dump_stats(str(out))
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats(args.get("sort", "cumulative")).print_stats(args.get("top", 60))
    return {"batches": batches, "per_batch_ms": round(seconds / batches * 1000, 2),
            "actions_per_s": round(batches * INGEST_BATCH / seconds)}


def ingest_cpu(args):
    """Where a batch's CPU goes: `batches` activity batches through the test client, with this
    process's CPU time and that of its PostgreSQL backend (read from /proc, so the database must
    run on this machine), and one bare POST of the same body for scale."""
    setup = ingest_setup({"grants": args.get("grants", 10)})
    client = Client(SERVER_NAME="localhost")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {setup['token']}"}
    bodies = [json.dumps(body) for body in setup["bodies"]]

    def post(n):
        response = client.post("/api/v1/activity", bodies[n % len(bodies)],
                               content_type="application/json", **headers)
        if response.status_code != 200:
            raise SystemExit(f"ingest_cpu: batch {n}: {response.status_code}")

    post(0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        stat = Path(f"/proc/{cursor.fetchone()[0]}/stat")

    def backend_cpu():
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    batches = args.get("batches", 20)
    cpu, db = time.process_time(), backend_cpu()
    for n in range(batches):
        post(n)
    cpu, db = time.process_time() - cpu, backend_cpu() - db
    bare = time.process_time()
    for _ in range(200):
        client.post("/bench/bare", bodies[0], content_type="application/json")
    bare = time.process_time() - bare
    return {"batches": batches, "python_cpu_ms": round(cpu / batches * 1000, 1),
            "postgresql_cpu_ms": round(db / batches * 1000, 1),
            "bare_post_python_cpu_ms": round(bare / 200 * 1000, 2)}

AUDIT_PAGES = {
    "audit search (filters)": (f"admin@{BIG}.bench",
                               f"/t/{BIG}/audit/?action=activity.recorded&since=2026-01-01"),
    "audit search (free text)": (f"admin@{BIG}.bench", f"/t/{BIG}/audit/?q=mailbox+user12"),
    "audit search (free text, rare)": (f"admin@{BIG}.bench",
                                       f"/t/{BIG}/audit/?q=submitted+user12"),
    "provider audit": ("auditor@provider.bench", "/internal/audit/?action=request.approved"),
    "request page": (f"admin@{BIG}.bench", None),
}


def _plan_totals(plan):
    """Shared buffers hit and read over a plan (the top node counts its children's)."""
    return plan.get("Shared Hit Blocks", 0), plan.get("Shared Read Blocks", 0)


def layout(args):
    """What grows with the audit table (bench/README.md, "The audit table's layout"):

    - each B-tree's depth (pageinspect) and size;
    - EXPLAIN (ANALYZE, BUFFERS) of every statement of the audit pages that reads
      audit_auditevent: buffers touched and time, which stay flat when the plans walk an
      index from one end, and grow when they scan;
    - deleting a chain's `batch` oldest events (as an archive run would, in one bounded
      batch) and the VACUUM that follows, in PostgreSQL's default mode (which skips the
      indexes when few pages have dead rows) and with INDEX_CLEANUP ON (what it must do
      sooner or later: read every index of the table in full). The events are put back
      afterwards, with their ids, so the chain verifies again.
    """
    from django.conf import settings

    from approvals.models import AccessRequest
    from lockbox_portal.db import limits

    limits.lift_for_this_process()  # a VACUUM of the whole table is one long statement
    tenant = _ensure_roles()
    out = {"indexes": {}, "explain": {}}
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        cursor.execute(
            "SELECT c.relname, am.amname, pg_relation_size(c.oid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
            "WHERE i.indrelid = 'audit_auditevent'::regclass ORDER BY 1")
        for name, kind, size in cursor.fetchall():
            entry = {"mb": round(size / 2**20, 1)}
            if kind == "btree":
                cursor.execute("SELECT level FROM bt_metap(%s)", [name])
                entry["levels"] = cursor.fetchone()[0] + 1  # the root's level counts from 0
            out["indexes"][name] = entry
        cursor.execute("SELECT pg_relation_size('audit_auditevent'), "
                       "(SELECT count(*) FROM audit_auditevent)")
        heap, rows = cursor.fetchone()
        out["heap_mb"], out["events"] = round(heap / 2**20, 1), rows

    request = (AccessRequest.objects.filter(tenant=tenant, state="completed")
               .order_by("-created_at").first())
    for name, (email, url) in AUDIT_PAGES.items():
        url = url or f"/t/{BIG}/requests/{request.pk}/"
        client = _client(email)
        client.get(url)
        statements = []

        def keep(execute, sql, params, many, context, statements=statements):
            statements.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(keep):
            assert client.get(url).status_code == 200
        plans = []
        for sql, params in statements:
            if "audit_auditevent" not in sql or not sql.lstrip().upper().startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
                plan = cursor.fetchone()[0]
                plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]
            hit, read = _plan_totals(plan["Plan"])
            plans.append({"ms": round(plan["Execution Time"], 2), "buffers": hit + read,
                          "read": read, "top": plan["Plan"]["Node Type"],
                          "sql": sql[:160]})
        out["explain"][name] = {
            "statements": len(plans), "buffers": sum(p["buffers"] for p in plans),
            "ms": round(sum(p["ms"] for p in plans), 2), "plans": plans}

    batch = args.get("batch", 10_000)
    chain = f"tenant:{BIG}"
    columns = ("id, chain, seq, occurred_at, action, actor_id, actor_email, request_id, data, "
               "prev_hash, hash")
    cost = {}
    database = settings.DATABASES["default"]["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE kept AS SELECT " + columns + " FROM audit_auditevent "
                       "WHERE chain = %s AND seq <= %s", [chain, batch])
        cursor.execute("SELECT count(DISTINCT (ctid::text::point)[0]) FROM audit_auditevent "
                       "WHERE chain = %s AND seq <= %s", [chain, batch])
        cost["heap_pages_touched"] = cursor.fetchone()[0]
        # The archive helper's trigger-guarded path is not here yet: as superuser, the
        # append-only trigger is skipped for this session alone.
        cursor.execute("SET session_replication_role = replica")
        started = time.perf_counter()
        cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s AND seq <= %s",
                       [chain, batch])
        cost["deleted"] = cursor.rowcount
        cost["delete_ms"] = round((time.perf_counter() - started) * 1000)
        for mode, option in (("vacuum_default_ms", ""),
                             ("vacuum_index_cleanup_ms", "(INDEX_CLEANUP ON) ")):
            started = time.perf_counter()
            cursor.execute(f"VACUUM {option}audit_auditevent")
            cost[mode] = round((time.perf_counter() - started) * 1000)
            if mode == "vacuum_default_ms":
                # Put back and delete again, so that the second VACUUM has the same to do.
                cursor.execute(f"INSERT INTO audit_auditevent ({columns}) "
                               f"SELECT {columns} FROM kept")
                cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s AND seq <= %s",
                               [chain, batch])
        cursor.execute(f"INSERT INTO audit_auditevent ({columns}) SELECT {columns} FROM kept")
        cursor.execute("SET session_replication_role = origin")
        cursor.execute("DROP TABLE kept")
        started = time.perf_counter()
        cursor.execute("VACUUM (ANALYZE) audit_auditevent")
        cost["vacuum_after_restore_ms"] = round((time.perf_counter() - started) * 1000)
    out["delete_batch"] = {"database": database, "batch": batch, **cost}
    return out


def _page_statements(name):
    """The statements the audit page `name` of AUDIT_PAGES sends that read audit_auditevent."""
    email, url = AUDIT_PAGES[name]
    client = _client(email)
    client.get(url)
    statements = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        assert client.get(url).status_code == 200
    return [(sql, params) for sql, params in statements
            if "audit_auditevent" in sql and sql.lstrip().upper().startswith("SELECT")]


def _explain(cursor, sql, params):
    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
    plan = cursor.fetchone()[0]
    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]
    hit, read = _plan_totals(plan["Plan"])
    return {"ms": round(plan["Execution Time"], 2), "buffers": hit + read}


def partitioned(args):
    """The layout not chosen, tried on a copy: audit_auditevent copied into a table hash-
    partitioned by chain (`parts` partitions, every index of the original on each), then the
    audit pages' statements and a bounded delete with its VACUUM run against both. The copy
    is dropped at the end."""
    from lockbox_portal.db import limits

    limits.lift_for_this_process()
    _ensure_roles()
    parts, batch = args.get("parts", 16), args.get("batch", 10_000)
    columns = ("id, chain, seq, occurred_at, action, actor_id, actor_email, request_id, data, "
               "prev_hash, hash")
    copy = "bench_partitioned_event"
    out = {"parts": parts, "pages": {}}
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {copy}")
        cursor.execute(f"CREATE TABLE {copy} (LIKE audit_auditevent INCLUDING DEFAULTS "
                       "INCLUDING GENERATED) PARTITION BY HASH (chain)")
        for n in range(parts):
            cursor.execute(f"CREATE TABLE {copy}_{n} PARTITION OF {copy} "
                           f"FOR VALUES WITH (MODULUS {parts}, REMAINDER {n})")
        started = time.perf_counter()
        cursor.execute(f"INSERT INTO {copy} ({columns}) SELECT {columns} FROM audit_auditevent")
        cursor.execute(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'audit_auditevent'::regclass AND NOT indisprimary")
        for (definition,) in cursor.fetchall():
            name = definition.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
            definition = definition.replace(f" INDEX {name} ON public.audit_auditevent ",
                                            f" INDEX {copy}_{name} ON {copy} ")
            cursor.execute(definition)
        # A primary key must include the partition key: (id) alone cannot be unique here.
        cursor.execute(f"ALTER TABLE {copy} ADD PRIMARY KEY (id, chain)")
        cursor.execute(f"VACUUM (ANALYZE) {copy}")
        out["copy_seconds"] = round(time.perf_counter() - started, 1)
        for name in AUDIT_PAGES:
            if name == "request page":
                continue
            both = {"plain": [], "partitioned": []}
            for sql, params in _page_statements(name):
                both["plain"].append(_explain(cursor, sql, params))
                both["partitioned"].append(
                    _explain(cursor, sql.replace('"audit_auditevent"', copy), params))
            out["pages"][name] = {
                layout: {"ms": round(sum(p["ms"] for p in plans), 2),
                         "buffers": sum(p["buffers"] for p in plans)}
                for layout, plans in both.items()}
        chain = f"tenant:{BIG}"
        started = time.perf_counter()
        cursor.execute(f"DELETE FROM {copy} WHERE chain = %s AND seq <= %s", [chain, batch])
        out["delete_ms"] = round((time.perf_counter() - started) * 1000)
        cursor.execute(f"SELECT tableoid::regclass::text FROM {copy} WHERE chain = %s LIMIT 1",
                       [chain])
        partition = cursor.fetchone()[0]
        started = time.perf_counter()
        cursor.execute(f"VACUUM (INDEX_CLEANUP ON) {partition}")
        out["vacuum_partition_index_cleanup_ms"] = round((time.perf_counter() - started) * 1000)
        cursor.execute(f"DROP TABLE {copy}")
    return out


if __name__ == "__main__":
    what, raw = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "{}"
    print(json.dumps({"pages": pages, "signed_in": signed_in, "export": export, "append": append,
                      "verify": verify, "access_setup": access_setup,
                      "revoke": revoke, "access_profile": access_profile,
                      "ingest_setup": ingest_setup, "ingest_counts": ingest_counts,
                      "ingest_profile": ingest_profile, "ingest_cpu": ingest_cpu,
                      "layout": layout, "partitioned": partitioned}[what](
        json.loads(raw))))
