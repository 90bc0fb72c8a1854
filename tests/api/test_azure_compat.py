"""Azure Customer Lockbox (Microsoft.CustomerLockbox 2018-02-28-preview), as its spec says:
paging that keeps the filter and runs in SQL, the fields' types and meanings, Operations_List,
and Azure Resource Manager's error codes on every error path."""

import base64
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import transitions as t
from approvals.api import azure
from approvals.models import State
from tests import factories
from tests.api_helpers import Api

SUB = "/subscriptions/tenant-a/providers/Microsoft.CustomerLockbox"
VERSION = {"api-version": "2018-02-28-preview"}
PENDING = {"$filter": "properties/status eq 'Pending'"}


def waiting(engineer, manager, tenant, minutes_ago, **fields):
    req = factories.submit(engineer=engineer, tenant=tenant,
                           now=timezone.now() - timedelta(minutes=minutes_ago), **fields)
    return t.internal_approve(access_request=req, actor=manager,
                              now=timezone.now() - timedelta(minutes=minutes_ago) / 2)


def _follow(api, link):
    parts = urlsplit(link)
    return api.client.get(f"{parts.path}?{parts.query}", headers=api.headers)


# --- Paging -------------------------------------------------------------------------------------

def test_the_next_link_keeps_the_filter(reader, boss, engineer, manager, tenant_a,
                                        monkeypatch):
    monkeypatch.setattr(azure, "PAGE", 2)
    for i in range(6):  # newest first: pending, denied, pending, denied, ...
        req = waiting(engineer, manager, tenant_a, minutes_ago=10 + i)
        if i % 2:
            t.customer_reject(access_request=req, actor=boss, comment="No.")
    first = reader.get(f"{SUB}/requests", **PENDING).json()
    assert [r["properties"]["status"] for r in first["value"]] == ["Pending", "Pending"]
    assert "$filter=properties/status%20eq%20'Pending'" in first["nextLink"]
    second = _follow(reader, first["nextLink"]).json()
    assert [r["properties"]["status"] for r in second["value"]] == ["Pending"]
    assert "nextLink" not in second
    names = [r["name"] for r in first["value"] + second["value"]]
    assert len(set(names)) == 3


def test_paging_runs_in_sql_by_key(reader, engineer, manager, tenant_a, monkeypatch):
    monkeypatch.setattr(azure, "PAGE", 2)
    made = [waiting(engineer, manager, tenant_a, minutes_ago=10 + i) for i in range(5)]
    reader.get(f"{SUB}/requests")  # the token's last use is noted once a minute, not per call
    with CaptureQueriesContext(connection) as first_page:
        first = reader.get(f"{SUB}/requests").json()
    with CaptureQueriesContext(connection) as second_page:
        second = _follow(reader, first["nextLink"]).json()
    for captured in (first_page, second_page):
        reads = [q["sql"] for q in captured.captured_queries
                 if 'FROM "approvals_accessrequest"' in q["sql"]]
        assert len(reads) == 1, reads
        assert re.search(r"LIMIT 3\b", reads[0])  # a page and one more, never the tenant
        assert len(captured.captured_queries) == 2  # the token, then the page
    assert '"created_at" <' in second_page.captured_queries[-1]["sql"]
    assert [r["name"] for r in first["value"] + second["value"]] == [str(r.pk) for r in made[:4]]


@pytest.mark.parametrize("token", [
    base64.urlsafe_b64encode(b"-5").decode(),      # an offset, and a negative one
    base64.urlsafe_b64encode(b"50").decode(),
    "not a token!",
    base64.urlsafe_b64encode(b"2027-02-30T00:00:00+00:00|" + b"0" * 32).decode(),
    base64.urlsafe_b64encode(b"2027-01-01T00:00:00+00:00|not-a-uuid").decode(),
])
def test_a_skip_token_we_did_not_write_is_400(reader, token):
    response = reader.get(f"{SUB}/requests", **{"$skiptoken": token})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["target"]) == ("BadRequest", "$skiptoken")


# --- The request's fields -----------------------------------------------------------------------

@pytest.mark.parametrize("minutes, shown", [(30, "0.5"), (90, "1.5"), (240, "4"), (20, "0.3333")])
def test_duration_is_text_counting_hours_never_rounded_up(reader, engineer, manager, tenant_a,
                                                           minutes, shown):
    req = waiting(engineer, manager, tenant_a, minutes_ago=5,
                  requested_duration=timedelta(minutes=minutes))
    body = reader.get(f"{SUB}/requests/{req.pk}", **VERSION).json()
    assert body["properties"]["duration"] == shown


def test_resource_type_is_the_kind_of_resource_and_access_level_the_level(
        reader, engineer, manager, tenant_a):
    scope = ["exchange/mailbox/ann@a.test", "exchange/mailbox/bob@a.test",
             "sharepoint/sites/finance/*",
             # An Azure resource id, written as Lockbox writes identifiers: no leading "/".
             "subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"]
    req = waiting(engineer, manager, tenant_a, minutes_ago=5, scope=scope,
                  access_level="read_write")
    props = reader.get(f"{SUB}/requests/{req.pk}", **VERSION).json()["properties"]
    assert props["resourceIds"] == ",".join(scope)
    assert props["resourceType"] == \
        "exchange/mailbox,sharepoint/sites,Microsoft.Compute/virtualMachines"
    assert props["accessLevel"] == "read_write"


