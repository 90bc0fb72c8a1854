"""Each page the benchmark measures costs a bounded number of SQL statements, counted on the
benchmark's own data (`bench_seed`: every state, chains that verify) with every middleware on,
once the session is warm, so that a round trip added to every page cannot slip in unnoticed.

The pages and people are those of bench/inprocess.py; the budget is issue 15's 10 statements.
"""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.models import AccessRequest, Tenant, TenantRole
from approvals.tenants import add_tenant_member
from tests.clients import signed_in

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BIG = "t0000"
BUDGET = {
    "customer dashboard": 10,
    "history": 10,
    "request page": 10,
    "audit search (filters)": 10,
    "audit search (free text)": 10,
    "audit search (free text, rare)": 10,
    "internal queue": 10,
    "provider audit": 10,
}


@pytest.fixture
def pages():
    from django.contrib.auth import get_user_model

    call_command("bench_seed", tenants=3, requests=150, events=3000, stdout=StringIO())
    users = get_user_model().objects
    admin = users.get(email=f"admin@{BIG}.bench")
    tenant = Tenant.objects.get(slug=BIG)
    for role in (TenantRole.APPROVER, TenantRole.COMPLIANCE_READER):
        add_tenant_member(tenant=tenant, user=admin, role=role)
    customer = signed_in(admin)
    manager = signed_in(users.get(email="mgr00@provider.bench"))
    auditor = signed_in(users.get(email="auditor@provider.bench"))
    done = (AccessRequest.objects.filter(tenant=tenant, state="completed")
            .order_by("-created_at").first())
    return {
        "customer dashboard": (customer, f"/t/{BIG}/"),
        "history": (customer, f"/t/{BIG}/history/"),
        "request page": (customer, f"/t/{BIG}/requests/{done.pk}/"),
        "audit search (filters)": (customer, f"/t/{BIG}/audit/?action=activity.recorded"
                                             "&since=2026-01-01"),
        "audit search (free text)": (customer, f"/t/{BIG}/audit/?q=mailbox+user12"),
        "audit search (free text, rare)": (customer, f"/t/{BIG}/audit/?q=submitted+user12"),
        "internal queue": (manager, "/internal/queue/"),
        "provider audit": (auditor, "/internal/audit/?action=request.approved"),
    }


def test_every_benchmarked_page_stays_within_its_statements(pages):
    counted = {}
    for name, (client, url) in pages.items():
        for _ in range(2):  # the first visit notes the session and the chain's status
            assert client.get(url).status_code == 200, name
        with CaptureQueriesContext(connection) as statements:
            page = client.get(url)
        assert page.status_code == 200 and b"<main" in page.content, name
        counted[name] = len(statements)
    over = {name: (n, BUDGET[name]) for name, n in counted.items() if n > BUDGET[name]}
    assert not over, f"statements (counted, budget): {over}"


def test_the_dashboard_counts_each_list_it_cuts_short(pages):
    """One statement per list still says how many there are beyond the rows shown."""
    client, url = pages["customer dashboard"]
    html = client.get(url).content.decode()
    tenant = Tenant.objects.get(slug=BIG)
    from approvals import selectors
    from lockbox_portal import clock

    waiting = selectors.awaiting_customer(tenant, clock.now()).count()
    assert waiting > 0
    assert f'aria-label="{waiting} waiting"' in html
