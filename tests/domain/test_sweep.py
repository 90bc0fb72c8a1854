"""The sweep records what time has decided, once."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from approvals.models import State
from approvals.sweep import sweep
from audit.models import AuditEvent
from tests.factories import request_in_state, submit

HOUR = timedelta(hours=1)


@pytest.fixture
def mixed(engineer, manager, approver_a, tenant_a, now):
    return {
        "fresh": submit(engineer=engineer, tenant=tenant_a, now=now),
        "stale": submit(engineer=engineer, tenant=tenant_a, now=now - 13 * HOUR),
        "granted": request_in_state(State.APPROVED, engineer=engineer, manager=manager,
                                    approver=approver_a, tenant=tenant_a, now=now - 2 * HOUR),
        "denied": request_in_state(State.DENIED, engineer=engineer, manager=manager,
                                   approver=approver_a, tenant=tenant_a, now=now - 20 * HOUR),
    }


def _states(mixed):
    for req in mixed.values():
        req.refresh_from_db()
    return {key: req.state for key, req in mixed.items()}


def test_it_expires_lapsed_and_completes_ended_only(mixed, now):
    result = sweep(now=now)
    assert (result.expired, result.completed) == (1, 1)
    assert _states(mixed) == {"fresh": State.PENDING_INTERNAL, "stale": State.EXPIRED,
                              "granted": State.COMPLETED, "denied": State.DENIED}
    expired = AuditEvent.objects.get(request_id=mixed["stale"].pk, action="request.expired")
    assert expired.actor_id is None and expired.actor_email == ""


def test_running_it_twice_changes_nothing_more(mixed, now):
    sweep(now=now)
    events = AuditEvent.objects.count()
    result = sweep(now=now)
    assert (result.expired, result.completed) == (0, 0)
    assert AuditEvent.objects.count() == events


def test_the_command_reports_what_it_did(mixed):
    out = StringIO()
    call_command("lockbox_sweep", stdout=out)  # on the real clock, every fixture is in the past
    assert out.getvalue() == ("lockbox_sweep: expired 2 pending request(s), completed 1 grant(s), "
                              "skipped 0 already handled\n")


def test_the_command_refuses_a_bad_interval(db):
    with pytest.raises(CommandError, match="at least 1 second"):
        call_command("lockbox_sweep", "--every", "0")
