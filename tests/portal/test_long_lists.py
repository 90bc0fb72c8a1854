"""Lists that grow with a provider's size stay short enough to read: the dashboard shows the
first of each list and says how many more there are; the queue is filtered by typing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import transitions as t
from approvals.views.portal.dashboard import DASHBOARD_ROWS
from tests import factories
from tests.clients import signed_in


@pytest.fixture
def many_waiting(engineer, manager, tenant_a):
    now = timezone.now()
    made = []
    for n in range(DASHBOARD_ROWS + 3):
        req = factories.submit(engineer=engineer, tenant=tenant_a, case_reference=f"CASE-{n}",
                               now=now - timedelta(minutes=60 - n))
        t.internal_approve(access_request=req, actor=manager, now=now - timedelta(minutes=59 - n))
        made.append(req)
    return made


def test_the_dashboard_shows_the_soonest_to_expire_and_counts_the_rest(approver_a,
                                                                     many_waiting):
    html = signed_in(approver_a).get("/t/tenant-a/").content.decode()
    assert html.count('class="card request-card"') == DASHBOARD_ROWS
    soonest = many_waiting[0]  # approved first, so its window ends first
    assert f"Request {soonest.reference}" in html
    assert f"Request {many_waiting[-1].reference}" not in html
    assert f"{DASHBOARD_ROWS + 3} are waiting" in html
    assert "/t/tenant-a/history/?state=pending_customer" in html


def test_a_short_list_has_no_see_all_link(approver_a, engineer, manager, tenant_a):
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())
    t.internal_approve(access_request=req, actor=manager)
    html = signed_in(approver_a).get("/t/tenant-a/").content.decode()
    assert html.count('class="card request-card"') == 1 and "See all" not in html


def test_the_queue_is_filtered_by_a_typed_tenant_name_or_slug(manager2, engineer, tenant_a,
                                                              tenant_b):
    now = timezone.now()
    factories.submit(engineer=engineer, tenant=tenant_a, now=now)
    factories.submit(engineer=engineer, tenant=tenant_b, now=now)
    client = signed_in(manager2)
    for typed in ("tenant-a", "TENANT-A", "ant a"):  # slug, any case; part of the name
        html = client.get("/internal/queue/", {"tenant": typed}).content.decode()
        assert tenant_a.name in html and f"· {tenant_b.name}" not in html, typed
    html = client.get("/internal/queue/", {"tenant": "nobody-like-this"}).content.decode()
    assert f"· {tenant_a.name}" not in html and f"· {tenant_b.name}" not in html
