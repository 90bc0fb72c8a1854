"""Reads that can wait go to a real streaming replica; what decides, and what the reader just
did, comes from the primary.

One primary and replica pair (tests/replication.py) serves the module: it is migrated, and this
process's "default" alias points at its primary and a "replica" alias at its replica while the
module runs. Pages are asked through Django's test client, so the router, the read-your-writes
middleware and the views run as deployed; which server answered is counted per alias, and shown
by the page itself while the replica's replay is paused (the replica does not know the newest
rows yet).
"""

import re
import subprocess
import sys
import time

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from approvals import transitions as t
from approvals.models import ProviderRole, State, TenantRole
from lockbox_portal.db import replica
from tests import factories
from tests.clients import signed_in
from tests.processes import ROOT
from tests.replication import PostgresPair, needs_pg_binaries

pytestmark = [pytest.mark.postgres, needs_pg_binaries]


@pytest.fixture(scope="module")
def pair(tmp_path_factory, django_db_blocker):
    """The pair, migrated, with this process's database aliases pointed at it."""
    with PostgresPair(tmp_path_factory.mktemp("replica")) as started:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                       env={"PATH": "/usr/bin:/bin", "DATABASE_URL": started.primary_url(),
                            "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.test"},
                       check=True, capture_output=True, timeout=180)
        databases = connections.settings
        saved = {alias: databases[alias] for alias in list(databases)}
        with django_db_blocker.unblock():
            _close_all()
            databases["default"] = {**saved["default"], "NAME": started.dbname,
                                    "HOST": "127.0.0.1", "PORT": started.primary_port,
                                    "USER": "postgres", "PASSWORD": ""}
            databases["replica"] = {**databases["default"], "PORT": started.replica_port}
            try:
                yield started
            finally:
                _close_all()
                databases.clear()
                databases.update(saved)
                replica.forget_replica_state()


def _close_all():
    for alias in list(connections.settings):
        if hasattr(connections._connections, alias):
            connections[alias].close()
            del connections[alias]


@pytest.fixture
def world(pair, settings):
    """A tenant with two approvers, a compliance reader, an engineer, a manager and an auditor,
    names unique to the test; the replica caught up, replay running, the check forgotten."""
    settings.LOCKBOX_REPLICA_MAX_LAG_SECONDS = 3600
    pair.resume_replay()
    tag = f"{time.monotonic_ns()}"
    tenant = factories.tenant(f"t{tag}")
    people = {
        "approver": factories.person(f"a1-{tag}@x.test", tenant=tenant,
                                     tenant_roles=[TenantRole.APPROVER]),
        "approver2": factories.person(f"a2-{tag}@x.test", tenant=tenant,
                                      tenant_roles=[TenantRole.APPROVER]),
        "reader": factories.person(f"r-{tag}@x.test", tenant=tenant,
                                   tenant_roles=[TenantRole.COMPLIANCE_READER]),
        "admin": factories.person(f"ad-{tag}@x.test", tenant=tenant,
                                  tenant_roles=[TenantRole.ADMIN]),
        "engineer": factories.person(f"e-{tag}@x.test", provider_role=ProviderRole.ENGINEER),
        "manager": factories.person(f"m-{tag}@x.test",
                                    provider_role=ProviderRole.INTERNAL_APPROVER),
        "auditor": factories.person(f"au-{tag}@x.test", provider_role=ProviderRole.AUDITOR),
    }
    clients = {name: signed_in(user) for name, user in people.items()}
    pair.wait_caught_up()
    replica.forget_replica_state()
    yield tenant, people, clients
    pair.resume_replay()


def _waiting(tenant, people, case):
    req = factories.submit(engineer=people["engineer"], tenant=tenant, now=timezone.now(),
                           case_reference=case)
    return t.internal_approve(access_request=req, actor=people["manager"])


def _get(client, url, **extra):
    """The page, and how many of its reads the replica answered (the router's check of the
    replica's lag is not one of them)."""
    with CaptureQueriesContext(connections["replica"]) as standby:
        page = _fetch(client, url, **extra)
    return page, len(_reads(standby))


def _fetch(client, url, **extra):
    page = client.get(url, **extra)
    assert page.status_code == 200, page.content[:500]
    return page.content.decode()


def _reads(captured):
    return [q for q in captured.captured_queries if "pg_last_wal_replay_lsn" not in q["sql"]]


def _shown_state(html, case):
    row = re.search(rf"<tr>(?:(?!</tr>).)*{case}(?:(?!</tr>).)*</tr>", html, re.S)
    if row is None:
        return None
    return re.search(r"badge state-(\w+)", row.group(0)).group(1)


def test_a_person_sees_their_own_decision_while_others_may_read_the_lagging_replica(pair, world):
    tenant, people, clients = world
    req = _waiting(tenant, people, "CASE-RYW")
    pair.wait_caught_up()
    history = reverse("portal:history", args=[tenant.slug])
    pair.pause_replay()

    decided = clients["approver"].post(reverse("portal:approve", args=[tenant.slug, req.pk]),
                                       {"code": clients["approver"].codes[0]})
    assert decided.status_code == 302

    own, from_replica = _get(clients["approver"], history)
    assert _shown_state(own, "CASE-RYW") == State.APPROVED
    assert from_replica == 0, "the decider's page came from a replica that lacks the decision"

    other, from_replica = _get(clients["approver2"], history)
    assert from_replica > 0
    assert _shown_state(other, "CASE-RYW") == State.PENDING_CUSTOMER  # the replica's view

    pair.resume_replay()
    pair.wait_caught_up()
    replica.forget_replica_state()
    own, from_replica = _get(clients["approver"], history)
    assert from_replica > 0, "once the replica has replayed the decision, it may serve it"
    assert _shown_state(own, "CASE-RYW") == State.APPROVED


