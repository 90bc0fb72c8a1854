"""Customer quorum: required_approvals distinct approvers; any one rejection denies."""

from datetime import timedelta

import pytest

from approvals import transitions as t
from approvals.errors import AlreadyDecided
from approvals.models import State, TenantRole
from approvals.tenants import add_tenant_member
from audit.models import AuditEvent
from tests.factories import person, request_in_state

MINUTE = timedelta(minutes=1)


@pytest.fixture
def quorum_two(tenant_a, engineer, manager, approver_a, now):
    tenant_a.required_approvals = 2
    tenant_a.save()
    return request_in_state(State.PENDING_CUSTOMER, engineer=engineer, manager=manager,
                            approver=approver_a, tenant=tenant_a, now=now)


def test_one_approval_of_two_leaves_it_pending(quorum_two, approver_a, now):
    t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 3 * MINUTE)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.PENDING_CUSTOMER
    assert quorum_two.access_starts_at is None
    event = AuditEvent.objects.filter(request_id=quorum_two.pk).latest("seq")
    assert event.action == "request.customer_approved"
    assert (event.data["approvals"], event.data["required_approvals"]) == (1, 2)


def test_a_second_distinct_approver_grants_access(quorum_two, approver_a, approver_a2, now):
    t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 3 * MINUTE)
    t.customer_approve(access_request=quorum_two, actor=approver_a2, now=now + 4 * MINUTE)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.APPROVED
    assert quorum_two.access_starts_at == now + 4 * MINUTE
    assert quorum_two.access_ends_at == now + 4 * MINUTE + timedelta(hours=1)
    event = AuditEvent.objects.filter(request_id=quorum_two.pk).latest("seq")
    assert (event.action, event.data["approvals"]) == ("request.approved", 2)


def test_the_same_approver_twice_counts_once(quorum_two, approver_a, now):
    t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 3 * MINUTE)
    with pytest.raises(AlreadyDecided):
        t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 4 * MINUTE)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.PENDING_CUSTOMER
    assert quorum_two.decisions.filter(level="customer").count() == 1


def test_one_rejection_denies_even_after_an_approval(quorum_two, approver_a, approver_a2, now):
    t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 3 * MINUTE)
    t.customer_reject(access_request=quorum_two, actor=approver_a2, comment="No.",
                      now=now + 4 * MINUTE)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.DENIED
    assert quorum_two.access_starts_at is None
    assert quorum_two.closed_at == now + 4 * MINUTE


def test_an_approver_who_approved_cannot_then_reject(quorum_two, approver_a, now):
    t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 3 * MINUTE)
    with pytest.raises(AlreadyDecided):
        t.customer_reject(access_request=quorum_two, actor=approver_a, now=now + 4 * MINUTE)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.PENDING_CUSTOMER


def test_the_quorum_is_fixed_when_the_customer_step_starts(quorum_two, tenant_a, approver_a,
                                                           now):
    # Raising the tenant's policy later does not move the goalposts of a request in flight.
    tenant_a.required_approvals = 3
    tenant_a.save()
    approver_c = person("approver3@a.test", tenant=tenant_a, tenant_roles=[TenantRole.APPROVER])
    t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 3 * MINUTE)
    t.customer_approve(access_request=quorum_two, actor=approver_c, now=now + 4 * MINUTE)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.APPROVED


def test_a_person_with_two_tenant_roles_still_counts_once(quorum_two, tenant_a, approver_a, now):
    add_tenant_member(tenant=tenant_a, user=approver_a, role=TenantRole.ADMIN)
    t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 3 * MINUTE)
    with pytest.raises(AlreadyDecided):
        t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 4 * MINUTE)
