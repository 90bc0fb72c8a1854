"""Google Access Approval v1, as Google documents it: approvals with a quorum, wrong-state
actions, requestedExpiration, notification e-mails, and bad input that once crashed."""

import base64
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from approvals import transitions as t
from approvals.models import DecisionLevel, State, TenantRole
from approvals.tenants import add_tenant_member, set_notification_emails
from tests import factories
from tests.api_helpers import Api, make_token

ORG = "/v1/organizations/tenant-a"


def z(moment):
    return moment.isoformat().replace("+00:00", "Z")


def seconds(text):
    return timezone.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def second_decider(tenant_a, approver_a2):
    """Another approver of tenant A who also administers it, so they may make a token."""
    add_tenant_member(tenant=tenant_a, user=approver_a2, role=TenantRole.ADMIN)
    return Api(make_token(approver_a2, "tenant_decide", tenant=tenant_a)[1])


@pytest.fixture
def waiting(engineer, manager, tenant_a):
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())
    return t.internal_approve(access_request=req, actor=manager)


@pytest.fixture
def quorum_of_two(tenant_a, boss, approver_a2, engineer, manager):
    tenant_a.required_approvals = 2
    tenant_a.save()
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())
    return t.internal_approve(access_request=req, actor=manager)


# --- Approving with a quorum --------------------------------------------------------------------

def test_a_partial_approval_keeps_its_expire_time_and_shows(decider, second_decider, boss,
                                                            quorum_of_two):
    url = f"{ORG}/approvalRequests/{quorum_of_two.pk}"
    chosen = timezone.now() + timedelta(minutes=25)
    body = decider.post(f"{url}:approve", {"expireTime": z(chosen)}).json()
    assert body["lockbox"]["state"] == "pending_customer"
    assert (body["lockbox"]["approvals"], body["lockbox"]["requiredApprovals"]) == (1, 2)
    assert seconds(body["approve"]["expireTime"]) == pytest.approx(chosen.timestamp(), abs=1)
    assert body["approve"]["approveTime"] and body["approve"]["autoApproved"] is False
    decision = quorum_of_two.decisions.get(level=DecisionLevel.CUSTOMER, actor=boss)
    assert abs((decision.ends_at - chosen).total_seconds()) < 1
    # Still waiting for the second approver, and read back the same way.
    assert decider.get(url).json()["approve"] == body["approve"]
    pending = decider.get(f"{ORG}/approvalRequests", filter="PENDING").json()
    assert pending["approvalRequests"][0]["approve"] == body["approve"]

    granted = second_decider.post(f"{url}:approve", {}).json()
    assert granted["lockbox"]["state"] == "approved"
    assert seconds(granted["approve"]["expireTime"]) == pytest.approx(chosen.timestamp(), abs=1)
    quorum_of_two.refresh_from_db()
    assert quorum_of_two.state == State.APPROVED
    assert abs((quorum_of_two.access_ends_at - chosen).total_seconds()) < 1


def test_a_request_nobody_approved_yet_shows_no_approval(decider, waiting):
    body = decider.get(f"{ORG}/approvalRequests/{waiting.pk}").json()
    assert "approve" not in body and "dismiss" not in body
    assert body["lockbox"]["approvals"] == 0


# --- Wrong-state actions ------------------------------------------------------------------------

def test_wrong_state_actions_are_failed_precondition(decider, second_decider, waiting,
                                                     quorum_of_two, engineer, manager,
                                                     tenant_a):
    pending = f"{ORG}/approvalRequests/{waiting.pk}"
    denied = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())
    t.internal_approve(access_request=denied, actor=manager)
    decider.post(f"{ORG}/approvalRequests/{denied.pk}:dismiss")
    decider.post(f"{ORG}/approvalRequests/{quorum_of_two.pk}:approve")
    refused = {
        "invalidate while pending": decider.post(f"{pending}:invalidate"),
        "approve once dismissed": decider.post(f"{ORG}/approvalRequests/{denied.pk}:approve"),
        "dismiss once dismissed": decider.post(f"{ORG}/approvalRequests/{denied.pk}:dismiss"),
        "approve twice": decider.post(f"{ORG}/approvalRequests/{quorum_of_two.pk}:approve"),
    }
    decider.post(f"{pending}:approve")
    refused["dismiss once approved"] = decider.post(f"{pending}:dismiss")
    for case, response in refused.items():
        assert response.status_code == 400, case
        assert response.json()["error"]["status"] == "FAILED_PRECONDITION", case
        assert response.json()["error"]["code"] == 400, case


# --- requestedExpiration ------------------------------------------------------------------------

def test_requested_expiration_is_when_access_would_end_if_approved_now(decider, waiting):
    """Google: "If the request is approved, access will be granted from the time of approval
    until the expiration time." Not the end of the window for deciding."""
    url = f"{ORG}/approvalRequests/{waiting.pk}"
    before = decider.get(url).json()
    asked = timezone.now() + waiting.requested_duration  # an hour
    assert seconds(before["requestedExpiration"]) == pytest.approx(asked.timestamp(), abs=5)
    assert waiting.customer_expires_at - timezone.now() > timedelta(hours=11)

    after = decider.post(f"{url}:approve", {}).json()
    waiting.refresh_from_db()
    assert after["requestedExpiration"] == after["approve"]["expireTime"]
    assert seconds(after["requestedExpiration"]) == waiting.access_ends_at.timestamp()


