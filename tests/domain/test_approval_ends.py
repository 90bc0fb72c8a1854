"""An approver may consent only until a moment (Google's expireTime); with a quorum, each
approver's moment is kept and the earliest ends the grant."""

from datetime import timedelta

import pytest

from approvals import transitions as t
from approvals.models import DecisionLevel, State
from audit.models import AuditEvent
from tests.factories import person, request_in_state

MINUTE = timedelta(minutes=1)


@pytest.fixture
def quorum_two(tenant_a, engineer, manager, approver_a, now):
    tenant_a.required_approvals = 2
    tenant_a.save()
    return request_in_state(State.PENDING_CUSTOMER, engineer=engineer, manager=manager,
                            approver=approver_a, tenant=tenant_a, now=now)


def test_the_first_approvers_end_is_kept_and_ends_the_grant(quorum_two, approver_a,
                                                            approver_a2, now):
    chosen = now + 30 * MINUTE
    t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 3 * MINUTE,
                       ends_at=chosen)
    decision = quorum_two.decisions.get(level=DecisionLevel.CUSTOMER, actor=approver_a)
    assert decision.ends_at == chosen
    partial = AuditEvent.objects.filter(request_id=quorum_two.pk).latest("seq")
    assert partial.data["approval_ends_at"] == chosen.isoformat()

    t.customer_approve(access_request=quorum_two, actor=approver_a2, now=now + 4 * MINUTE)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.APPROVED
    assert quorum_two.access_ends_at == chosen  # not the hour the request asked for


def test_the_earliest_of_several_ends_wins(quorum_two, approver_a, approver_a2, now):
    t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 3 * MINUTE,
                       ends_at=now + 20 * MINUTE)
    t.customer_approve(access_request=quorum_two, actor=approver_a2, now=now + 4 * MINUTE,
                       ends_at=now + 40 * MINUTE)
    quorum_two.refresh_from_db()
    assert quorum_two.access_ends_at == now + 20 * MINUTE


def test_an_end_later_than_the_policy_allows_is_capped(quorum_two, approver_a, approver_a2,
                                                       now):
    t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 3 * MINUTE,
                       ends_at=now + timedelta(days=3))
    t.customer_approve(access_request=quorum_two, actor=approver_a2, now=now + 4 * MINUTE)
    quorum_two.refresh_from_db()
    # The request asked for an hour, within the tenant's four-hour maximum.
    assert quorum_two.access_ends_at == now + 4 * MINUTE + timedelta(hours=1)


def test_an_approval_whose_end_passed_no_longer_counts(quorum_two, tenant_a, approver_a,
                                                       approver_a2, now):
    third = person("approver3@a.test", tenant=tenant_a, tenant_roles=["approver"])
    t.customer_approve(access_request=quorum_two, actor=approver_a, now=now + 3 * MINUTE,
                       ends_at=now + 10 * MINUTE)
    t.customer_approve(access_request=quorum_two, actor=approver_a2, now=now + 11 * MINUTE)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.PENDING_CUSTOMER  # approver_a's consent ran out
    event = AuditEvent.objects.filter(request_id=quorum_two.pk).latest("seq")
    assert (event.action, event.data["approvals"]) == ("request.customer_approved", 1)

    t.customer_approve(access_request=quorum_two, actor=third, now=now + 12 * MINUTE)
    quorum_two.refresh_from_db()
    assert quorum_two.state == State.APPROVED
    assert quorum_two.access_ends_at == now + 12 * MINUTE + timedelta(hours=1)
