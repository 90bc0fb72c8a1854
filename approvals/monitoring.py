"""The gauges read from the database, computed when Prometheus scrapes the exporter.

One exporter per deployment (`manage.py lockbox_exporter`) runs these queries, so scraping many
app servers does not run them many times. Each scrape is one read-only transaction under its
own statement timeout (LOCKBOX_EXPORTER_TIMEOUT_MS); when the database does not answer in time
the scrape still answers, with lockbox_exporter_database_up 0 and none of the gauges, so an
alert sees the outage rather than stale numbers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Min, OuterRef, Subquery
from django.db.models.functions import Coalesce
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from approvals import selectors
from approvals.models import AccessRequest, State
from approvals.notifications.models import Channel, OutboxMessage, Status
from audit.models import AuditEvent, ChainHead, ChainVerification, Checkpoint
from lockbox_portal import clock
from lockbox_portal.db import limits, replica

STAGES = (("internal", State.PENDING_INTERNAL, "internal_expires_at"),
          ("customer", State.PENDING_CUSTOMER, "customer_expires_at"))
WAITING = (Status.QUEUED, Status.RETRYING, Status.SENDING)


class DatabaseCollector(Collector):
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def collect(self) -> Iterator[Metric]:
        started = time.monotonic()
        up = GaugeMetricFamily("lockbox_exporter_database_up",
                               "1 when the exporter's last scrape read the database in time.")
        try:
            families = self._read()
            up.add_metric([], 1)
        except DatabaseError:
            families = []
            up.add_metric([], 0)
        finally:
            # Each scrape runs in a thread of its own: leave no connection behind it.
            if not connection.in_atomic_block:
                connection.close()
        yield from families
        yield from _replica()
        yield up
        took = GaugeMetricFamily("lockbox_exporter_scrape_duration_seconds",
                                 "How long the exporter's queries took.")
        took.add_metric([], time.monotonic() - started)
        yield took

    def _read(self) -> list[Metric]:
        with limits.within(self.timeout), transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION READ ONLY")
                    cursor.execute(f"SET LOCAL statement_timeout = {int(self.timeout * 1000)}")
            now = clock.now()
            return [*pending(now), *outbox(now), *chains(now)]


def _gauge(name: str, documentation: str, labels: list[str],
           samples: Iterable[tuple[list[str], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


def _age(now: datetime, then: datetime | None) -> float:
    return max((now - then).total_seconds(), 0.0) if then is not None else 0.0


def pending(now: datetime) -> list[Metric]:
    """Requests waiting for a decision with their window still open, by stage."""
    count, oldest, remaining = [], [], []
    for stage, state, expires in STAGES:
        row = AccessRequest.objects.filter(selectors.awaiting_decision(now, stage=state)) \
            .aggregate(n=Count("pk"), oldest=Min("created_at"), soonest=Min(expires))
        count.append(([stage], float(row["n"])))
        oldest.append(([stage], _age(now, row["oldest"])))
        if row["soonest"] is not None:
            remaining.append(([stage], (row["soonest"] - now).total_seconds()))
    return [
        _gauge("lockbox_pending_requests", "Requests waiting for a decision, by stage.",
               ["stage"], count),
        _gauge("lockbox_pending_oldest_age_seconds",
               "Age of the oldest request waiting at this stage (0: none waits).",
               ["stage"], oldest),
        _gauge("lockbox_pending_window_remaining_seconds",
               "Time left before the first waiting request at this stage expires undecided.",
               ["stage"], remaining),
    ]


def outbox(now: datetime) -> list[Metric]:
    """Deliveries not yet made (queued, waiting to retry, being sent), and those given up."""
    waiting = {channel: (0.0, 0.0) for channel in Channel.values}
    failed = dict.fromkeys(Channel.values, 0.0)
    for row in OutboxMessage.objects.filter(status__in=(*WAITING, Status.FAILED)) \
            .values("channel", "status").annotate(n=Count("pk"), oldest=Min("created_at")) \
            .order_by():
        if row["status"] == Status.FAILED:
            failed[row["channel"]] += row["n"]
        else:
            n, age = waiting[row["channel"]]
            waiting[row["channel"]] = (n + row["n"], max(age, _age(now, row["oldest"])))
    return [
        _gauge("lockbox_outbox_backlog", "Deliveries not yet made, by channel.", ["channel"],
               [([c], n) for c, (n, _) in waiting.items()]),
        _gauge("lockbox_outbox_oldest_age_seconds",
               "Age of the oldest delivery not yet made (0: none).", ["channel"],
               [([c], age) for c, (_, age) in waiting.items()]),
        _gauge("lockbox_outbox_failed", "Deliveries given up for good, by channel.",
               ["channel"], [([c], n) for c, n in failed.items()]),
    ]


def chains(now: datetime) -> list[Metric]:
    """Per audit chain: its newest checkpoint's age; how long its newest events have waited
    for one; whether its last verification passed, and how long ago the whole chain was
    checked (never checked: since its first event)."""
    last = Checkpoint.objects.filter(chain=OuterRef("chain")).order_by("-seq")
    heads = ChainHead.objects.annotate(
        signed_seq=Coalesce(Subquery(last.values("seq")[:1]), 0),
        signed_at=Subquery(last.values("signed_at")[:1]),
    ).annotate(
        unsigned_since=Subquery(AuditEvent.objects.filter(
            chain=OuterRef("chain"), seq__gt=OuterRef("signed_seq"))
            .order_by("seq").values("occurred_at")[:1]),
        first_at=Subquery(AuditEvent.objects.filter(chain=OuterRef("chain"))
                          .order_by("seq").values("occurred_at")[:1]),
    ).values("chain", "signed_at", "unsigned_since", "first_at")
    verified = {v.chain: v for v in ChainVerification.objects.all()}
    checkpoint_age, unsigned_age, ok, verified_age = [], [], [], []
    for head in heads:
        chain = head["chain"]
        if head["signed_at"] is not None:
            checkpoint_age.append(([chain], _age(now, head["signed_at"])))
        unsigned_age.append(([chain], _age(now, head["unsigned_since"])))
        record = verified.get(chain)
        if record is not None:
            ok.append(([chain], 1.0 if record.ok else 0.0))
        verified_age.append(([chain], _age(
            now, record.full_verified_at if record is not None else head["first_at"])))
    return [
        _gauge("lockbox_checkpoint_age_seconds",
               "Age of the chain's newest signed checkpoint (a quiet chain gets none).",
               ["chain"], checkpoint_age),
        _gauge("lockbox_unsigned_events_age_seconds",
               "How long the chain's oldest event that no checkpoint covers has waited "
               "(0: every event is covered).", ["chain"], unsigned_age),
        _gauge("lockbox_audit_verified",
               "1 when the chain's last verification found it intact, 0 when it did not.",
               ["chain"], ok),
        _gauge("lockbox_audit_verification_age_seconds",
               "Time since the whole chain was last verified.", ["chain"], verified_age),
    ]


def _replica() -> list[Metric]:
    """Nothing without a replica; else whether it answered in time, and its lag when it did.
    The measure is the router's (lockbox_portal.db.replica), so the alert and the choice of
    where reads go agree."""
    if not replica.replica_configured():
        return []
    replica.forget_replica_state()  # a scrape asks afresh, not this process's last answer
    lag = replica.replica_lag_seconds()
    up: list[Metric] = [_gauge("lockbox_replica_up",
                               "1 when the exporter could read the replica's lag.", [],
                               [([], 0.0 if lag is None else 1.0)])]
    if lag is None:
        return up
    return [*up, _gauge("lockbox_replica_lag_seconds",
                        "How far the read replica's replay is behind the primary.", [],
                        [([], lag)])]


