"""Data for the benchmarks (`manage.py bench_seed`, run by `make bench`): tenants, people,
requests in every state and audit chains that verify, written with PostgreSQL's COPY.

This is the one place besides `audit.services.record_event` that writes audit rows, and it may
only because it never runs where the log matters: the devtools app is installed by the local,
test and bench settings, never by production, and `bench_seed` refuses a database that already
has tenants. Going through record_event would cost a head lock and an INSERT per event, and
the benchmarks need millions of them. To keep the result indistinguishable from a real log,
rows are built with the audit app's own public encoding (`canonical_fields`, `compute_hash`,
`GENESIS_HASH`, `tenant_chain`), chain by chain, in worker processes; the chain heads are set
to the last event, and each chain is checkpointed, so `verify_audit` passes on the result.

One big tenant ("t0000") gets a tenth of the requests and a fifth of the events, so
single-tenant pages and exports see real volume.
"""

from __future__ import annotations

import heapq
import json
import os
import random
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from multiprocessing import get_context
from typing import Any, NamedTuple

from django.contrib.auth.hashers import make_password
from django.db import connection, connections

from approvals.actions import Action
from approvals.models import State
from audit.checkpoints import checkpoint_chains
from audit.encoding import (
    GENESIS_HASH,
    canonical_fields,
    canonical_text,
    compute_hash,
    tenant_chain,
)
from lockbox_portal import clock
from lockbox_portal.forking import forget_inherited_connections

STATES = [(State.COMPLETED, 45), (State.DENIED, 15), (State.EXPIRED, 10), (State.REVOKED, 10),
          (State.CANCELLED, 5), (State.APPROVED, 5), (State.PENDING_CUSTOMER, 5),
          (State.PENDING_INTERNAL, 5)]
REASONS = ["customer_initiated_support", "provider_initiated_service",
           "provider_initiated_review", "third_party_data_request", "production_alert"]
BIG = "t0000"
JUSTIFICATION = "Customer reports a problem that needs a look at the data."


# (user id, e-mail); (None, "") for the system.
Person = tuple[int | None, str]
# (time, action, actor id, actor e-mail, request id, data): one audit event before hashing.
Event = tuple[datetime, Action, int | None, str, uuid.UUID | None, dict[str, Any]]


class Planned(NamedTuple):
    """One seeded request, as its audit events need it."""
    id: uuid.UUID
    state: State
    requester: Person
    created: datetime
    starts: datetime | None
    ends: datetime | None
    closed: datetime | None
    case_reference: str
    reason_type: str
    scope: str  # JSON, as written to the table
    hours: int
    manager: Person  # the provider approver
    approver: Person  # the customer's approver


