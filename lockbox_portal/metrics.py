"""What every Lockbox process counts, for Prometheus.

Counters and the latency histogram live in the process that sees the event: gunicorn workers
(requests, access checks, decisions) and Celery workers (webhook failures). Those run as several
processes, so prometheus_client keeps their values in files under PROMETHEUS_MULTIPROC_DIR, and
one listener per process group (lockbox_portal.metrics_listener) adds them up when scraped.

What is read from the database (pending requests, the outbox, checkpoints, verification, replica
lag) is not counted here: one exporter computes it at scrape time (approvals.monitoring).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import transaction
from django.http import HttpRequest, HttpResponseBase
from prometheus_client import Counter, Histogram

HTTP_DURATION = Histogram(
    "lockbox_http_request_duration_seconds",
    "Time from the request reaching Django to the answer leaving it, by URL name.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
ACCESS_CHECKS = Counter(
    "lockbox_access_checks_total",
    "Answers of the data-plane access check: allowed, denied, or unavailable (503, fail closed).",
    ["outcome"])
DECISIONS = Counter(
    "lockbox_decisions_total",
    "Committed approval decisions by level (internal, customer) and verdict (approve, reject).",
    ["level", "verdict"])
WEBHOOK_FAILURES = Counter(
    "lockbox_webhook_failures_total",
    "Webhook delivery attempts that failed; final: the delivery was given up.",
    ["final"])


def count_access_check(outcome: str) -> None:
    """outcome: allowed, denied or unavailable."""
    ACCESS_CHECKS.labels(outcome=outcome).inc()


def count_decision_on_commit(*, level: str, verdict: str) -> None:
    """Counted once the decision commits: a rolled-back decision was never made."""
    transaction.on_commit(lambda: DECISIONS.labels(level=level, verdict=verdict).inc())


def count_webhook_failure(*, final: bool) -> None:
    WEBHOOK_FAILURES.labels(final="true" if final else "false").inc()


class RequestMetricsMiddleware:
    """Times every request by the URL's name (never its raw path: ids would make one series per
    request). What no URL matched (static files, 404s, a refused host) is `unmatched`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        HTTP_DURATION.labels(view=view, method=method, status=str(response.status_code)).observe(
            time.perf_counter() - started)
        return response


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
