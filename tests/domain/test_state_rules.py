"""Each state rule is written once, as a pure function (policy) and as a query (selectors): both
must pick the same requests at every moment, and the buttons a page shows (policy.allowed_verbs)
must be the moves the lifecycle accepts."""

from datetime import timedelta

import pytest

from approvals import policy, selectors
from approvals.models import AccessRequest, ProviderRole, State, TenantRole
from approvals.policy import Person, Verb
from tests.factories import request_in_state

MOMENTS = [timedelta(0), timedelta(minutes=3), timedelta(minutes=30), timedelta(hours=2),
           timedelta(hours=13), timedelta(days=2)]

PAIRS = [
    (policy.is_awaiting_decision, selectors.awaiting_decision),
    (policy.has_lapsed, selectors.lapsed),
    (policy.is_access_active, selectors.access_active),
    (policy.has_run_out, selectors.run_out),
    (policy.access_has_ended, selectors.access_ended),
    (policy.summary_due, selectors.summary_due),
]


@pytest.fixture
def every_state(engineer, manager, approver_a, tenant_a, now):
    return [request_in_state(state, engineer=engineer, manager=manager, approver=approver_a,
                             tenant=tenant_a, now=now) for state in State]


@pytest.mark.parametrize("later", MOMENTS, ids=str)
def test_the_query_and_the_function_pick_the_same_requests(every_state, now, later):
    at = now + later
    rows = list(AccessRequest.objects.all())
    for rule, condition in PAIRS:
        picked = set(AccessRequest.objects.filter(condition(at)).values_list("pk", flat=True))
        assert picked == {r.pk for r in rows if rule(r, at)}, rule.__name__
    for stage in (State.PENDING_INTERNAL, State.PENDING_CUSTOMER):
        picked = set(AccessRequest.objects.filter(selectors.awaiting_decision(at, stage=stage))
                     .values_list("pk", flat=True))
        assert picked == {r.pk for r in rows if policy.is_awaiting_decision(r, at, stage=stage)}


@pytest.mark.parametrize("later", MOMENTS, ids=str)
def test_a_list_filtered_by_state_shows_what_the_page_shows(every_state, now, later):
    at = now + later
    rows = list(AccessRequest.objects.all())
    for state in State:
        picked = set(AccessRequest.objects.filter(selectors.shown_as(state, at))
                     .values_list("pk", flat=True))
        assert picked == {r.pk for r in rows if policy.effective_state(r, at) == state}, state


def _request(state, engineer, manager, approver, tenant, now):
    return request_in_state(state, engineer=engineer, manager=manager, approver=approver,
                            tenant=tenant, now=now)


def test_an_approver_may_decide_once_and_never_on_their_own_request(
        engineer, manager, approver_a, approver_a2, tenant_a, now):
    req = _request(State.PENDING_CUSTOMER, engineer, manager, approver_a, tenant_a, now)
    approver = Person(approver_a2.pk, tenant_roles=frozenset({TenantRole.APPROVER}))
    assert policy.allowed_verbs(req, approver, now=now) == {Verb.CUSTOMER_APPROVE,
                                                           Verb.CUSTOMER_REJECT}
    assert policy.allowed_verbs(req, approver, now=now, has_decided=True) == set()
    requester = Person(engineer.pk, tenant_roles=frozenset({TenantRole.APPROVER}))
    assert policy.allowed_verbs(req, requester, now=now) == {Verb.CANCEL}


def test_nobody_decides_once_the_window_has_closed(engineer, manager, approver_a, tenant_a, now):
    req = _request(State.PENDING_CUSTOMER, engineer, manager, approver_a, tenant_a, now)
    approver = Person(approver_a.pk, tenant_roles=frozenset({TenantRole.APPROVER}))
    just_before = req.customer_expires_at - timedelta(microseconds=1)
    assert Verb.CUSTOMER_APPROVE in policy.allowed_verbs(req, approver, now=just_before)
    assert policy.allowed_verbs(req, approver, now=req.customer_expires_at) == set()
    assert policy.allowed_verbs(req, Person(engineer.pk), now=req.customer_expires_at) == set()


def test_a_manager_decides_the_provider_step_but_not_their_own(engineer, manager, approver_a,
                                                               tenant_a, now):
    req = _request(State.PENDING_INTERNAL, engineer, manager, approver_a, tenant_a, now)
    roles = frozenset({ProviderRole.INTERNAL_APPROVER})
    assert policy.allowed_verbs(req, Person(manager.pk, provider_roles=roles), now=now) == {
        Verb.INTERNAL_APPROVE, Verb.INTERNAL_REJECT}
    assert policy.allowed_verbs(req, Person(engineer.pk, provider_roles=roles), now=now) == {
        Verb.CANCEL}


def test_running_access_is_revoked_by_others_and_released_by_its_holder(
        engineer, manager, approver_a, admin_a, tenant_a, now):
    req = _request(State.APPROVED, engineer, manager, approver_a, tenant_a, now)
    during = req.access_starts_at + timedelta(minutes=1)
    admin = Person(admin_a.pk, tenant_roles=frozenset({TenantRole.ADMIN}))
    manager_ = Person(manager.pk, provider_roles=frozenset({ProviderRole.INTERNAL_APPROVER}))
    assert policy.allowed_verbs(req, admin, now=during) == {Verb.REVOKE}
    assert policy.allowed_verbs(req, manager_, now=during) == {Verb.REVOKE}
    assert policy.allowed_verbs(req, Person(engineer.pk), now=during) == {Verb.RELEASE}
    assert policy.allowed_verbs(req, admin, now=req.access_ends_at) == set()
    assert policy.state_refusal(Verb.COMPLETE, req, req.access_ends_at) == ""
