"""The data plane's question: anything not covered by an active grant is denied."""

from datetime import timedelta

import pytest

from approvals import transitions as t
from approvals.access import check_access
from approvals.models import State
from tests.factories import request_in_state, submit

MINUTE = timedelta(minutes=1)


@pytest.fixture
def at(now):
    return now + 10 * MINUTE


def _grant(engineer, manager, approver, tenant, now, **fields):
    req = submit(engineer=engineer, tenant=tenant, now=now, **fields)
    t.internal_approve(access_request=req, actor=manager, now=now + MINUTE)
    return t.customer_approve(access_request=req, actor=approver, now=now + 2 * MINUTE)


def test_it_allows_a_resource_in_scope(engineer, manager, approver_a, tenant_a, now, at):
    grant = _grant(engineer, manager, approver_a, tenant_a, now)
    answer = check_access(engineer=engineer, tenant=tenant_a,
                          resource="exchange/mailbox/user@example.test", now=at)
    assert answer.allowed
    assert answer.request_id == str(grant.pk)


def test_it_denies_a_resource_out_of_scope(engineer, manager, approver_a, tenant_a, now, at):
    _grant(engineer, manager, approver_a, tenant_a, now)
    answer = check_access(engineer=engineer, tenant=tenant_a,
                          resource="exchange/mailbox/ceo@example.test", now=at)
    assert not answer.allowed
    assert "covers resource" in answer.reason


def test_a_wildcard_covers_what_is_below_it_only(engineer, manager, approver_a, tenant_a, now,
                                                 at):
    _grant(engineer, manager, approver_a, tenant_a, now, scope=["sharepoint/sites/finance/*"])
    ask = lambda r: check_access(engineer=engineer, tenant=tenant_a, resource=r, now=at).allowed  # noqa: E731
    assert ask("sharepoint/sites/finance/list-1")
    assert ask("sharepoint/sites/finance/docs/q3.xlsx")
    assert not ask("sharepoint/sites/finance")
    assert not ask("sharepoint/sites/finance-archive/list-1")
    assert not ask("sharepoint/sites/hr/list-1")


def test_read_only_grants_refuse_writes(engineer, manager, approver_a, tenant_a, now, at):
    _grant(engineer, manager, approver_a, tenant_a, now)
    answer = check_access(engineer=engineer, tenant=tenant_a, level="read_write",
                          resource="exchange/mailbox/user@example.test", now=at)
    assert not answer.allowed
    assert "read-only" in answer.reason


def test_read_write_grants_allow_reads_and_writes(engineer, manager, approver_a, tenant_a, now,
                                                  at):
    _grant(engineer, manager, approver_a, tenant_a, now, access_level="read_write")
    for level in ("read_only", "read_write"):
        assert check_access(engineer=engineer, tenant=tenant_a, level=level,
                            resource="exchange/mailbox/user@example.test", now=at)


def test_it_denies_another_engineer(engineer, engineer2, manager, approver_a, tenant_a, now, at):
    _grant(engineer, manager, approver_a, tenant_a, now)
    assert not check_access(engineer=engineer2, tenant=tenant_a,
                            resource="exchange/mailbox/user@example.test", now=at)


def test_it_denies_another_tenant(engineer, manager, approver_a, tenant_a, tenant_b, now, at):
    _grant(engineer, manager, approver_a, tenant_a, now)
    assert not check_access(engineer=engineer, tenant=tenant_b,
                            resource="exchange/mailbox/user@example.test", now=at)


@pytest.mark.parametrize("state", [State.PENDING_INTERNAL, State.PENDING_CUSTOMER, State.DENIED,
                                   State.EXPIRED, State.CANCELLED, State.REVOKED,
                                   State.COMPLETED])
def test_it_denies_every_state_but_approved(state, engineer, manager, approver_a, tenant_a, now):
    request_in_state(state, engineer=engineer, manager=manager, approver=approver_a,
                     tenant=tenant_a, now=now)
    answer = check_access(engineer=engineer, tenant=tenant_a,
                          resource="exchange/mailbox/user@example.test", now=now + 5 * MINUTE)
    assert not answer.allowed


def test_revocation_ends_access_at_once(engineer, manager, approver_a, tenant_a, now, at):
    grant = _grant(engineer, manager, approver_a, tenant_a, now)
    t.revoke(access_request=grant, actor=approver_a, now=at)
    assert not check_access(engineer=engineer, tenant=tenant_a,
                            resource="exchange/mailbox/user@example.test", now=at)


def test_it_denies_an_unknown_level(engineer, tenant_a, now):
    answer = check_access(engineer=engineer, tenant=tenant_a, resource="x", level="admin",
                          now=now)
    assert not answer.allowed and "Unknown access level" in answer.reason


def test_internal_approval_alone_grants_when_lockbox_is_off(engineer, manager, tenant_a, now,
                                                           at):
    tenant_a.lockbox_enabled = False
    tenant_a.save()
    req = submit(engineer=engineer, tenant=tenant_a, now=now)
    t.internal_approve(access_request=req, actor=manager, now=now + MINUTE)
    req.refresh_from_db()
    assert (req.state, req.customer_step_skipped) == (State.APPROVED, "lockbox_disabled")
    assert check_access(engineer=engineer, tenant=tenant_a,
                        resource="exchange/mailbox/user@example.test", now=at)
    event = req.transitions.last()
    assert event.to_state == State.APPROVED


def test_internal_approval_alone_grants_when_no_content_is_touched(engineer, manager, tenant_a,
                                                                  now):
    req = submit(engineer=engineer, tenant=tenant_a, now=now, touches_customer_content=False)
    t.internal_approve(access_request=req, actor=manager, now=now + MINUTE)
    req.refresh_from_db()
    assert (req.state, req.customer_step_skipped) == (State.APPROVED, "no_customer_content")
    from audit.models import AuditEvent

    event = AuditEvent.objects.get(request_id=req.pk, action="request.approved")
    # Recorded in the tenant's own chain, so the customer sees that its step was skipped.
    assert event.chain == "tenant:tenant-a"
    assert event.data["customer_step_skipped"] == "no_customer_content"
