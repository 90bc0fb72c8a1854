"""Another tenant's ids answer 404 on every URL that takes one, and nothing is recorded."""

import pytest
from django.urls import reverse
from django.utils import timezone

from approvals.models import TenantRole
from approvals.tenants import add_tenant_member
from audit.models import AuditEvent
from tests import factories
from tests.clients import make_requests, member_number, signed_in


@pytest.fixture
def boss_a(tenant_a):
    """Every role in tenant A, so only the tenant scope can refuse."""
    return factories.person("boss@a.test", tenant=tenant_a,
                            tenant_roles=[TenantRole.ADMIN, TenantRole.APPROVER,
                                          TenantRole.COMPLIANCE_READER])


@pytest.fixture
def b_side(engineer, manager, approver_b, tenant_b):
    pending, active = make_requests(engineer=engineer, manager=manager, approver=approver_b,
                                    tenant=tenant_b, now=timezone.now())
    return pending, active


REQUEST_URLS = ["portal:request", "portal:approve", "portal:reject", "portal:revoke"]
MEMBER_URLS = ["portal:member", "portal:remove_member"]


@pytest.mark.parametrize("name", REQUEST_URLS)
def test_another_tenants_request_id_is_404(name, boss_a, tenant_a, b_side):
    client = signed_in(boss_a)
    for req in b_side:
        url = reverse(name, args=[tenant_a.slug, req.pk])
        events = AuditEvent.objects.count()
        assert client.get(url).status_code == 404
        assert client.post(url, {"comment": "x", "code": client.codes[0]}).status_code == 404
        assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("name", MEMBER_URLS)
def test_another_tenants_member_id_is_404(name, boss_a, tenant_a, tenant_b, approver_b):
    client = signed_in(boss_a)
    url = reverse(name, args=[tenant_a.slug, member_number(tenant_b, approver_b)])
    assert client.get(url).status_code == 404
    assert client.post(url, {"roles": ["admin"], "code": client.codes[0]}).status_code == 404
    assert list(approver_b.tenant_memberships.values_list("role", flat=True)) == ["approver"]


@pytest.mark.parametrize("name", ["portal:tenant_dashboard", "portal:history", "portal:audit",
                                  "portal:settings", "portal:members", "portal:notifications"])
def test_another_tenants_slug_is_404(name, boss_a, tenant_b):
    assert signed_in(boss_a).get(reverse(name, args=[tenant_b.slug])).status_code == 404


def test_an_exported_log_holds_only_the_tenants_own_chain(boss_a, tenant_a, b_side):
    client = signed_in(boss_a)
    body = b"".join(client.get(reverse("portal:audit_export",
                                       args=[tenant_a.slug, "jsonl"])).streaming_content)
    assert b"tenant:tenant-b" not in body
    assert str(b_side[0].pk).encode() not in body


def test_a_request_id_with_the_right_slug_but_no_membership_is_404(tenant_b, b_side, approver_a,
                                                                    tenant_a):
    # The URL names tenant B and B's request; approver_a is in A only.
    add_tenant_member(tenant=tenant_a, user=approver_a, role=TenantRole.ADMIN)
    url = reverse("portal:request", args=[tenant_b.slug, b_side[0].pk])
    assert signed_in(approver_a).get(url).status_code == 404


def test_a_malformed_request_id_is_404(boss_a, tenant_a):
    response = signed_in(boss_a).get(f"/t/{tenant_a.slug}/requests/not-a-uuid/")
    assert response.status_code == 404