class Progress:
    """A progress bar redrawn in place on a terminal; in a log, a line every ten seconds."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self.started = label, total, 0, time.monotonic()
        self.shown = 0.0
        self.tty = sys.stdout.isatty()

    def add(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.shown > (0.5 if self.tty else 10):
            self.shown = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-9)
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        line = (f"  {self.label:<16} [{'#' * filled}{'.' * (width - filled)}] "
                f"{self.done:>10,}/{self.total:,}  {rate:>10,.0f}/s")
        sys.stdout.write("\r" + line if self.tty else line + "\n")
        sys.stdout.flush()

    def finish(self) -> float:
        seconds = time.monotonic() - self.started
        self._draw(time.monotonic())
        sys.stdout.write(f"{'  ' if self.tty else '  done in '}{seconds:.1f} s\n")
        return seconds


def _copy(table: str, columns: list[str], rows: Iterable[Sequence[object]],
          progress: Progress | None = None, every: int = 5000) -> None:
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for n, row in enumerate(rows, 1):
            copy.write_row(row)
            if progress and n % every == 0:
                progress.add(every)
    if progress:
        progress.add(progress.total - progress.done)


def seed(*, tenants: int, requests: int, events: int, seed_value: int = 7) -> dict[str, float]:
    """Fill an empty database. Returns the seconds each stage took."""
    random.seed(seed_value)
    now = clock.now()
    timings = {}
    started = time.monotonic()
    users = _people(tenants)
    timings["people"] = time.monotonic() - started
    plan = _requests(tenants, requests, users, now)
    timings["requests"] = plan.pop("seconds")
    timings.update(_audit(tenants, events, plan, now))
    started = time.monotonic()
    checkpoint_chains(now=now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    timings["checkpoints_and_analyze"] = time.monotonic() - started
    return timings


def _people(tenants: int) -> dict[str, Any]:
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
    return {"ids": ids, "tenants": tenant_ids, "emails": {pk: e for e, pk in ids.items()},
            "engineers": [ids[e] for e in staff if e.startswith("eng")],
            "managers": [ids[e] for e in staff if e.startswith("mgr")]}


def _requests(tenants: int, count: int, users: dict[str, Any], now: datetime) -> dict[str, Any]:
    progress = Progress("requests", count)
    weights = [w for _, w in STATES]
    states = [s for s, _ in STATES]
    plan: dict[str, Any] = {}  # tenant slug -> [Planned], and "seconds"
    rows: list[tuple[Any, ...]] = []
    for n in range(count):
        slug = BIG if n % 10 == 0 else f"t{random.randrange(1, tenants) if tenants > 1 else 0:04d}"
        state = random.choices(states, weights)[0]
        created = now - timedelta(days=random.uniform(0, 365)) if state not in (
            State.APPROVED, State.PENDING_CUSTOMER, State.PENDING_INTERNAL) else now - timedelta(
            minutes=random.uniform(20, 100))
        hours = random.choice([1, 2, 3, 4])
        decided = created + timedelta(minutes=10)
        customer_until = decided + timedelta(hours=12)
        starts: datetime | None = None
        ends: datetime | None = None
        closed: datetime | None = None
        if state in (State.COMPLETED, State.REVOKED, State.APPROVED):
            starts = decided + timedelta(minutes=random.uniform(5, 120)) \
                if state != State.APPROVED else created + timedelta(minutes=15)
            ends = starts + timedelta(hours=hours)
            closed = ends if state == State.COMPLETED else (
                starts + timedelta(minutes=20) if state == State.REVOKED else None)
        elif state in (State.DENIED, State.CANCELLED):
            closed = decided + timedelta(minutes=30)
        elif state == State.EXPIRED:
            closed = customer_until
        pending = state == State.PENDING_INTERNAL
        internal_decided = None if pending else decided
        customer_exp = None if pending else customer_until
        request_id = uuid.uuid4()
        requester = random.choice(users["engineers"])
        rows.append((request_id, users["tenants"][slug], requester, f"CASE-{n:06d}",
                     JUSTIFICATION,
                     random.choice(REASONS),
                     json.dumps([f"exchange/mailbox/user{n % 997}@{slug}.bench"]),
                     "read_only", timedelta(hours=hours), True, state,
                     None if state == State.PENDING_INTERNAL else 1, "", created,
                     created + timedelta(hours=12), internal_decided, customer_exp, starts, ends,
                     closed))
        plan.setdefault(slug, []).append(Planned(
            request_id, state, (requester, users["emails"][requester]), created, starts, ends,
            closed, f"CASE-{n:06d}", rows[-1][5], rows[-1][6], hours,
            (manager := random.choice(users["managers"]), users["emails"][manager]),
            (users["ids"][f"approver1@{slug}.bench"], f"approver1@{slug}.bench")))
    _copy("approvals_accessrequest",
          ["id", "tenant_id", "requester_id", "case_reference", "justification", "reason_type",
           "scope", "access_level", "requested_duration", "touches_customer_content", "state",
           "required_approvals", "customer_step_skipped", "created_at", "internal_expires_at",
           "internal_decided_at", "customer_expires_at", "access_starts_at", "access_ends_at",
           "closed_at"], rows, progress)
    plan["seconds"] = progress.finish()
    return plan


def _audit(tenants: int, total: int, plan: dict[str, list[Planned]],
           now: datetime) -> dict[str, float]:
    """Every tenant's chain: its requests' lifecycle events, then engineer activity, in time
    order, hashed in sequence; the big tenant carries a fifth of all events.

    Written as a live system writes them: all chains interleaved in time, row ids in time
    order across tenants (the query planner then meets a real log, not one tenant after
    another). Chains are hashed in worker processes, each into a sorted file; two COPY streams
    then merge the files by time and write alternate events with their ids.
    """
    big = max(total // 5, 1)
    rest = max(total - big, 0)
    shares = {f"t{t:04d}": (big if t == 0 else rest // max(tenants - 1, 1))
              for t in range(tenants)}
    hashing = Progress("hashing chains", sum(shares.values()))
    with connection.cursor() as cursor:
        # Rebuilt once at the end: maintaining a full-text index row by row would dominate,
        # and so would the trigger that notes each statement's words (two COPY statements of
        # millions of rows each). So would the B-tree indexes that lead with the chain: rows
        # arrive in time order across all chains, so each COPYed row lands on a random leaf
        # of each of them, and past a few million events those leaves no longer fit in
        # shared_buffers. Sorting once per index at the end reads each row once.
        cursor.execute("DROP INDEX IF EXISTS audit_event_search_idx")
        rebuild = _drop_secondary_indexes(cursor)
        cursor.execute("ALTER TABLE audit_auditevent "
                       "DISABLE TRIGGER audit_event_note_search_words")
    try:
        connections.close_all()
        context = get_context("fork")
        with tempfile.TemporaryDirectory(prefix="lockbox-bench-") as tmp:
            work = [(slug, count, plan.get(slug, []), now, tmp) for slug, count in shares.items()]
            heads = []
            with context.Pool(2) as pool:
                for head in pool.imap_unordered(_hash_chain, work, chunksize=4):
                    heads.append(head)
                    hashing.add(head[1])
            hashed = hashing.finish()
            progress = Progress("audit events", sum(h[1] for h in heads))
            written = context.Value("q", 0)
            paths = [h[3] for h in heads]
            with context.Pool(2, initializer=_share_counter, initargs=(written,)) as pool:
                copying = pool.map_async(_copy_merged, [(paths, k, 2) for k in range(2)])
                while not copying.ready():
                    copying.wait(0.5)
                    progress.add(written.value - progress.done)
                copying.get()
                progress.add(written.value - progress.done)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent "
                           "ENABLE TRIGGER audit_event_note_search_words")
    copied = progress.finish()
    index = Progress("indexes and words", len(rebuild) + 2)
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SET max_parallel_maintenance_workers = 2")
        for statement in rebuild:
            cursor.execute(statement)
            index.add(1)
        # After the indexes: the head's trigger looks the event up by (chain, seq).
        cursor.execute("SELECT setval(pg_get_serial_sequence('audit_auditevent', 'id'), "
                       "(SELECT max(id) FROM audit_auditevent))")
        cursor.executemany("INSERT INTO audit_chainhead (chain, seq, hash) VALUES (%s, %s, %s) "
                           "ON CONFLICT (chain) DO UPDATE SET seq = EXCLUDED.seq, "
                           "hash = EXCLUDED.hash", [h[:3] for h in heads])
        cursor.execute("CREATE INDEX audit_event_search_idx ON audit_auditevent "
                       "USING gin (chain, search)")
        index.add(1)
        cursor.execute("INSERT INTO audit_searchword (word) SELECT DISTINCT w "
                       "FROM audit_auditevent, unnest(tsvector_to_array(search)) AS w "
                       "WHERE NOT EXISTS (SELECT 1 FROM audit_searchword s WHERE s.word = w)")
    index.add(1)
    return {"audit hashing": hashed, "audit copy": copied, "audit indexes": index.finish()}


def _drop_secondary_indexes(cursor: Any) -> list[str]:
    """Drop the audit table's unique constraints and its indexes other than the primary key
    (the search index is handled apart); return the statements that put them back, exactly
    as the migrations made them."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'audit_auditevent'::regclass AND contype = 'u' ORDER BY conname")
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = 'audit_auditevent'::regclass AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "AND i.indexrelid::regclass::text <> 'audit_event_search_idx' ORDER BY 1")
    indexes = cursor.fetchall()
    for name, _ in constraints:
        cursor.execute(f'ALTER TABLE audit_auditevent DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return ([f'ALTER TABLE audit_auditevent ADD CONSTRAINT "{name}" {definition}'
             for name, definition in constraints] + [definition for _, definition in indexes])


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def _copy_text(value: object) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else str(value)
    if not _COPY_SPECIAL.search(text):
        return text
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def _hash_chain(job: tuple[str, int, list[Planned], datetime, str]) -> tuple[str, int, str, str]:
    """Hash one chain in order into a file of "time<TAB>COPY line" rows, oldest first."""
    slug, count, requests, now, tmp = job
    chain = tenant_chain(slug)
    prev, seq = GENESIS_HASH, 0
    path = os.path.join(tmp, f"{slug}.tsv")
    with open(path, "w", encoding="utf-8") as out:
        for seq, (at, action, actor_id, actor_email, request_id, data) in enumerate(
                _chain_events(slug, count, requests, now), 1):
            fields = canonical_fields(chain=chain, seq=seq, occurred_at=at, action=action,
                                      actor_id=actor_id, actor_email=actor_email,
                                      request_id=request_id, data=data, prev_hash=prev)
            digest = compute_hash(fields)
            # Only the e-mail and the data (twice: as shown and as hashed) can hold a character
            # that COPY's text format escapes; the rest are names, numbers, hashes and the
            # encoding's own time
            # ("...T20:42:49.193735Z", which PostgreSQL reads as it is).
            out.write(f"{at.timestamp():017.6f}\t{chain}\t{seq}\t{fields['occurred_at']}\t"
                      f"{action}\t{_copy_text(actor_id)}\t{_copy_text(actor_email)}\t"
                      f"{_copy_text(fields['request_id'])}\t{_copy_text(json.dumps(data))}\t"
                      f"{_copy_text(canonical_text(data))}\t"
                      f"{prev}\t{digest}\n")
            prev = digest
    return chain, seq, prev, path


