"""The Google Access Approval v1 and Azure Customer Lockbox shapes, over plain HTTP."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import transitions as t
from approvals.models import State
from audit.models import AuditEvent
from tests import factories


@pytest.fixture
def waiting(engineer, manager, tenant_a):
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now(),
                           reason_type="production_alert", case_reference="INC-1")
    t.internal_approve(access_request=req, actor=manager)
    req.refresh_from_db()
    return req


ORG = "/v1/organizations/tenant-a"


# --- Google -------------------------------------------------------------------------------------

def test_google_list_get_and_filters(reader, waiting, engineer, tenant_a):
    internal_only = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())
    listed = reader.get(f"{ORG}/approvalRequests", filter="PENDING").json()
    names = [r["name"] for r in listed["approvalRequests"]]
    assert names == [f"organizations/tenant-a/approvalRequests/{waiting.pk}"]
    assert str(internal_only.pk) not in str(listed)
    one = reader.get(f"{ORG}/approvalRequests/{waiting.pk}", **{"$alt": "json;enum-encoding=int"})
    body = one.json()
    assert body["requestedReason"]["type"] == 5
    assert body["requestedReason"]["detail"].endswith(waiting.justification)
    assert body["requestedResourceName"] == waiting.scope[0]
    assert "approve" not in body and "dismiss" not in body
    assert reader.get(f"{ORG}/approvalRequests", filter="ACTIVE").json()[
        "approvalRequests"] == []


def test_google_approve_with_expire_time_capped_by_policy(decider, waiting, boss):
    wanted = timezone.now() + timedelta(minutes=30)
    response = decider.post(f"{ORG}/approvalRequests/{waiting.pk}:approve",
                            {"expireTime": wanted.isoformat().replace("+00:00", "Z")})
    assert response.status_code == 200
    body = response.json()
    assert body["approve"]["autoApproved"] is False
    waiting.refresh_from_db()
    assert waiting.state == State.APPROVED
    assert abs((waiting.access_ends_at - wanted).total_seconds()) < 1
    event = AuditEvent.objects.get(request_id=waiting.pk, action="request.approved")
    assert event.actor_email == boss.email
    assert event.data["via"]["api"] == "google-access-approval-v1"
    again = decider.post(f"{ORG}/approvalRequests/{waiting.pk}:approve", {})
    assert again.status_code == 400
    assert again.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_google_dismiss_and_invalidate(decider, waiting, engineer, manager, tenant_a):
    dismissed = decider.post(f"{ORG}/approvalRequests/{waiting.pk}:dismiss").json()
    assert dismissed["dismiss"]["implicit"] is False
    granted = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())
    t.internal_approve(access_request=granted, actor=manager)
    decider.post(f"{ORG}/approvalRequests/{granted.pk}:approve", {})
    invalidated = decider.post(f"{ORG}/approvalRequests/{granted.pk}:invalidate").json()
    assert "invalidateTime" in invalidated["approve"]
    granted.refresh_from_db()
    assert granted.state == State.REVOKED


def test_google_read_token_cannot_decide(reader, waiting):
    response = reader.post(f"{ORG}/approvalRequests/{waiting.pk}:approve", {})
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"


def test_google_other_tenants_ids_are_404(decider, engineer, manager, tenant_b):
    theirs = factories.submit(engineer=engineer, tenant=tenant_b, now=timezone.now())
    t.internal_approve(access_request=theirs, actor=manager)
    assert decider.get("/v1/organizations/tenant-b/approvalRequests").status_code == 404
    assert decider.get(f"{ORG}/approvalRequests/{theirs.pk}").status_code == 404
    refused = decider.post(f"{ORG}/approvalRequests/{theirs.pk}:approve", {})
    assert refused.status_code == 404 and refused.json()["error"]["status"] == "NOT_FOUND"
    theirs.refresh_from_db()
    assert theirs.state == State.PENDING_CUSTOMER


def test_google_settings_read_and_patch(decider, tenant_a):
    body = decider.get(f"{ORG}/accessApprovalSettings").json()
    assert body["name"] == "organizations/tenant-a/accessApprovalSettings"
    assert body["enrolledServices"] == [{"cloudProduct": "all", "enrollmentLevel": "BLOCK_ALL"}]
    patched = decider.patch(f"{ORG}/accessApprovalSettings",
                            {"notificationEmails": ["sec@a.test"], "enrolledServices": []},
                            updateMask="notificationEmails,enrolledServices").json()
    assert patched["notificationEmails"] == ["sec@a.test"] and patched["enrolledServices"] == []
    tenant_a.refresh_from_db()
    assert not tenant_a.lockbox_enabled
    bad = decider.patch(f"{ORG}/accessApprovalSettings", {}, updateMask="name")
    assert bad.status_code == 400


def test_google_page_tokens(reader, engineer, manager, tenant_a):
    for i in range(3):
        req = factories.submit(engineer=engineer, tenant=tenant_a,
                               now=timezone.now() - timedelta(minutes=i))
        t.internal_approve(access_request=req, actor=manager)
    first = reader.get(f"{ORG}/approvalRequests", pageSize=2).json()
    second = reader.get(f"{ORG}/approvalRequests", pageSize=2,
                        pageToken=first["nextPageToken"]).json()
    assert len(first["approvalRequests"]) == 2 and len(second["approvalRequests"]) == 1
    assert "nextPageToken" not in second
    assert reader.get(f"{ORG}/approvalRequests", pageToken="!!").status_code == 400
    assert reader.get(f"{ORG}/approvalRequests", filter="BOGUS").status_code == 400


# --- Azure --------------------------------------------------------------------------------------

SUB = "/subscriptions/tenant-a/providers/Microsoft.CustomerLockbox"
VERSION = {"api-version": "2018-02-28-preview"}


def test_azure_list_needs_no_api_version_and_get_does(reader, waiting):
    listed = reader.get(f"{SUB}/requests").json()
    assert [r["name"] for r in listed["value"]] == [str(waiting.pk)]
    assert listed["value"][0]["properties"]["status"] == "Pending"
    assert "nextLink" not in listed
    missing = reader.get(f"{SUB}/requests/{waiting.pk}")
    assert missing.status_code == 400
    assert missing.json() == {"error": {"code": "MissingApiVersionParameter", "message":
                                        missing.json()["error"]["message"],
                                        "additionalInfo": []}}
    one = reader.get(f"{SUB}/requests/{waiting.pk}", **VERSION).json()
    assert one["properties"]["supportRequest"] == "INC-1"
    assert reader.get(f"{SUB}/requests", **{"$filter": "properties/status eq 'Approved'"}
                      ).json()["value"] == []


def test_azure_update_approval(decider, waiting, engineer, manager, tenant_a):
    response = decider.post(f"{SUB}/requests/{waiting.pk}/updateApproval",
                            {"status": "Approve", "reason": "ok"}, **VERSION)
    assert response.json() == {"status": "Approve", "reason": "ok"}
    waiting.refresh_from_db()
    assert waiting.state == State.APPROVED
    conflict = decider.post(f"{SUB}/requests/{waiting.pk}/updateApproval",
                            {"status": "Deny", "reason": "no"}, **VERSION)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "Conflict"
    other = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())
    t.internal_approve(access_request=other, actor=manager)
    bad = decider.post(f"{SUB}/requests/{other.pk}/updateApproval", {"status": "Maybe"},
                       **VERSION)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidRequestContent"
    decider.post(f"{SUB}/requests/{other.pk}/updateApproval", {"status": "Deny",
                                                              "reason": "Not now."}, **VERSION)
    other.refresh_from_db()
    assert other.state == State.DENIED


def test_azure_opt_in_switches(decider, reader, tenant_a):
    url = "/providers/Microsoft.CustomerLockbox/tenantOptedIn/tenant-a"
    assert reader.get(url, **VERSION).json() == {"isOptedIn": True}
    assert reader.post("/providers/Microsoft.CustomerLockbox/disableLockbox", {},
                       **VERSION).status_code == 403
    decider.post("/providers/Microsoft.CustomerLockbox/disableLockbox", {}, **VERSION)
    assert reader.get(url, **VERSION).json() == {"isOptedIn": False}
    decider.post("/providers/Microsoft.CustomerLockbox/enableLockbox", {}, **VERSION)
    assert reader.get(url, **VERSION).json() == {"isOptedIn": True}
    assert reader.get("/providers/Microsoft.CustomerLockbox/tenantOptedIn/tenant-b",
                      **VERSION).status_code == 404


def test_azure_other_tenants_are_404(reader, tenant_b):
    response = reader.get("/subscriptions/tenant-b/providers/Microsoft.CustomerLockbox/requests")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "SubscriptionNotFound"
