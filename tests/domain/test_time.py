"""Time boundaries, with the clock passed in: access ends on time with no background job."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from approvals import policy
from approvals import transitions as t
from approvals.access import check_access
from approvals.errors import IllegalTransition
from approvals.models import State
from approvals.sweep import sweep
from audit.models import AuditEvent
from tests.factories import request_in_state, submit

SECOND, MINUTE, HOUR = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)
RESOURCE = "exchange/mailbox/user@example.test"


@pytest.fixture
def grant(engineer, manager, approver_a, tenant_a, now):
    """Approved at now+2m for one hour."""
    return request_in_state(State.APPROVED, engineer=engineer, manager=manager,
                            approver=approver_a, tenant=tenant_a, now=now)


def test_access_is_allowed_until_one_second_before_the_end(grant, engineer, tenant_a):
    answer = check_access(engineer=engineer, tenant=tenant_a, resource=RESOURCE,
                          now=grant.access_ends_at - SECOND)
    assert answer.allowed
    assert answer.ends_at == grant.access_ends_at


def test_access_is_denied_at_the_end(grant, engineer, tenant_a):
    answer = check_access(engineer=engineer, tenant=tenant_a, resource=RESOURCE,
                          now=grant.access_ends_at)
    assert not answer.allowed


def test_access_is_denied_after_the_end_though_the_sweep_never_ran(grant, engineer, tenant_a):
    later = grant.access_ends_at + HOUR
    grant.refresh_from_db()
    assert grant.state == State.APPROVED  # nothing tidied it up...
    assert not check_access(engineer=engineer, tenant=tenant_a, resource=RESOURCE, now=later)
    assert policy.effective_state(grant, later) == State.COMPLETED  # ...and nobody is misled


def test_access_starts_at_approval_not_at_request(grant, engineer, tenant_a, now):
    assert grant.access_starts_at == now + 2 * MINUTE
    assert not check_access(engineer=engineer, tenant=tenant_a, resource=RESOURCE,
                            now=now + MINUTE)


def test_a_pending_request_expires_at_its_internal_window(engineer, manager, tenant_a, now):
    req = submit(engineer=engineer, tenant=tenant_a, now=now)
    window_end = now + 12 * HOUR
    assert req.internal_expires_at == window_end
    t.internal_approve(access_request=req.pk, actor=manager, now=window_end - SECOND)
    req2 = submit(engineer=engineer, tenant=tenant_a, now=now)
    with pytest.raises(IllegalTransition, match="expired"):
        t.internal_approve(access_request=req2, actor=manager, now=window_end)
    assert policy.effective_state(req2, window_end) == State.EXPIRED
    with pytest.raises(IllegalTransition):
        t.expire(access_request=req2, now=window_end - SECOND)
    t.expire(access_request=req2, now=window_end)
    req2.refresh_from_db()
    assert req2.state == State.EXPIRED


def test_a_pending_request_expires_at_its_customer_window(engineer, manager, approver_a,
                                                          tenant_a, now):
    tenant_a.customer_approval_window = 2 * HOUR
    tenant_a.save()
    req = submit(engineer=engineer, tenant=tenant_a, now=now)
    t.internal_approve(access_request=req, actor=manager, now=now + MINUTE)
    req.refresh_from_db()
    assert req.customer_expires_at == now + MINUTE + 2 * HOUR
    with pytest.raises(IllegalTransition, match="expired"):
        t.customer_approve(access_request=req, actor=approver_a, now=req.customer_expires_at)
    t.customer_approve(access_request=req, actor=approver_a, now=req.customer_expires_at - SECOND)
    req.refresh_from_db()
    assert req.state == State.APPROVED


def test_the_duration_is_capped_by_the_policy_at_approval(engineer, manager, approver_a,
                                                          tenant_a, now):
    req = submit(engineer=engineer, tenant=tenant_a, now=now, hours=4)
    tenant_a.max_access_duration = HOUR  # the tenant tightened its policy meanwhile
    tenant_a.save()
    t.internal_approve(access_request=req, actor=manager, now=now + MINUTE)
    t.customer_approve(access_request=req, actor=approver_a, now=now + 2 * MINUTE)
    req.refresh_from_db()
    assert req.access_ends_at - req.access_starts_at == HOUR
    assert req.access_ends_at == now + 2 * MINUTE + HOUR
    event = AuditEvent.objects.filter(request_id=req.pk, action="request.approved").get()
    assert event.data["capped_by_policy"] is True


def test_a_request_over_the_policy_is_refused(engineer, tenant_a, now):
    with pytest.raises(ValidationError, match="at most 4 h"):
        submit(engineer=engineer, tenant=tenant_a, now=now, hours=5)


def test_the_sweep_completes_the_grant_at_its_end(grant, now):
    assert sweep(now=grant.access_ends_at - SECOND).completed == 0
    assert sweep(now=grant.access_ends_at).completed == 1
    grant.refresh_from_db()
    assert grant.state == State.COMPLETED
    assert grant.closed_at == grant.access_ends_at


def test_release_and_revoke_are_refused_once_the_time_box_ended(grant, engineer, approver_a):
    with pytest.raises(IllegalTransition, match="already ended"):
        t.release(access_request=grant, actor=engineer, now=grant.access_ends_at)
    with pytest.raises(IllegalTransition, match="already ended"):
        t.revoke(access_request=grant, actor=approver_a, now=grant.access_ends_at)


def test_complete_is_refused_before_the_end(grant):
    with pytest.raises(IllegalTransition, match="runs until"):
        t.complete(access_request=grant, now=grant.access_ends_at - SECOND)


@pytest.mark.parametrize("requested,maximum,expected", [
    (HOUR, 4 * HOUR, HOUR),
    (4 * HOUR, 4 * HOUR, 4 * HOUR),
    (8 * HOUR, 4 * HOUR, 4 * HOUR),
])
def test_grant_window(requested, maximum, expected, now):
    assert policy.grant_window(approved_at=now, requested=requested, maximum=maximum) == (
        now, now + expected)


def test_window_open_is_exclusive_at_its_end(now):
    assert policy.window_open(now + SECOND, now)
    assert not policy.window_open(now, now)
    assert not policy.window_open(None, now)


@pytest.mark.parametrize("text", ["2026-02-30T10:00:00+00:00", "2026-03-01T25:00:00Z",
                                  "2026-03-01T10:00:00", "yesterday", "", None, 5, "9" * 100,
                                  "0001-01-01T00:00:00+05:00"])
def test_a_time_from_outside_is_a_moment_or_nothing_never_a_crash(text):
    from lockbox_portal.clock import parse_instant

    assert parse_instant(text) is None


def test_a_well_formed_time_keeps_its_offset():
    from lockbox_portal.clock import parse_instant

    moment = parse_instant("2026-03-01T10:00:00.5+02:00")
    assert moment.utcoffset().total_seconds() == 7200 and moment.microsecond == 500000
