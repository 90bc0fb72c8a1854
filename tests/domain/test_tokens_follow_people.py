"""A token acts as the person who made it, so it can never do more than they still may.

Removed from the tenant, a role taken away, switched off: what their tokens could do ends at
once, in every process, and giving the role back later does not revive old tokens.
"""

import pytest
from django.utils import timezone

from approvals import tenants
from approvals.api.models import ApiToken
from approvals.models import ProviderMembership, ProviderRole, TenantMembership, TenantRole
from approvals.tokens import authenticate
from audit.models import AuditEvent
from tests import factories
from tests.api_helpers import Api, make_token

ORG = "/v1/organizations/tenant-a"
SUB = "/subscriptions/tenant-a/providers/Microsoft.CustomerLockbox"
VERSION = {"api-version": "2018-02-28-preview"}


def _tenant_reads(api):
    """Status of each read a tenant token makes: the SIEM feed, Google, Azure, settings."""
    return [
        api.get("/api/v1/tenants/tenant-a/audit/events").status_code,
        api.get(f"{ORG}/approvalRequests").status_code,
        api.get(f"{SUB}/requests").status_code,
        api.get(f"{ORG}/accessApprovalSettings").status_code,
    ]


@pytest.fixture
def second_admin(tenant_a):
    return factories.person("admin2@a.test", tenant=tenant_a, tenant_roles=[TenantRole.ADMIN])


@pytest.fixture
def admins_token(admin_a, tenant_a):
    token, raw = make_token(admin_a, "tenant_read", tenant=tenant_a)
    api = Api(raw)
    assert _tenant_reads(api) == [200, 200, 200, 200]
    return token, api


def test_a_removed_admins_tokens_stop_at_once(admins_token, admin_a, second_admin, tenant_a):
    token, api = admins_token
    tenants.remove_member(tenant=tenant_a, user=admin_a, actor=second_admin)
    assert _tenant_reads(api) == [401, 401, 401, 401]
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.filter(chain=tenant_a.audit_chain, action="token.revoked").last()
    assert event.data["token"] == token.prefix and "removed" in event.data["reason"]


def test_an_admin_who_loses_the_role_loses_the_tokens(admins_token, admin_a, second_admin,
                                                      tenant_a):
    _, api = admins_token
    tenants.set_member_roles(tenant=tenant_a, user=admin_a, roles=[TenantRole.APPROVER],
                             actor=second_admin)
    assert _tenant_reads(api) == [401, 401, 401, 401]
    # Made an admin again: the old token stays dead; they make a new one if they need it.
    tenants.set_member_roles(tenant=tenant_a, user=admin_a, roles=[TenantRole.ADMIN],
                             actor=second_admin)
    assert _tenant_reads(api) == [401, 401, 401, 401]


def test_a_role_taken_away_by_any_means_stops_the_token(admins_token, admin_a, tenant_a):
    _, api = admins_token
    TenantMembership.objects.filter(user=admin_a, tenant=tenant_a).delete()  # not the service
    response = api.get("/api/v1/tenants/tenant-a/audit/events")
    assert response.status_code == 401
    assert "no longer an admin" in response.json()["error"]["message"]


def test_a_switched_off_admins_tokens_stop(admins_token, admin_a):
    _, api = admins_token
    admin_a.is_active = False
    admin_a.save()
    assert _tenant_reads(api) == [401, 401, 401, 401]


def test_another_members_removal_leaves_the_token_alone(admins_token, approver_a, admin_a,
                                                        tenant_a):
    _, api = admins_token
    tenants.remove_member(tenant=tenant_a, user=approver_a, actor=admin_a)
    assert _tenant_reads(api) == [200, 200, 200, 200]


def _check(api):
    return api.post("/api/v1/access/check", {"engineer": "engineer@provider.test",
                                             "tenant": "tenant-a",
                                             "resource": "exchange/mailbox/user@example.test"})


def test_a_manager_who_loses_the_role_loses_the_data_plane(manager, engineer, tenant_a):
    api = Api(make_token(manager, "data_plane")[1])
    assert _check(api).status_code == 200
    ProviderMembership.objects.filter(user=manager, role=ProviderRole.INTERNAL_APPROVER).delete()
    response = _check(api)
    assert response.status_code == 401
    assert "no longer has the role" in response.json()["error"]["message"]
    activity = api.post("/api/v1/activity", {"tenant": "tenant-a",
                                             "engineer": "engineer@provider.test",
                                             "actions": []})
    assert activity.status_code == 401


def test_an_engineer_who_leaves_loses_the_support_token(engineer, tenant_a):
    api = Api(make_token(engineer, "support")[1])
    assert api.get("/api/v1/requests").status_code == 200
    ProviderMembership.objects.filter(user=engineer).delete()
    assert api.get("/api/v1/requests").status_code == 401


def test_a_role_taken_away_waits_out_answers_kept_elsewhere(
        manager, settings, monkeypatch, django_capture_on_commit_callbacks):
    from approvals import access_cache

    settings.LOCKBOX_ACCESS_CACHE = 0.5
    slept = []
    monkeypatch.setattr(access_cache.time, "sleep", slept.append)
    with django_capture_on_commit_callbacks(execute=True):
        ProviderMembership.objects.filter(user=manager).delete()
    assert slept == [0.5]  # every process's kept yes has lapsed when the removal returns


def test_tokens_of_every_purpose_work_while_their_owner_holds_the_role(
        manager, engineer, auditor, admin_a, tenant_a):
    now = timezone.now()
    for owner, purpose, tenant in [(manager, "data_plane", None), (engineer, "support", None),
                                   (auditor, "support", None), (manager, "support", None),
                                   (admin_a, "tenant_read", tenant_a)]:
        token, raw = make_token(owner, purpose, tenant=tenant)
        found, problem = authenticate(raw, now)
        assert found == token and problem == "", (owner, purpose, problem)
    assert ApiToken.objects.filter(revoked_at__isnull=False).count() == 0