def test_the_status_filter_finds_what_each_status_shows(reader, engineer, manager, approver_a,
                                                        tenant_a):
    """The filter runs in SQL; the status is decided at read time: both must agree."""
    now = timezone.now()
    made = {
        "Pending": [State.PENDING_CUSTOMER, now - timedelta(minutes=10)],
        "Approved": [State.APPROVED, now - timedelta(minutes=10)],
        "Denied": [State.DENIED, now - timedelta(minutes=10)],
        "Expired": [State.PENDING_CUSTOMER, now - timedelta(hours=13)],  # window lapsed
        "Revoked": [State.REVOKED, now - timedelta(minutes=10)],
        "Completed": [State.APPROVED, now - timedelta(hours=3)],  # time box ran out
    }
    for status, (state, at) in made.items():
        made[status] = factories.request_in_state(state, engineer=engineer, manager=manager,
                                                  approver=approver_a, tenant=tenant_a, now=at)
    for status, req in made.items():
        listed = reader.get(f"{SUB}/requests",
                            **{"$filter": f"properties/status eq '{status}'"}).json()["value"]
        assert [r["name"] for r in listed] == [str(req.pk)], status
        assert listed[0]["properties"]["status"] == status
    assert reader.get(f"{SUB}/requests", **{"$filter": "properties/status eq 'Revoking'"}
                      ).json() == {"value": []}


# --- Operations_List ----------------------------------------------------------------------------

def test_operations_list_is_served(reader):
    body = reader.get("/providers/Microsoft.CustomerLockbox/operations", **VERSION).json()
    names = {op["name"] for op in body["value"]}
    assert {"Microsoft.CustomerLockbox/requests/read",
            "Microsoft.CustomerLockbox/requests/UpdateApproval/action",
            "Microsoft.CustomerLockbox/tenantOptedIn/read"} <= names
    for op in body["value"]:
        assert set(op["display"]) == {"provider", "resource", "operation", "description"}
        assert op["isDataAction"] == "false"
    missing = reader.get("/providers/Microsoft.CustomerLockbox/operations")
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
    assert Api(None).get("/providers/Microsoft.CustomerLockbox/operations",
                         **VERSION).status_code == 401


# --- Errors -------------------------------------------------------------------------------------

def test_every_error_carries_an_azure_code(decider, reader, engineer, manager, tenant_a,
                                           monkeypatch):
    req = waiting(engineer, manager, tenant_a, minutes_ago=5)
    update = f"{SUB}/requests/{req.pk}/updateApproval"
    outsider = Api(None)
    answers = {
        "no token": (outsider.get(f"{SUB}/requests"), 401, "AuthenticationFailed"),
        "read token decides": (reader.post(update, {"status": "Approve"}, **VERSION), 403,
                               "AuthorizationFailed"),
        "not JSON": (decider.post(update, raw="{", **VERSION), 400, "InvalidRequestContent"),
        "unknown field": (decider.post(update, {"status": "Approve", "why": "x"}, **VERSION),
                          400, "InvalidRequestContent"),
        "bad status": (decider.post(update, {"status": "Maybe"}, **VERSION), 400,
                       "InvalidRequestContent"),
        "malformed id": (reader.get(f"{SUB}/requests/not-an-id", **VERSION), 404,
                         "ResourceNotFound"),
        "unknown id": (reader.get(f"{SUB}/requests/{'0' * 8}-0000-0000-0000-{'0' * 12}",
                                  **VERSION), 404, "ResourceNotFound"),
        "other subscription": (reader.get("/subscriptions/tenant-b/providers/"
                                          "Microsoft.CustomerLockbox/requests"), 404,
                               "SubscriptionNotFound"),
        "wrong method": (reader.client.delete(f"{SUB}/requests", headers=reader.headers), 405,
                         "MethodNotAllowed"),
        "bad filter": (reader.get(f"{SUB}/requests", **{"$filter": "status eq 1"}), 400,
                       "BadRequest"),
    }
    decider.post(update, {"status": "Approve"}, key="k1", **VERSION)
    answers["decided already"] = (decider.post(update, {"status": "Deny"}, **VERSION), 409,
                                  "Conflict")
    answers["key reused"] = (decider.post(update, {"status": "Deny"}, key="k1", **VERSION),
                             422, "InvalidRequestContent")
    monkeypatch.setattr(azure, "_rows", lambda tenant: (_ for _ in ()).throw(
        OperationalError("the database is gone")))
    answers["database down"] = (reader.get(f"{SUB}/requests"), 503, "ServiceUnavailable")
    for case, (response, status, code) in answers.items():
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), case
        assert isinstance(response.json()["error"]["additionalInfo"], list), case
    conflict = answers["decided already"][0].json()["error"]
    assert conflict["additionalInfo"] == [{"type": "LockboxRequestStatus",
                                           "info": {"currentStatus": "Approved"}}]


def test_an_idempotency_key_reused_with_another_query_is_not_a_replay(decider):
    """Schemathesis found it: a key's first answer (200) was replayed to the same path with a
    bad api-version, because the query was not part of what the key stood for."""
    first = decider.post("/providers/Microsoft.CustomerLockbox/disableLockbox", {}, key="k",
                         **VERSION)
    assert first.status_code == 200
    other = decider.post("/providers/Microsoft.CustomerLockbox/disableLockbox", {}, key="k",
                         **{"api-version": ""})
    assert other.status_code in (400, 422), other.content