_counter: Any = None  # a multiprocessing Value shared by the COPY workers


def _share_counter(counter: Any) -> None:
    global _counter
    _counter = counter
    forget_inherited_connections()


def _copy_merged(job: tuple[list[str], int, int]) -> int:
    """Merge every chain's file by time and COPY every `step`-th event from the `k`-th, with
    its id set to its place in time: two processes write at once, and still ids follow time
    across all chains as in a live log. Returns how many it wrote."""
    paths, k, step = job
    files = [open(p, encoding="utf-8") for p in paths]  # noqa: SIM115 (closed below)
    written = 0
    try:
        columns = "id, chain, seq, occurred_at, action, actor_id, actor_email, request_id, " \
                  "data, canonical_data, prev_hash, hash"
        with connection.cursor() as cursor, cursor.cursor.copy(
                f"COPY audit_auditevent ({columns}) FROM STDIN") as copy:
            for place, line in enumerate(heapq.merge(*files), 1):
                if place % step != k:
                    continue
                copy.write(f"{place}\t" + line.split("\t", 1)[1])
                written += 1
                if written % 10_000 == 0:
                    with _counter.get_lock():
                        _counter.value += 10_000
        with _counter.get_lock():
            _counter.value += written % 10_000
    finally:
        for f in files:
            f.close()
        connection.close()
    return written


