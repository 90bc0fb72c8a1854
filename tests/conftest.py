"""Personas and database helpers shared by every test.

Personas: approver_a / approver_a2 / admin_a / reader_a of tenant A, approver_b of tenant B,
engineer and engineer2, manager and manager2 (internal approvers), auditor, outsider.
"""

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from approvals.models import ProviderRole, TenantRole
from approvals.tenants import add_tenant_member
from tests import factories
from tests.api_helpers import Api, make_token

CHROMIUM = Path("/usr/bin/chromium")


def _vendor():
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    return "postgresql" if "postgresql" in engine else "sqlite"


def pytest_report_header(config):
    lines = [f"lockbox: database {_vendor()}, broker {os.environ.get('CELERY_BROKER_URL', 'memory://')}"]
    if _vendor() != "postgresql":
        lines.append("lockbox: PostgreSQL-only tests (marked 'postgres') are SKIPPED: "
                     "set DATABASE_URL=postgres://... (as .ci/run does) to run them")
    if not CHROMIUM.exists():
        lines.append(f"lockbox: browser tests are SKIPPED: {CHROMIUM} is absent "
                     "(apt-get install -y chromium)")
    return lines


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (as .ci/run does)")
    no_browser = not CHROMIUM.exists()
    if no_browser and os.environ.get("LOCKBOX_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(f"LOCKBOX_REQUIRE_BROWSER=1 but {CHROMIUM} is absent")
    skip_browser = pytest.mark.skip(reason=f"{CHROMIUM} is absent (apt-get install -y chromium)")
    # The cluster test takes minutes: .ci/run runs it on its own after the suite.
    skip_cluster = pytest.mark.skip(reason="the cluster test runs with LOCKBOX_CLUSTER_TEST=1 "
                                           "(.ci/run does, after the suite)")
    for item in items:
        if "cluster" in item.keywords and os.environ.get("LOCKBOX_CLUSTER_TEST") != "1":
            item.add_marker(skip_cluster)
        if "postgres" in item.keywords and _vendor() != "postgresql":
            item.add_marker(skip_pg)
        if "browser" in item.keywords and no_browser:
            item.add_marker(skip_browser)


def pytest_terminal_summary(terminalreporter):
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"lockbox: {len(skipped)} test(s) skipped on this machine; each reason is in the "
            "short test summary."
        )


# --- Time ---------------------------------------------------------------------------------------

@pytest.fixture
def now():
    """A fixed moment; tests move it by passing now + delta to the services."""
    return datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def move_clock(monkeypatch):
    """Move Lockbox's clock (lockbox_portal.clock.now) to the real time plus `delta`."""
    from django.utils import timezone

    from lockbox_portal import clock

    def move(delta):
        target = timezone.now() + delta
        monkeypatch.setattr(clock, "now", lambda: target)

    return move


@pytest.fixture
def serve_site(settings):
    """Rebuild the URL configuration as a process with LOCKBOX_SITE=name would have it."""
    import importlib

    from django.urls import clear_url_caches

    import lockbox_portal.urls

    def serve(name):
        settings.LOCKBOX_SITE = name
        clear_url_caches()
        importlib.reload(lockbox_portal.urls)

    yield serve
    settings.LOCKBOX_SITE = "all"
    clear_url_caches()
    importlib.reload(lockbox_portal.urls)


# --- Personas -----------------------------------------------------------------------------------

@pytest.fixture
def tenant_a(db):
    return factories.tenant("tenant-a")


@pytest.fixture
def tenant_b(db):
    return factories.tenant("tenant-b")


@pytest.fixture
def approver_a(tenant_a):
    return factories.person("approver@a.test", tenant=tenant_a, tenant_roles=[TenantRole.APPROVER])


@pytest.fixture
def approver_a2(tenant_a):
    return factories.person("approver2@a.test", tenant=tenant_a,
                            tenant_roles=[TenantRole.APPROVER])


@pytest.fixture
def admin_a(tenant_a):
    return factories.person("admin@a.test", tenant=tenant_a, tenant_roles=[TenantRole.ADMIN])


@pytest.fixture
def reader_a(tenant_a):
    return factories.person("reader@a.test", tenant=tenant_a,
                            tenant_roles=[TenantRole.COMPLIANCE_READER])


@pytest.fixture
def approver_b(tenant_b):
    return factories.person("approver@b.test", tenant=tenant_b, tenant_roles=[TenantRole.APPROVER])


@pytest.fixture
def engineer(db):
    return factories.person("engineer@provider.test", provider_role=ProviderRole.ENGINEER)


@pytest.fixture
def engineer2(db):
    return factories.person("engineer2@provider.test", provider_role=ProviderRole.ENGINEER)


@pytest.fixture
def manager(db):
    return factories.person("manager@provider.test", provider_role=ProviderRole.INTERNAL_APPROVER)


@pytest.fixture
def manager2(db):
    return factories.person("manager2@provider.test",
                            provider_role=ProviderRole.INTERNAL_APPROVER)


@pytest.fixture
def auditor(db):
    return factories.person("auditor@provider.test", provider_role=ProviderRole.AUDITOR)


@pytest.fixture
def outsider(db):
    return factories.person("outsider@elsewhere.test")


# --- Customer automation (the Google and Azure surfaces) -----------------------------------------

@pytest.fixture
def boss(tenant_a, admin_a):
    """An admin who is also an approver, so a token that decides may act as them."""
    add_tenant_member(tenant=tenant_a, user=admin_a, role=TenantRole.APPROVER)
    return admin_a


@pytest.fixture
def decider(boss, tenant_a):
    return Api(make_token(boss, "tenant_decide", tenant=tenant_a)[1])


@pytest.fixture
def reader(boss, tenant_a):
    return Api(make_token(boss, "tenant_read", tenant=tenant_a)[1])


# --- Committed data (threads, live servers) ------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_audit_triggers():
    """Let tests that commit (transactional_db, live_server) be cleaned up on PostgreSQL.

    Between such tests Django empties every table with TRUNCATE, which the audit table refuses
    by design. Only for that cleanup, the flush transaction acts as a replica, which fires no
    triggers; SET LOCAL ends with the transaction, so the triggers guard every test.
    """
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        return ["SET LOCAL session_replication_role = replica", *statements] if statements else []

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = original