@pytest.mark.parametrize("who, page", [
    ("approver", "portal:history"), ("approver", "portal:audit"),
    ("reader", "portal:compliance"), ("auditor", "internal:audit"),
    ("auditor", "internal:compliance"), ("engineer", "internal:my_requests"),
])
def test_pages_that_may_lag_are_served_by_the_replica(pair, world, who, page):
    tenant, _, clients = world
    args = [tenant.slug] if page.startswith("portal:") else []

    _, from_replica = _get(clients[who], reverse(page, args=args))

    assert from_replica > 0


def test_the_siem_feed_reads_the_replica(pair, world):
    from approvals.tokens import create_token

    tenant, people, _ = world
    secret = create_token(owner=people["admin"], name="siem", purpose="tenant_read", days=1,
                          tenant=tenant)[1]
    pair.wait_caught_up()
    replica.forget_replica_state()

    body, from_replica = _get(
        Client(),
        reverse("api_audit_feed", args=[tenant.slug]), HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert from_replica > 0
    assert '"events"' in body


def test_deciding_pages_and_the_access_check_never_read_the_replica(pair, world):
    tenant, people, clients = world
    req = _waiting(tenant, people, "CASE-DECIDE")
    pair.wait_caught_up()
    replica.forget_replica_state()

    with CaptureQueriesContext(connections["replica"]) as standby:
        clients["approver"].get(reverse("portal:request", args=[tenant.slug, req.pk]))
        clients["approver"].post(reverse("portal:approve", args=[tenant.slug, req.pk]),
                                 {"code": clients["approver"].codes[0]})
        clients["manager"].get(reverse("internal:queue"))

    assert _reads(standby) == []


def test_a_replica_further_behind_than_the_bound_is_not_read(pair, world, settings):
    tenant, people, clients = world
    settings.LOCKBOX_REPLICA_MAX_LAG_SECONDS = 1
    pair.pause_replay()
    _waiting(tenant, people, "CASE-LATE")
    time.sleep(1.5)
    replica.forget_replica_state()

    html, from_replica = _get(clients["approver2"], reverse("portal:history",
                                                               args=[tenant.slug]))

    assert replica.replica_lag_seconds() > 1
    assert from_replica == 0
    assert _shown_state(html, "CASE-LATE") == State.PENDING_CUSTOMER


@pytest.mark.parametrize("how", ["stopped", "frozen"])
def test_a_replica_that_cannot_be_reached_sends_reads_to_the_primary_in_bounded_time(
        pair, world, how, settings):
    tenant, people, clients = world
    _waiting(tenant, people, "CASE-DOWN")
    history = reverse("portal:history", args=[tenant.slug])
    settings.LOCKBOX_REPLICA_CHECK_TIMEOUT = 0.5
    stop, start = ((pair.stop_replica, pair.start_replica) if how == "stopped"
                   else (pair.freeze_replica, pair.thaw_replica))
    stop()
    try:
        started = time.monotonic()
        html = _fetch(clients["approver2"], history)
        took = time.monotonic() - started
        again = time.monotonic()
        _fetch(clients["approver2"], history)
        took_again = time.monotonic() - again
    finally:
        start()
        replica.forget_replica_state()

    assert _shown_state(html, "CASE-DOWN") == State.PENDING_CUSTOMER
    assert replica.replica_lag_seconds() is not None  # back, and used again
    assert took < 3
    assert took_again < 1, "an unreachable replica is not asked again on every page"


def test_migrations_never_run_on_the_replica():
    router = replica.ReplicaRouter()
    assert router.allow_migrate("replica", "approvals") is False
    assert router.allow_migrate("default", "approvals") is None
    assert router.db_for_write(object) == "default"


def test_the_exporter_reports_the_replicas_lag_as_the_router_measures_it(pair, world):
    """lockbox_replica_up and lockbox_replica_lag_seconds come from the same measure that
    decides where reads go, so the alert and the router agree."""
    from prometheus_client import CollectorRegistry

    from approvals.monitoring import DatabaseCollector

    def scrape():
        registry = CollectorRegistry()
        registry.register(DatabaseCollector(5.0))
        return {s.name: s.value for family in registry.collect() for s in family.samples
                if s.name.startswith("lockbox_replica")}

    tenant, people, _ = world
    pair.wait_caught_up()
    caught_up = scrape()
    pair.pause_replay()
    _waiting(tenant, people, "CASE-METRIC")
    time.sleep(1.5)
    behind = scrape()
    pair.freeze_replica()
    try:
        unreachable = scrape()
    finally:
        pair.thaw_replica()
        replica.forget_replica_state()

    assert caught_up["lockbox_replica_up"] == 1
    assert caught_up["lockbox_replica_lag_seconds"] < 1
    assert behind["lockbox_replica_up"] == 1
    assert behind["lockbox_replica_lag_seconds"] > 1
    assert unreachable == {"lockbox_replica_up": 0}