def _chain_events(slug: str, count: int, requests: list[Planned],
                  now: datetime) -> Iterator[Event]:
    """(time, action, actor id, actor e-mail, request id, data), oldest first, with the data
    each event carries when approvals.transitions writes it."""
    rng = random.Random(slug)
    items: list[tuple[datetime, Action, Person, uuid.UUID | None, dict[str, Any]]] = []
    for r in requests:
        items.extend(_lifecycle(r))
    activity = max(count - len(items), 0)
    granted: list[Planned | None] = [r for r in requests if r.starts] or [None]
    for _ in range(activity):
        grant = rng.choice(granted)
        if grant is None:
            at = now - timedelta(days=rng.uniform(0, 365))
            items.append((at, Action.ACTIVITY_OUT_OF_SCOPE, (None, ""), None,
                          {"engineer": "eng000@provider.bench",
                           "resource": f"exchange/mailbox/x@{slug}.bench", "operation": "read",
                           "outcome": "success", "access_level": "read_only",
                           "problem": "The engineer had no grant."}))
            continue
        assert grant.starts and grant.ends  # only granted requests are picked
        at = grant.starts + (grant.ends - grant.starts) * rng.random()
        items.append((at, Action.ACTIVITY_RECORDED, grant.requester, grant.id,
                      {"engineer": grant.requester[1],
                       "resource": f"exchange/mailbox/user{rng.randrange(997)}@{slug}.bench",
                       "operation": rng.choice(["read", "list", "search"]),
                       "outcome": "success", "access_level": "read_only"}))
    items.sort(key=lambda item: item[0])
    for at, action, (actor_id, actor_email), request_id, data in (
            items[:count] if count else items):
        yield (min(at, now), action, actor_id, actor_email, request_id, data)


