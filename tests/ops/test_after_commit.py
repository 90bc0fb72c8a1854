"""A change that committed is reported as done, even when the database goes away right after.

The fault: as soon as a state change commits, PostgreSQL ends the session the request was
using (as a crash, a failover or an operator's kill would), so everything the request still
asks of the database fails. The person or client must hear that the change was made, because
it was; and, with an Idempotency-Key, a change whose commit failed is never reported as made.
"""

import psycopg
import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from approvals import transitions
from approvals.models import State
from tests import factories
from tests.api_helpers import Api, make_token
from tests.clients import make_requests, signed_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _terminate(pid):
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432,
                         user=db["USER"], dbname=db["NAME"], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


class Fault:
    """Armed, it ends the request's database session once the next state change commits."""

    def __init__(self):
        self.armed = False
        self.fired = None  # the backend pid it ended

    def arm(self):
        self.armed = True


@pytest.fixture
def fault(monkeypatch):
    real = transitions.record_event
    fault = Fault()

    def record_then_strike(**kwargs):
        event = real(**kwargs)
        if fault.armed and fault.fired is None:
            fault.fired = connection.connection.info.backend_pid
            # Registered before the transition's own after-commit work, so that runs on a
            # dead session too.
            transaction.on_commit(lambda: _terminate(fault.fired))
        return event

    monkeypatch.setattr(transitions, "record_event", record_then_strike)
    yield fault
    connection.close()  # the test's own session may be the one that was ended


def _state(req):
    connection.close()
    req.refresh_from_db()
    return req.state


@pytest.fixture
def pending_and_active(engineer, manager, approver_a, tenant_a):
    return make_requests(engineer=engineer, manager=manager, approver=approver_a,
                         tenant=tenant_a, now=timezone.now())


def test_an_approval_in_the_portal_is_reported_done(fault, pending_and_active,
                                                    approver_a2, tenant_a):
    pending, _ = pending_and_active
    client = signed_in(approver_a2)
    fault.arm()
    response = client.post(reverse("portal:approve", args=[tenant_a.slug, pending.pk]),
                           {"code": client.codes[0]})
    assert fault.fired
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:request", args=[tenant_a.slug, pending.pk])
    assert _state(pending) == State.APPROVED


def test_a_revocation_in_the_portal_is_reported_done(fault, pending_and_active,
                                                     approver_a2, tenant_a):
    _, active = pending_and_active
    client = signed_in(approver_a2)
    fault.arm()
    response = client.post(reverse("portal:revoke", args=[tenant_a.slug, active.pk]),
                           {"code": client.codes[0]})
    assert fault.fired and response.status_code == 302
    assert _state(active) == State.REVOKED


def test_a_managers_approval_on_the_internal_site_is_reported_done(fault,
                                                                   engineer, manager2, tenant_a):
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())
    client = signed_in(manager2)
    fault.arm()
    response = client.post(reverse("internal:approve", args=[req.pk]),
                           {"code": client.codes[0], "comment": "fine"})
    assert fault.fired and response.status_code == 302
    assert _state(req) == State.PENDING_CUSTOMER


@pytest.fixture
def waiting(engineer, manager, tenant_a):
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())
    transitions.internal_approve(access_request=req, actor=manager)
    return req


def test_a_google_approval_is_answered_as_made(fault, waiting, decider):
    fault.arm()
    response = decider.post(f"/v1/organizations/tenant-a/approvalRequests/{waiting.pk}:approve",
                            {})
    assert fault.fired
    assert response.status_code == 200, response.content
    assert "approve" in response.json() or response.json().get("lockbox", {}).get("state")
    assert _state(waiting) == State.APPROVED


def test_an_azure_approval_is_answered_as_made(fault, waiting, decider):
    fault.arm()
    response = decider.post(
        f"/subscriptions/tenant-a/providers/Microsoft.CustomerLockbox/requests/{waiting.pk}"
        "/updateApproval", {"status": "Approve", "reason": "ok"},
        **{"api-version": "2018-02-28-preview"})
    assert fault.fired
    assert response.status_code == 200, response.content
    assert _state(waiting) == State.APPROVED


def test_a_cancel_through_the_api_is_answered_as_made(fault, engineer, tenant_a):
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())
    api = Api(make_token(engineer, "support")[1])
    fault.arm()
    response = api.post(f"/api/v1/requests/{req.pk}/cancel", {})
    assert fault.fired
    assert response.status_code == 200, response.content
    assert response.json()["state"] == State.CANCELLED
    assert _state(req) == State.CANCELLED
