"""Data for the benchmarks (`manage.py bench_seed`, run by `make bench`): tenants, people,
requests in every state and audit chains that verify, written with PostgreSQL's COPY.

The audit rows are built with audit.chain's own canonical encoding and hashing, chain by chain,
in worker processes; the chain heads are set to the last event, and each chain is checkpointed,
so `verify_audit` passes on the result. One big tenant ("t0000") gets a tenth of the requests
and a fifth of the events, so single-tenant pages and exports see real volume.
"""

import json
import random
import sys
import time
import uuid
from datetime import timedelta
from multiprocessing import get_context

from django.contrib.auth.hashers import make_password
from django.db import connection, connections

from audit.chain import GENESIS_HASH, canonical_fields, compute_hash, tenant_chain
from lockbox_portal import clock

STATES = [("completed", 45), ("denied", 15), ("expired", 10), ("revoked", 10),
          ("cancelled", 5), ("approved", 5), ("pending_customer", 5), ("pending_internal", 5)]
REASONS = ["customer_initiated_support", "provider_initiated_service",
           "provider_initiated_review", "third_party_data_request", "production_alert"]
BIG = "t0000"


class Progress:
    def __init__(self, label, total):
        self.label, self.total, self.done, self.started = label, total, 0, time.monotonic()
        self.shown = 0.0

    def add(self, count):
        self.done += count
        now = time.monotonic()
        if now - self.shown > 0.5 or self.done >= self.total:
            self.shown = now
            rate = self.done / max(now - self.started, 1e-9)
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            sys.stdout.write(f"\r  {self.label:<16} [{'#' * filled}{'.' * (width - filled)}] "
                             f"{self.done:>10,}/{self.total:,}  {rate:>10,.0f}/s")
            sys.stdout.flush()

    def finish(self):
        self.add(0)
        sys.stdout.write(f"  {time.monotonic() - self.started:.1f} s\n")
        return time.monotonic() - self.started


def _copy(table, columns, rows, progress=None, every=5000):
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for n, row in enumerate(rows, 1):
            copy.write_row(row)
            if progress and n % every == 0:
                progress.add(every)
    if progress:
        progress.add(progress.total - progress.done)


