"""Concurrency on PostgreSQL: many people (or sweeps) acting on one request at the same moment.

Each thread has its own database connection, as separate web or worker processes would.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection

from approvals import transitions as t
from approvals.errors import TransitionError
from approvals.models import Decision, ProviderRole, State, TenantRole
from approvals.sweep import sweep
from audit.models import AuditEvent
from audit.verification import verify_chain
from tests import factories

pytestmark = pytest.mark.postgres
THREADS = 50


def _run_at_once(count, action):
    """Start `count` threads behind a barrier so they hit the database together."""
    barrier = threading.Barrier(count)

    def worker(i):
        try:
            barrier.wait(timeout=30)
            return action(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))


@pytest.fixture
def crowd(transactional_db):
    tenant = factories.tenant("crowded")
    engineer = factories.person("eng@provider.test", provider_role=ProviderRole.ENGINEER)
    manager = factories.person("mgr@provider.test", provider_role=ProviderRole.INTERNAL_APPROVER)
    approvers = [factories.person(f"approver{i}@crowded.test", tenant=tenant,
                                  tenant_roles=[TenantRole.APPROVER]) for i in range(THREADS)]
    return tenant, engineer, manager, approvers


@pytest.mark.parametrize("round_", range(10))
def test_fifty_approvers_approving_and_rejecting_at_once_give_one_decision(round_, crowd):
    tenant, engineer, manager, approvers = crowd
    req = factories.submit(engineer=engineer, tenant=tenant, now=None)
    t.internal_approve(access_request=req, actor=manager)

    def decide(i):
        verb = t.customer_approve if i % 2 == 0 else t.customer_reject
        try:
            verb(access_request=req.pk, actor=approvers[i], comment=f"thread {i}")
            return "decided"
        except TransitionError:
            return "refused"

    outcomes = _run_at_once(THREADS, decide)

    req.refresh_from_db()
    assert outcomes.count("decided") == 1
    assert req.state in (State.APPROVED, State.DENIED)
    assert Decision.objects.filter(request=req, level="customer").count() == 1
    final = AuditEvent.objects.filter(
        request_id=req.pk, action__in=["request.approved", "request.customer_rejected"]
    )
    assert final.count() == 1
    expected = "request.approved" if req.state == State.APPROVED else "request.customer_rejected"
    assert final.get().action == expected
    assert verify_chain(tenant.audit_chain).ok


def test_concurrent_sweeps_expire_each_request_once(crowd):
    tenant, engineer, _, _ = crowd
    from django.utils import timezone

    long_ago = timezone.now() - timedelta(days=1)
    requests = [factories.submit(engineer=engineer, tenant=tenant, now=long_ago)
                for _ in range(20)]

    results = _run_at_once(8, lambda i: sweep())

    assert sum(r.expired for r in results) == 20
    for req in requests:
        req.refresh_from_db()
        assert req.state == State.EXPIRED
    assert AuditEvent.objects.filter(action="request.expired").count() == 20
    assert verify_chain(tenant.audit_chain).ok


def test_concurrent_appends_to_one_chain_stay_gapless(transactional_db):
    from audit.services import record_event

    _run_at_once(20, lambda i: [record_event(chain="tenant:busy", action="test.happened",
                                             data={"thread": i, "n": n}) for n in range(10)])

    seqs = list(AuditEvent.objects.filter(chain="tenant:busy").order_by("seq")
                .values_list("seq", flat=True))
    assert seqs == list(range(1, 201))
    assert verify_chain("tenant:busy").ok