def _lifecycle(
        r: Planned) -> Iterator[tuple[datetime, Action, Person, uuid.UUID, dict[str, Any]]]:
    approver = r.approver

    def moved(from_state: str, to_state: str, **data: Any) -> dict[str, Any]:
        return {"from_state": from_state, "to_state": to_state, "comment": "", **data}

    yield (r.created, Action.REQUEST_SUBMITTED, r.requester, r.id, {
        "case_reference": r.case_reference, "reason_type": r.reason_type,
        "justification": JUSTIFICATION, "scope": json.loads(r.scope),
        "access_level": "read_only", "requested_seconds": r.hours * 3600,
        "touches_customer_content": True,
        "internal_expires_at": (r.created + timedelta(hours=12)).isoformat()})
    if r.state == State.PENDING_INTERNAL:
        return
    decided = r.created + timedelta(minutes=10)
    customer = State.PENDING_CUSTOMER
    yield (decided, Action.REQUEST_INTERNAL_APPROVED, r.manager, r.id, moved(
        State.PENDING_INTERNAL, State.PENDING_CUSTOMER, required_approvals=1,
        customer_expires_at=(decided + timedelta(hours=12)).isoformat()))
    if r.starts:
        assert r.ends
        yield (r.starts, Action.REQUEST_APPROVED, approver, r.id, moved(
            customer, State.APPROVED, level="customer", access_starts_at=r.starts.isoformat(),
            access_ends_at=r.ends.isoformat(), capped_by_policy=False, approvals=1,
            required_approvals=1))
    if r.closed:
        closing = CLOSING[r.state]
        actor = {Action.REQUEST_CUSTOMER_REJECTED: approver, Action.REQUEST_CANCELLED: r.requester,
                 Action.REQUEST_REVOKED: approver}.get(closing, (None, ""))
        data = {Action.REQUEST_EXPIRED: {"window_ended_at": r.closed.isoformat(),
                                         "stage": customer},
                Action.REQUEST_REVOKED: {"side": "customer", "scheduled_end": (r.ends or r.closed)
                                         .isoformat()}}.get(closing, {})
        before = State.APPROVED if r.starts else customer
        yield (r.closed, closing, actor, r.id, moved(before, r.state, **data))


# The event that closes a request in each final state.
CLOSING = {State.COMPLETED: Action.REQUEST_COMPLETED, State.REVOKED: Action.REQUEST_REVOKED,
           State.DENIED: Action.REQUEST_CUSTOMER_REJECTED,
           State.CANCELLED: Action.REQUEST_CANCELLED, State.EXPIRED: Action.REQUEST_EXPIRED}
