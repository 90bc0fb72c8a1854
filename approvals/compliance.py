"""The numbers behind the compliance dashboard: weekly outcomes, time to decision,
out-of-scope actions, open attestations, grants open now. Aggregated in the database."""

from __future__ import annotations

from datetime import datetime, timedelta
from statistics import median

from django.db.models import Case, CharField, Count, Q, Value, When
from django.db.models.functions import TruncWeek

from approvals import attestations, selectors
from approvals.actions import Action
from approvals.models import AccessRequest, State, Tenant
from audit.models import AuditEvent

# Labels for the x axis, and one (name, values) pair per series drawn against them.
Series = list[tuple[str, list[int]]]

WEEKS = 12
OUTCOMES = ["granted", "denied", "expired", "cancelled", "pending"]
DECISION_BUCKETS = [("under 15 min", 15), ("15 to 60 min", 60), ("1 to 4 h", 240),
                    ("4 to 12 h", 720), ("over 12 h", None)]


def _weeks(now: datetime) -> list[datetime]:
    start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0,
                                                          microsecond=0)
    return [start - timedelta(weeks=w) for w in range(WEEKS - 1, -1, -1)]


def _outcome(now: datetime) -> Case:
    return Case(
        When(Q(state__in=[State.APPROVED, State.COMPLETED, State.REVOKED]), then=Value("granted")),
        When(state=State.DENIED, then=Value("denied")),
        When(state=State.CANCELLED, then=Value("cancelled")),
        When(selectors.shown_as(State.EXPIRED, now), then=Value("expired")),
        default=Value("pending"), output_field=CharField())


def requests_by_week(now: datetime,
                     tenant: Tenant | None = None) -> tuple[list[str], Series]:
    weeks = _weeks(now)
    rows = AccessRequest.objects.filter(created_at__gte=weeks[0])
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    counts = {(r["week"].date(), r["outcome"]): r["n"] for r in (
        rows.annotate(week=TruncWeek("created_at"), outcome=_outcome(now))
        .values("week", "outcome").annotate(n=Count("id")))}
    labels = [w.strftime("%d %b") for w in weeks]
    series = [(o, [counts.get((w.date(), o), 0) for w in weeks]) for o in OUTCOMES]
    return labels, series


def decision_times(now: datetime, tenant: Tenant | None = None
                   ) -> tuple[list[str], Series, int | None]:
    """Minutes from the request reaching the customer to their final decision."""
    weeks = _weeks(now)
    rows = AccessRequest.objects.filter(created_at__gte=weeks[0], customer_expires_at__isnull=False,
                                        internal_decided_at__isnull=False)
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    minutes: list[float] = []
    for state, start, granted, closed in rows.values_list(
            "state", "internal_decided_at", "access_starts_at", "closed_at"):
        end = granted or (closed if state == State.DENIED else None)
        if end is not None and start is not None:  # start: filtered above
            minutes.append((end - start).total_seconds() / 60)
    counts = [0] * len(DECISION_BUCKETS)
    for value in minutes:
        for i, (_, limit) in enumerate(DECISION_BUCKETS):
            if limit is None or value < limit:
                counts[i] += 1
                break
    return ([name for name, _ in DECISION_BUCKETS], [("decisions", counts)],
            round(median(minutes)) if minutes else None)


def out_of_scope_by_week(now: datetime,
                         chain: str | None = None) -> tuple[list[str], Series]:
    weeks = _weeks(now)
    rows = AuditEvent.objects.filter(action=Action.ACTIVITY_OUT_OF_SCOPE, occurred_at__gte=weeks[0])
    if chain is not None:
        rows = rows.filter(chain=chain)
    counts = {r["week"].date(): r["n"] for r in rows.annotate(week=TruncWeek("occurred_at"))
              .values("week").annotate(n=Count("id"))}
    return ([w.strftime("%d %b") for w in weeks],
            [("out-of-scope actions", [counts.get(w.date(), 0) for w in weeks])])


def open_attestations(now: datetime,
                      tenant: Tenant | None = None) -> tuple[list[str], Series]:
    lists = attestations.awaiting(tenant=tenant, now=now)
    labels = ["no summary yet", "waiting for the customer", "disputed"]
    return labels, [("requests", [lists["no_summary"].count(), lists["to_answer"].count(),
                                  lists["disputed"].count()])]


def active_now(now: datetime, tenant: Tenant | None = None) -> list[AccessRequest]:
    rows = AccessRequest.objects.filter(selectors.access_active(now)).select_related(
        "tenant", "requester")
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    return list(rows.order_by("access_ends_at"))


def table_rows(labels: list[str], series: Series) -> list[list[object]]:
    """[label, value, value, …] per label, for the tables and the CSV files."""
    return [[label, *[values[i] for _, values in series]] for i, label in enumerate(labels)]