def seed(*, tenants, requests, events, seed_value=7):
    """Fill an empty database. Returns the seconds each stage took."""
    random.seed(seed_value)
    now = clock.now()
    timings = {}
    started = time.monotonic()
    users = _people(tenants)
    timings["people"] = time.monotonic() - started
    plan = _requests(tenants, requests, users, now)
    timings["requests"] = plan.pop("seconds")
    timings["audit"] = _audit(tenants, events, plan, now)
    started = time.monotonic()
    from audit.checkpoints import checkpoint_chains

    checkpoint_chains(now=now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    timings["checkpoints_and_analyze"] = time.monotonic() - started
    return timings


def _people(tenants):
    """Engineers, managers, an auditor; an admin and two approvers per tenant."""
    password = make_password("bench-password-not-secret")
    now = clock.now()
    staff = ([f"eng{i:03d}@provider.bench" for i in range(50)]
             + [f"mgr{i:02d}@provider.bench" for i in range(10)] + ["auditor@provider.bench"])
    customers = [f"{who}@t{t:04d}.bench" for t in range(tenants)
                 for who in ("admin", "approver1", "approver2")]
    emails = staff + customers
    progress = Progress("people", len(emails) + tenants)
    _copy("auth_user", ["password", "is_superuser", "username", "first_name", "last_name",
                        "email", "is_staff", "is_active", "date_joined"],
          ((password, False, e, "", "", e, e in staff, True, now) for e in emails), progress)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, email FROM auth_user")
        ids = {email: pk for pk, email in cursor.fetchall()}
    _copy("approvals_tenant", ["slug", "name", "lockbox_enabled", "customer_approval_window",
                               "max_access_duration", "required_approvals",
                               "notification_emails", "created_at"],
          ((f"t{t:04d}", f"Tenant {t:04d}", True, timedelta(hours=12), timedelta(hours=4), 1,
            "[]", now - timedelta(days=400)) for t in range(tenants)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, slug FROM approvals_tenant")
        tenant_ids = {slug: pk for pk, slug in cursor.fetchall()}
    roles = {"eng": "engineer", "mgr": "internal_approver", "aud": "auditor"}
    _copy("approvals_providermembership", ["user_id", "role", "created_at"],
          ((ids[e], roles[e[:3]], now) for e in staff))
    _copy("approvals_tenantmembership", ["tenant_id", "user_id", "role", "created_at"],
          ((tenant_ids[e.split("@")[1].split(".")[0]], ids[e],
            "admin" if e.startswith("admin") else "approver", now) for e in customers))
    progress.finish()
    return {"ids": ids, "tenants": tenant_ids,
            "engineers": [ids[e] for e in staff if e.startswith("eng")],
            "managers": [ids[e] for e in staff if e.startswith("mgr")]}


def _requests(tenants, count, users, now):
    progress = Progress("requests", count)
    weights = [w for _, w in STATES]
    states = [s for s, _ in STATES]
    plan = {}  # tenant slug -> [(request id, state, times…)]
    rows = []
    for n in range(count):
        slug = BIG if n % 10 == 0 else f"t{random.randrange(1, tenants) if tenants > 1 else 0:04d}"
        state = random.choices(states, weights)[0]
        created = now - timedelta(days=random.uniform(0, 365)) if state not in (
            "approved", "pending_customer", "pending_internal") else now - timedelta(
            minutes=random.uniform(20, 100))
        hours = random.choice([1, 2, 3, 4])
        internal_decided = created + timedelta(minutes=10)
        customer_exp = internal_decided + timedelta(hours=12)
        starts = ends = closed = None
        if state in ("completed", "revoked", "approved"):
            starts = internal_decided + timedelta(minutes=random.uniform(5, 120)) \
                if state != "approved" else created + timedelta(minutes=15)
            ends = starts + timedelta(hours=hours)
            closed = ends if state == "completed" else (
                starts + timedelta(minutes=20) if state == "revoked" else None)
        elif state in ("denied", "cancelled"):
            closed = internal_decided + timedelta(minutes=30)
        elif state == "expired":
            closed = customer_exp
        if state == "pending_internal":
            internal_decided = customer_exp = None
        request_id = uuid.uuid4()
        requester = random.choice(users["engineers"])
        rows.append((request_id, users["tenants"][slug], requester, f"CASE-{n:06d}",
                     "Customer reports a problem that needs a look at the data.",
                     random.choice(REASONS),
                     json.dumps([f"exchange/mailbox/user{n % 997}@{slug}.bench"]),
                     "read_only", timedelta(hours=hours), True, state,
                     None if state == "pending_internal" else 1, "", created,
                     created + timedelta(hours=12), internal_decided, customer_exp, starts, ends,
                     closed))
        plan.setdefault(slug, []).append((request_id, state, requester, created, starts, ends,
                                          closed))
    _copy("approvals_accessrequest",
          ["id", "tenant_id", "requester_id", "case_reference", "justification", "reason_type",
           "scope", "access_level", "requested_duration", "touches_customer_content", "state",
           "required_approvals", "customer_step_skipped", "created_at", "internal_expires_at",
           "internal_decided_at", "customer_expires_at", "access_starts_at", "access_ends_at",
           "closed_at"], rows, progress)
    plan["seconds"] = progress.finish()
    return plan


def _audit(tenants, total, plan, now):
    """Every tenant's chain: its requests' lifecycle events, then engineer activity, in time
    order, hashed in sequence; the big tenant carries a fifth of all events."""
    big = max(total // 5, 1)
    rest = max(total - big, 0)
    shares = {f"t{t:04d}": (big if t == 0 else rest // max(tenants - 1, 1))
              for t in range(tenants)}
    work = [(slug, count, plan.get(slug, []), now) for slug, count in shares.items()]
    progress = Progress("audit events", sum(shares.values()))
    with connection.cursor() as cursor:
        # Rebuilt once at the end: maintaining a full-text index row by row would dominate.
        cursor.execute("DROP INDEX IF EXISTS audit_event_search_idx")
    connections.close_all()
    with get_context("fork").Pool(2) as pool:
        for written in pool.imap_unordered(_write_chain, work, chunksize=4):
            progress.add(written)
    seconds = progress.finish()
    index = Progress("search index", 1)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("CREATE INDEX audit_event_search_idx ON audit_auditevent "
                       "USING gin (audit_search_vector(action, actor_email, data))")
    index.add(1)
    return seconds + index.finish()


def _write_chain(job):
    slug, count, requests, now = job
    chain = tenant_chain(slug)
    events = list(_chain_events(slug, count, requests, now))
    prev, rows = GENESIS_HASH, []
    for seq, (at, action, actor_id, actor_email, request_id, data) in enumerate(events, 1):
        fields = canonical_fields(chain=chain, seq=seq, occurred_at=at, action=action,
                                  actor_id=actor_id, actor_email=actor_email,
                                  request_id=request_id, data=data, prev_hash=prev)
        digest = compute_hash(fields)
        rows.append((chain, seq, at, action, actor_id, actor_email, request_id,
                     json.dumps(data), prev, digest))
        prev = digest
    _copy("audit_auditevent", ["chain", "seq", "occurred_at", "action", "actor_id",
                               "actor_email", "request_id", "data", "prev_hash", "hash"], rows)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO audit_chainhead (chain, seq, hash) VALUES (%s, %s, %s) "
                       "ON CONFLICT (chain) DO UPDATE SET seq = EXCLUDED.seq, "
                       "hash = EXCLUDED.hash", [chain, len(rows), prev])
    connection.close()
    return len(rows)


def _chain_events(slug, count, requests, now):
    """(time, action, actor id, actor e-mail, request id, data), oldest first."""
    rng = random.Random(slug)
    items = []
    for request_id, state, requester, created, starts, ends, closed in requests:
        items.append((created, "request.submitted", requester, request_id,
                      {"case_reference": "CASE", "reason_type": "customer_initiated_support"}))
        if state != "pending_internal":
            items.append((created + timedelta(minutes=10), "request.internal_approved", None,
                          request_id, {"required_approvals": 1}))
        if starts:
            items.append((starts, "request.approved", None, request_id,
                          {"access_ends_at": ends.isoformat()}))
        if closed:
            items.append((closed, f"request.{_closing(state)}", None, request_id, {}))
    activity = max(count - len(items), 0)
    granted = [r for r in requests if r[4]] or [None]
    for _ in range(activity):
        grant = rng.choice(granted)
        if grant is None:
            at = now - timedelta(days=rng.uniform(0, 365))
            items.append((at, "activity.out_of_scope", None, None,
                          {"resource": f"exchange/mailbox/x@{slug}.bench", "operation": "read",
                           "outcome": "success", "problem": "The engineer had no grant."}))
            continue
        request_id, _, requester, _, starts, ends, _ = grant
        at = starts + (ends - starts) * rng.random()
        items.append((at, "activity.recorded", requester, request_id,
                      {"resource": f"exchange/mailbox/user{rng.randrange(997)}@{slug}.bench",
                       "operation": rng.choice(["read", "list", "search"]),
                       "outcome": "success", "access_level": "read_only"}))
    items.sort(key=lambda item: item[0])
    for at, action, actor_id, request_id, data in items[:count] if count else items:
        yield (min(at, now), action, actor_id, f"user{actor_id}@bench" if actor_id else "",
               request_id, data)


def _closing(state):
    return {"completed": "completed", "revoked": "revoked", "denied": "customer_rejected",
            "cancelled": "cancelled", "expired": "expired"}[state]
