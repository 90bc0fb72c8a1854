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


def pages(args):
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
    results = {}
    for name, (client, url) in urls.items():
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
    """`verify_audit` over every chain, against raw SHA-256 over the same canonical bytes
    (computed ahead for a sample) and against merely reading the rows from the database."""
    import hashlib

    from django.core.management import call_command

    from audit.checkpoints import checkpoint_chains
    from audit.encoding import EVENT_COLUMNS, canonical_bytes, canonical_fields
    from audit.models import AuditEvent

    # What beat does every minute in a deployment: events appended earlier in the run (the
    # access check's grants, the append benchmark) are signed, however long the run took.
    checkpoint_chains()
    total = AuditEvent.objects.count()
    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        call_command("verify_audit", stdout=sink)
    seconds = time.perf_counter() - started

    chain, sample = f"tenant:{BIG}", args.get("sample", 200_000)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, occurred_at, action, actor_id, actor_email, request_id, "
                       "data::text, prev_hash, hash FROM audit_auditevent WHERE chain = %s "
                       "AND seq <= %s ORDER BY seq", [chain, sample])
        fetched = len(cursor.fetchall())
    fetch_rate = fetched / (time.perf_counter() - started)

    encoded = []
    for row in (AuditEvent.objects.filter(chain=chain, seq__lte=sample).order_by("seq")
                .values_list(*EVENT_COLUMNS[1:]).iterator(chunk_size=5000)):
        seq, at, action, actor_id, email, request_id, data, prev, _ = row
        encoded.append(canonical_bytes(canonical_fields(
            chain=chain, seq=seq, occurred_at=at, action=action, actor_id=actor_id,
            actor_email=email, request_id=request_id, data=data, prev_hash=prev)))
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for body in encoded:
        sha256(body).hexdigest()
    raw_rate = len(encoded) / (time.perf_counter() - started)
    rate = total / seconds
    return {"events": total, "seconds": round(seconds, 1), "jobs": os.cpu_count(),
            "verify_per_s": round(rate), "raw_sha256_per_s": round(raw_rate),
            "ratio": round(rate / raw_rate, 3), "fetch_only_per_s": round(fetch_rate),
            "mean_event_bytes": round(sum(map(len, encoded)) / len(encoded))}


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
    print(json.dumps({"pages": pages, "export": export, "append": append,
                      "verify": verify, "access_setup": access_setup,
                      "revoke": revoke, "access_profile": access_profile,
                      "layout": layout, "partitioned": partitioned}[what](
        json.loads(raw))))
