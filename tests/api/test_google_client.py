"""Google's own google-cloud-access-approval client, unmodified, against a live Lockbox."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import transitions as t
from approvals.models import ProviderRole, State, TenantRole
from tests import factories
from tests.api_helpers import make_token

accessapproval = pytest.importorskip("google.cloud.accessapproval_v1")


@pytest.fixture
def world(transactional_db):
    tenant = factories.tenant("acme")
    boss = factories.person("boss@acme.test", tenant=tenant,
                            tenant_roles=[TenantRole.ADMIN, TenantRole.APPROVER])
    engineer = factories.person("erin@provider.test", provider_role=ProviderRole.ENGINEER)
    manager = factories.person("maya@provider.test", provider_role=ProviderRole.INTERNAL_APPROVER)
    made = []
    for i in range(3):
        req = factories.submit(engineer=engineer, tenant=tenant,
                               now=timezone.now() - timedelta(minutes=i),
                               case_reference=f"CASE-G{i}")
        t.internal_approve(access_request=req, actor=manager)
        made.append(req)
    return {"tenant": tenant, "boss": boss, "requests": made, "engineer": engineer,
            "manager": manager}


@pytest.fixture
def client(world, live_server):
    from google.api_core.client_options import ClientOptions
    from google.oauth2.credentials import Credentials

    _, raw = make_token(world["boss"], "tenant_decide", tenant=world["tenant"])
    return accessapproval.AccessApprovalClient(
        transport="rest", credentials=Credentials(token=raw),
        client_options=ClientOptions(api_endpoint=live_server.url))


def test_the_official_client_lists_gets_approves_dismisses_invalidates(client, world):
    parent = "organizations/acme"
    pending = list(client.list_approval_requests(
        request={"parent": parent, "filter": "PENDING", "page_size": 2}))  # pages through
    assert {r.name for r in pending} == {f"{parent}/approvalRequests/{r.pk}"
                                         for r in world["requests"]}
    first, second, third = (f"{parent}/approvalRequests/{r.pk}" for r in world["requests"])
    got = client.get_approval_request(name=first)
    support = accessapproval.AccessReason.Type.CUSTOMER_INITIATED_SUPPORT
    assert got.requested_reason.type_ == support
    assert got.requested_resource_name == world["requests"][0].scope[0]

    expire = timezone.now() + timedelta(minutes=20)
    approved = client.approve_approval_request(request={"name": first, "expire_time": expire})
    assert approved.approve.expire_time.timestamp() == pytest.approx(expire.timestamp(), abs=1)
    dismissed = client.dismiss_approval_request(request={"name": second})
    assert dismissed.dismiss.dismiss_time
    client.approve_approval_request(request={"name": third})
    invalidated = client.invalidate_approval_request(request={"name": third})
    assert invalidated.approve.invalidate_time

    states = {r.pk: r for r in world["requests"]}
    for req in states.values():
        req.refresh_from_db()
    assert [r.state for r in world["requests"]] == [State.APPROVED, State.DENIED, State.REVOKED]
    active = list(client.list_approval_requests(request={"parent": parent,
                                                         "filter": "ACTIVE"}))
    assert [r.name for r in active] == [first]


def test_the_official_client_reads_and_updates_settings(client, world):
    from google.protobuf import field_mask_pb2

    name = "organizations/acme/accessApprovalSettings"
    settings = client.get_access_approval_settings(name=name)
    block_all = accessapproval.EnrollmentLevel.BLOCK_ALL
    assert settings.enrolled_services[0].enrollment_level == block_all
    updated = client.update_access_approval_settings(
        settings=accessapproval.AccessApprovalSettings(
            name=name, notification_emails=["security@acme.test"]),
        update_mask=field_mask_pb2.FieldMask(paths=["notification_emails"]))
    assert list(updated.notification_emails) == ["security@acme.test"]
    world["tenant"].refresh_from_db()
    assert world["tenant"].notification_emails == ["security@acme.test"]


def test_the_official_client_sees_errors_as_google_exceptions(client, world):
    from google.api_core import exceptions

    with pytest.raises(exceptions.NotFound):
        client.get_approval_request(
            name="organizations/acme/approvalRequests/00000000-0000-0000-0000-000000000000")
    with pytest.raises(exceptions.NotFound):
        list(client.list_approval_requests(request={"parent": "organizations/other"}))
    name = f"organizations/acme/approvalRequests/{world['requests'][0].pk}"
    client.dismiss_approval_request(request={"name": name})
    with pytest.raises(exceptions.BadRequest) as refused:
        client.approve_approval_request(request={"name": name})
    assert refused.value.response.json()["error"]["status"] == "FAILED_PRECONDITION"



def test_the_official_client_sees_every_resource_and_the_access_level(client, world):
    scope = ["exchange/mailbox/ann@acme.test", "sharepoint/sites/finance/*"]
    req = factories.submit(engineer=world["engineer"], tenant=world["tenant"],
                           now=timezone.now(), scope=scope, access_level="read_write",
                           case_reference="CASE-MULTI")
    t.internal_approve(access_request=req, actor=world["manager"])
    got = client.get_approval_request(name=f"organizations/acme/approvalRequests/{req.pk}")
    assert got.requested_resource_name.split(", ") == scope
    assert got.requested_resource_properties.excludes_descendants is False
    assert "Access level: Read and write" in got.requested_reason.detail
    assert "Case Number: CASE-MULTI" in got.requested_reason.detail
    assert got.requested_reason.detail.endswith(req.justification)


def test_the_official_client_approves_with_a_quorum_of_two(client, world):
    tenant = world["tenant"]
    other = factories.person("olga@acme.test", tenant=tenant, tenant_roles=[TenantRole.APPROVER])
    tenant.required_approvals = 2
    tenant.save()
    req = factories.submit(engineer=world["engineer"], tenant=tenant, now=timezone.now())
    t.internal_approve(access_request=req, actor=world["manager"])
    name = f"organizations/acme/approvalRequests/{req.pk}"
    expire = timezone.now() + timedelta(minutes=40)
    first = client.approve_approval_request(request={"name": name, "expire_time": expire})
    assert first.approve.expire_time.timestamp() == pytest.approx(expire.timestamp(), abs=1)
    assert first.approve.approve_time
    pending = [r.name for r in client.list_approval_requests(
        request={"parent": "organizations/acme", "filter": "PENDING"})]
    assert name in pending  # one approval of two: still pending
    t.customer_approve(access_request=req, actor=other)
    req.refresh_from_db()
    assert req.state == State.APPROVED
    assert req.access_ends_at.timestamp() == pytest.approx(expire.timestamp(), abs=1)
