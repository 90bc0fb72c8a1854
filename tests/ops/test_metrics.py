"""What the processes count and what the exporter reads, in this process (the real registry).

Across real processes (gunicorn workers, a Celery worker, the exporter) and a real Prometheus:
tests/ops/test_prometheus.py.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry

from approvals import transitions as t
from approvals.monitoring import DatabaseCollector
from approvals.notifications.models import OutboxMessage, Status
from audit.checkpoints import checkpoint_chains
from audit.encoding import tenant_chain
from audit.status import verify_and_record
from tests import factories
from tests.api_helpers import Api, make_token

RESOURCE = "exchange/mailbox/user@example.test"


def _value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _check(raw, resource=RESOURCE):
    return Api(raw).post("/api/v1/access/check", {
        "engineer": "engineer@provider.test", "tenant": "tenant-a", "resource": resource})


@pytest.fixture
def granted(db, engineer, manager, manager2, approver_a, tenant_a):
    now = timezone.now()
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=now - timedelta(minutes=5))
    t.internal_approve(access_request=req, actor=manager2, now=now - timedelta(minutes=4))
    t.customer_approve(access_request=req, actor=approver_a, now=now - timedelta(minutes=3))
    return make_token(manager, "data_plane")[1]


def test_access_checks_are_counted_by_answer(granted):
    allowed = _value("lockbox_access_checks_total", outcome="allowed")
    denied = _value("lockbox_access_checks_total", outcome="denied")
    assert _check(granted).json()["allowed"] is True
    assert _check(granted, "exchange/mailbox/other@example.test").json()["allowed"] is False
    assert _check("not-a-token").status_code == 401  # not an answer about access: not counted
    assert _value("lockbox_access_checks_total", outcome="allowed") == allowed + 1
    assert _value("lockbox_access_checks_total", outcome="denied") == denied + 1


def test_an_access_check_without_its_database_is_counted_unavailable(granted, monkeypatch):
    from django.db import OperationalError

    from approvals.api import native

    def down(**kwargs):
        raise OperationalError("the database went away")

    monkeypatch.setattr(native, "check_access_with_token", down)
    before = _value("lockbox_access_checks_total", outcome="unavailable")
    response = _check(granted)
    assert response.status_code == 503 and response.json()["allowed"] is False
    assert _value("lockbox_access_checks_total", outcome="unavailable") == before + 1


def test_decisions_are_counted_once_they_commit(transactional_db, engineer, manager, manager2,
                                                 approver_a, tenant_a):
    now = timezone.now()
    approved = _value("lockbox_decisions_total", level="internal", verdict="approve")
    rejected = _value("lockbox_decisions_total", level="customer", verdict="reject")
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=now)
    t.internal_approve(access_request=req, actor=manager2, now=now)
    other = factories.submit(engineer=engineer, tenant=tenant_a, now=now)
    with pytest.raises(RuntimeError), transaction.atomic():
        t.internal_approve(access_request=other, actor=manager2, now=now)
        raise RuntimeError("rolled back: this decision was never made")
    t.customer_reject(access_request=req, actor=approver_a, now=now)
    assert _value("lockbox_decisions_total", level="internal", verdict="approve") == approved + 1
    assert _value("lockbox_decisions_total", level="customer", verdict="reject") == rejected + 1


def test_request_latency_is_labelled_by_url_name_never_by_path(granted, client):
    before = _value("lockbox_http_request_duration_seconds_count", view="api_access_check",
                    method="POST", status="200")
    _check(granted)
    client.get("/healthz")
    assert _value("lockbox_http_request_duration_seconds_count", view="api_access_check",
                  method="POST", status="200") == before + 1
    assert _value("lockbox_http_request_duration_seconds_count", view="healthz", method="GET",
                  status="200") >= 1
    views = {s.labels["view"] for m in REGISTRY.collect()
             if m.name == "lockbox_http_request_duration_seconds" for s in m.samples}
    assert not any("/" in view for view in views), views


def _scrape(timeout=5.0):
    """One scrape, as {(name, labels): value}."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(timeout))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() for s in family.samples}


def test_the_exporter_reads_pending_requests_outbox_and_chains(db, engineer, manager2, tenant_a):
    now = timezone.now()
    factories.submit(engineer=engineer, tenant=tenant_a, now=now - timedelta(hours=2))
    factories.submit(engineer=engineer, tenant=tenant_a, now=now - timedelta(minutes=1))
    OutboxMessage.objects.filter(status__in=[Status.QUEUED, Status.SENT]).update(
        status=Status.QUEUED, created_at=now - timedelta(minutes=30))
    chain = tenant_chain("tenant-a")
    scraped = _scrape()

    def value(name, **labels):
        return scraped.get((name, tuple(sorted(labels.items()))))

    assert value("lockbox_exporter_database_up") == 1
    assert value("lockbox_pending_requests", stage="internal") == 2
    assert value("lockbox_pending_requests", stage="customer") == 0
    oldest = value("lockbox_pending_oldest_age_seconds", stage="internal")
    assert 2 * 3600 - 60 < oldest < 2 * 3600 + 60
    assert value("lockbox_pending_window_remaining_seconds", stage="internal") < 10 * 3600 + 60
    assert value("lockbox_outbox_backlog", channel="email") >= 1
    assert 1790 < value("lockbox_outbox_oldest_age_seconds", channel="email") < 1900
    assert value("lockbox_outbox_backlog", channel="webhook") == 0
    # Nothing signed or verified yet: the events have waited since they were written.
    assert value("lockbox_checkpoint_age_seconds", chain=chain) is None
    assert value("lockbox_unsigned_events_age_seconds", chain=chain) > 0
    assert value("lockbox_audit_verified", chain=chain) is None

    checkpoint_chains(chains=[chain])
    verify_and_record(chain)
    scraped = _scrape()
    assert value("lockbox_unsigned_events_age_seconds", chain=chain) == 0
    assert value("lockbox_checkpoint_age_seconds", chain=chain) < 60
    assert value("lockbox_audit_verified", chain=chain) == 1
    assert value("lockbox_audit_verification_age_seconds", chain=chain) < 60
    # No replica configured: no replica series at all, rather than a made-up 0.
    assert value("lockbox_replica_lag_seconds") is None
