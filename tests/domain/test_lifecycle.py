"""Every (state, verb) pair: the allowed ones work; every other is refused and writes nothing."""

from datetime import timedelta

import pytest

from approvals import policy
from approvals import transitions as t
from approvals.errors import TransitionError
from approvals.models import State, Transition
from audit.models import AuditEvent
from tests.factories import request_in_state

# DESIGN.md's lifecycle, written out independently of approvals.policy.ALLOWED.
MOVES = {
    (State.PENDING_INTERNAL, "internal_approve"): State.PENDING_CUSTOMER,
    (State.PENDING_INTERNAL, "internal_reject"): State.DENIED,
    (State.PENDING_INTERNAL, "cancel"): State.CANCELLED,
    (State.PENDING_INTERNAL, "expire"): State.EXPIRED,
    (State.PENDING_CUSTOMER, "customer_approve"): State.APPROVED,
    (State.PENDING_CUSTOMER, "customer_reject"): State.DENIED,
    (State.PENDING_CUSTOMER, "cancel"): State.CANCELLED,
    (State.PENDING_CUSTOMER, "expire"): State.EXPIRED,
    (State.APPROVED, "revoke"): State.REVOKED,
    (State.APPROVED, "release"): State.COMPLETED,
    (State.APPROVED, "complete"): State.COMPLETED,
}
VERBS = ["internal_approve", "internal_reject", "customer_approve", "customer_reject", "cancel",
         "expire", "revoke", "release", "complete"]


def perform(verb, req, people, now):
    """Each verb by the person entitled to it, at a time when only the state can refuse it."""
    soon = now + timedelta(minutes=5)
    calls = {
        "internal_approve": lambda: t.internal_approve(access_request=req, actor=people["manager"],
                                                       now=soon),
        "internal_reject": lambda: t.internal_reject(access_request=req, actor=people["manager"],
                                                     now=soon),
        "customer_approve": lambda: t.customer_approve(access_request=req,
                                                       actor=people["approver2"], now=soon),
        "customer_reject": lambda: t.customer_reject(access_request=req, actor=people["approver2"],
                                                     now=soon),
        "cancel": lambda: t.cancel(access_request=req, actor=people["engineer"], now=soon),
        # After both approval windows (12 h each) have lapsed.
        "expire": lambda: t.expire(access_request=req, now=now + timedelta(hours=13)),
        "revoke": lambda: t.revoke(access_request=req, actor=people["approver2"], now=soon),
        "release": lambda: t.release(access_request=req, actor=people["engineer"], now=soon),
        # After the one-hour grant has run out.
        "complete": lambda: t.complete(access_request=req, now=now + timedelta(hours=2)),
    }
    return calls[verb]()


@pytest.fixture
def people(engineer, manager, approver_a, approver_a2):
    return {"engineer": engineer, "manager": manager, "approver": approver_a,
            "approver2": approver_a2}


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_each_move_is_allowed_only_from_its_states(state, verb, people, tenant_a, now):
    req = request_in_state(state, engineer=people["engineer"], manager=people["manager"],
                           approver=people["approver"], tenant=tenant_a, now=now)
    events_before = AuditEvent.objects.count()
    history_before = Transition.objects.count()

    if (state, verb) in MOVES:
        perform(verb, req, people, now)
        req.refresh_from_db()
        assert req.state == MOVES[(state, verb)]
        assert AuditEvent.objects.count() == events_before + 1
        assert Transition.objects.filter(request=req).last().to_state == req.state
    else:
        with pytest.raises(TransitionError):
            perform(verb, req, people, now)
        req.refresh_from_db()
        assert req.state == state
        assert AuditEvent.objects.count() == events_before
        assert Transition.objects.count() == history_before


def test_the_code_table_matches_the_design(db):
    code = {(s, v.value) for v, states in policy.ALLOWED.items() for s in states}
    assert code == set(MOVES)


def test_refusal_message_names_the_request_and_its_state(people, tenant_a, now):
    req = request_in_state(State.DENIED, engineer=people["engineer"], manager=people["manager"],
                           approver=people["approver"], tenant=tenant_a, now=now)
    with pytest.raises(TransitionError) as refused:
        t.cancel(access_request=req, actor=people["engineer"], now=now + timedelta(minutes=5))
    assert refused.value.message == (
        f"Request {req.reference} is denied; it cannot be cancelled now.")


def test_history_records_every_move_in_order(people, tenant_a, now):
    req = request_in_state(State.REVOKED, engineer=people["engineer"], manager=people["manager"],
                           approver=people["approver"], tenant=tenant_a, now=now)
    moves = list(req.transitions.values_list("from_state", "to_state", "actor__email"))
    assert moves == [
        ("", State.PENDING_INTERNAL, "engineer@provider.test"),
        (State.PENDING_INTERNAL, State.PENDING_CUSTOMER, "manager@provider.test"),
        (State.PENDING_CUSTOMER, State.APPROVED, "approver@a.test"),
        (State.APPROVED, State.REVOKED, "approver@a.test"),
    ]


def test_audit_names_each_step_and_its_person(people, tenant_a, now):
    req = request_in_state(State.COMPLETED, engineer=people["engineer"],
                           manager=people["manager"], approver=people["approver"],
                           tenant=tenant_a, now=now)
    events = AuditEvent.objects.filter(request_id=req.pk).order_by("seq")
    assert [(e.action, e.actor_email) for e in events] == [
        ("request.submitted", "engineer@provider.test"),
        ("request.internal_approved", "manager@provider.test"),
        ("request.approved", "approver@a.test"),
        ("request.released", "engineer@provider.test"),
    ]
    assert {e.chain for e in events} == {"tenant:tenant-a"}
    granted = events[2].data
    assert granted["access_ends_at"] == (now + timedelta(minutes=2, hours=1)).isoformat()
