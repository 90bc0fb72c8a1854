"""Nobody decides on their own request; each side decides only its own step."""

from datetime import timedelta

import pytest

from approvals import transitions as t
from approvals.errors import AlreadyDecided, NotPermitted
from approvals.models import ProviderRole, State, TenantRole
from approvals.tenants import add_provider_role, add_tenant_member
from audit.models import AuditEvent
from tests.factories import request_in_state, submit

MINUTE = timedelta(minutes=1)


@pytest.fixture
def at_customer(engineer, manager, approver_a, tenant_a, now):
    return request_in_state(State.PENDING_CUSTOMER, engineer=engineer, manager=manager,
                            approver=approver_a, tenant=tenant_a, now=now)


def _refused(call, req, error=NotPermitted):
    events, decisions = AuditEvent.objects.count(), req.decisions.count()
    with pytest.raises(error) as refused:
        call()
    assert AuditEvent.objects.count() == events
    assert req.decisions.count() == decisions
    return refused.value.message


def test_it_refuses_the_requester_approving_internally(engineer, tenant_a, now):
    # An engineer who is also a manager still cannot wave their own request through.
    add_provider_role(user=engineer, role=ProviderRole.INTERNAL_APPROVER)
    req = submit(engineer=engineer, tenant=tenant_a, now=now)
    message = _refused(lambda: t.internal_approve(access_request=req, actor=engineer,
                                                  now=now + MINUTE), req)
    assert message == "Nobody can decide on their own request."
    req.refresh_from_db()
    assert req.state == State.PENDING_INTERNAL


def test_it_refuses_the_requester_approving_for_the_customer(engineer, at_customer, tenant_a,
                                                              now):
    add_tenant_member(tenant=tenant_a, user=engineer, role=TenantRole.APPROVER)
    message = _refused(lambda: t.customer_approve(access_request=at_customer, actor=engineer,
                                                  now=now + 5 * MINUTE), at_customer)
    assert message == "Nobody can decide on their own request."


def test_it_refuses_other_tenants_approver(at_customer, approver_b, now):
    message = _refused(lambda: t.customer_approve(access_request=at_customer, actor=approver_b,
                                                  now=now + 5 * MINUTE), at_customer)
    assert message == "Only Tenant A's lockbox approvers can decide this request."
    at_customer.refresh_from_db()
    assert at_customer.state == State.PENDING_CUSTOMER


def test_it_refuses_other_tenants_approver_rejecting(at_customer, approver_b, now):
    _refused(lambda: t.customer_reject(access_request=at_customer, actor=approver_b,
                                       now=now + 5 * MINUTE), at_customer)
    at_customer.refresh_from_db()
    assert at_customer.state == State.PENDING_CUSTOMER


def test_it_refuses_a_customer_approver_deciding_internally(engineer, approver_a, tenant_a, now):
    req = submit(engineer=engineer, tenant=tenant_a, now=now)
    message = _refused(lambda: t.internal_approve(access_request=req, actor=approver_a,
                                                  now=now + MINUTE), req)
    assert message == "Only the provider's internal approvers can decide this step."


def test_it_refuses_a_manager_deciding_for_the_customer(at_customer, manager, now):
    _refused(lambda: t.customer_approve(access_request=at_customer, actor=manager,
                                        now=now + 5 * MINUTE), at_customer)


@pytest.mark.parametrize("persona", ["reader_a", "admin_a", "auditor", "outsider", "engineer2"])
def test_only_approvers_decide_for_the_tenant(persona, request, at_customer, now):
    actor = request.getfixturevalue(persona)
    _refused(lambda: t.customer_approve(access_request=at_customer, actor=actor,
                                        now=now + 5 * MINUTE), at_customer)
    _refused(lambda: t.customer_reject(access_request=at_customer, actor=actor,
                                       now=now + 5 * MINUTE), at_customer)


def test_it_refuses_an_inactive_approver(at_customer, approver_a2, now):
    approver_a2.is_active = False
    approver_a2.save()
    _refused(lambda: t.customer_approve(access_request=at_customer, actor=approver_a2,
                                        now=now + 5 * MINUTE), at_customer)


def test_only_the_requester_cancels(at_customer, engineer2, manager, now):
    for actor in (engineer2, manager):
        message = _refused(lambda a=actor: t.cancel(access_request=at_customer, actor=a,
                                                    now=now + 5 * MINUTE), at_customer)
        assert message == "Only the engineer who made the request can cancel it."


@pytest.fixture
def granted(engineer, manager, approver_a, tenant_a, now):
    return request_in_state(State.APPROVED, engineer=engineer, manager=manager,
                            approver=approver_a, tenant=tenant_a, now=now)


def test_only_the_holder_releases(granted, engineer2, approver_a, now):
    for actor in (engineer2, approver_a):
        _refused(lambda a=actor: t.release(access_request=granted, actor=a, now=now + 5 * MINUTE),
                 granted)


@pytest.mark.parametrize("persona,side", [("approver_a", "customer"), ("admin_a", "customer"),
                                          ("manager2", "provider")])
def test_revocation_by_either_side_is_recorded_with_its_side(persona, side, request, granted,
                                                             now):
    actor = request.getfixturevalue(persona)
    t.revoke(access_request=granted, actor=actor, comment="enough", now=now + 5 * MINUTE)
    granted.refresh_from_db()
    assert granted.state == State.REVOKED
    event = AuditEvent.objects.filter(request_id=granted.pk).latest("seq")
    assert (event.action, event.actor_email, event.data["side"]) == ("request.revoked",
                                                                      actor.email, side)


@pytest.mark.parametrize("persona", ["reader_a", "approver_b", "engineer2", "auditor", "outsider"])
def test_others_cannot_revoke(persona, request, granted, now):
    actor = request.getfixturevalue(persona)
    _refused(lambda: t.revoke(access_request=granted, actor=actor, now=now + 5 * MINUTE), granted)
    granted.refresh_from_db()
    assert granted.state == State.APPROVED


def test_the_holder_cannot_revoke_their_own_access(granted, engineer, now):
    message = _refused(lambda: t.revoke(access_request=granted, actor=engineer,
                                        now=now + 5 * MINUTE), granted)
    assert message == "You cannot revoke your own access; release it instead."


def test_only_engineers_submit(manager, approver_a, tenant_a, now):
    for actor in (manager, approver_a):
        with pytest.raises(NotPermitted):
            submit(engineer=actor, tenant=tenant_a, now=now)
    assert not tenant_a.requests.exists()


def test_the_same_approver_twice_is_refused(tenant_a, engineer, manager, approver_a, now):
    tenant_a.required_approvals = 2
    tenant_a.save()
    req = request_in_state(State.PENDING_CUSTOMER, engineer=engineer, manager=manager,
                           approver=approver_a, tenant=tenant_a, now=now)
    t.customer_approve(access_request=req, actor=approver_a, now=now + 3 * MINUTE)
    message = _refused(lambda: t.customer_approve(access_request=req, actor=approver_a,
                                                  now=now + 4 * MINUTE), req, AlreadyDecided)
    assert "already decided" in message