def test_requested_expiration_is_capped_by_the_policy(decider, waiting, tenant_a):
    tenant_a.max_access_duration = timedelta(minutes=30)
    tenant_a.save()
    body = decider.get(f"{ORG}/approvalRequests/{waiting.pk}").json()
    capped = timezone.now() + timedelta(minutes=30)
    assert seconds(body["requestedExpiration"]) == pytest.approx(capped.timestamp(), abs=5)


# --- Notification e-mails -----------------------------------------------------------------------

def test_up_to_fifty_notification_emails_are_accepted(decider, tenant_a):
    fifty = [f"team{i}@a.test" for i in range(50)]
    saved = decider.patch(f"{ORG}/accessApprovalSettings", {"notificationEmails": fifty},
                          updateMask="notificationEmails")
    assert saved.status_code == 200 and saved.json()["notificationEmails"] == fifty
    too_many = decider.patch(f"{ORG}/accessApprovalSettings",
                             {"notificationEmails": [*fifty, "one-more@a.test"]},
                             updateMask="notificationEmails")
    assert too_many.status_code == 400
    assert too_many.json()["error"]["status"] == "INVALID_ARGUMENT"
    tenant_a.refresh_from_db()
    assert tenant_a.notification_emails == fifty


def test_the_portal_shares_the_limit_of_fifty(tenant_a, admin_a):
    assert set_notification_emails(tenant=tenant_a, actor=admin_a,
                                   emails=[f"t{i}@a.test" for i in range(50)])
    with pytest.raises(ValidationError, match="at most 50"):
        set_notification_emails(tenant=tenant_a, actor=admin_a,
                                emails=[f"t{i}@a.test" for i in range(51)])


# --- Bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("moment", ["2027-02-30T00:00:00+00:00", "2027-01-01T25:00:00+00:00"])
def test_an_impossible_date_in_a_page_token_is_400(decider, waiting, moment):
    token = base64.urlsafe_b64encode(f"{moment}|{waiting.pk}".encode()).decode()
    response = decider.get(f"{ORG}/approvalRequests", pageToken=token)
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("expire", ["2027-02-30T00:00:00Z", "2027-13-01T00:00:00Z",
                                    "tomorrow", 1893456000, "2020-01-01T00:00:00Z"])
def test_an_impossible_or_past_expire_time_is_400_and_approves_nothing(decider, waiting,
                                                                       expire):
    response = decider.post(f"{ORG}/approvalRequests/{waiting.pk}:approve",
                            {"expireTime": expire})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    waiting.refresh_from_db()
    assert waiting.state == State.PENDING_CUSTOMER
    assert not waiting.decisions.filter(level=DecisionLevel.CUSTOMER).exists()


def test_page_size_zero_means_the_default_and_a_negative_one_is_refused(decider, waiting):
    assert len(decider.get(f"{ORG}/approvalRequests", pageSize=0).json()[
        "approvalRequests"]) == 1
    refused = decider.get(f"{ORG}/approvalRequests", pageSize=-1)
    assert refused.status_code == 400


@pytest.mark.parametrize("path", ["approvalRequests/not-a-uuid",
                                  "approvalRequests/{pk}:launch"])
def test_malformed_names_are_google_not_found(decider, waiting, path):
    response = decider.get(f"{ORG}/{path.format(pk=waiting.pk)}")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": 404, "status": "NOT_FOUND",
                                         "message": response.json()["error"]["message"]}}


def test_a_settings_patch_changes_both_fields_or_neither(decider, tenant_a):
    """Turning Lockbox on needs as many approvers as the quorum; when that is refused, the
    addresses sent in the same call are not saved either."""
    tenant_a.lockbox_enabled, tenant_a.required_approvals = False, 2
    tenant_a.save()
    refused = decider.patch(f"{ORG}/accessApprovalSettings",
                            {"notificationEmails": ["sec@a.test"],
                             "enrolledServices": [{"cloudProduct": "all"}]},
                            updateMask="notificationEmails,enrolledServices")
    assert refused.status_code == 400
    tenant_a.refresh_from_db()
    assert (tenant_a.notification_emails, tenant_a.lockbox_enabled) == ([], False)


@pytest.mark.parametrize("body", [{"enrolledAncestor": "yes"}, {"notificationEmail": []},
                                  {"notificationEmails": ["sec@a.test", ""]},
                                  {"enrolledServices": [{"cloudProduct": "all",
                                                         "enrollmentLevel": "SOME"}]}])
def test_settings_google_does_not_describe_are_refused(decider, tenant_a, body):
    response = decider.patch(f"{ORG}/accessApprovalSettings", body,
                             updateMask="notificationEmails,enrolledServices")
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    tenant_a.refresh_from_db()
    assert tenant_a.lockbox_enabled and tenant_a.notification_emails == []
