"""Bad input to the APIs gets a clear 4xx in the documented JSON shape, never a 500.

Who is asking is settled first (401, with a WWW-Authenticate challenge), then how big the body
is (413), then what it says (400); nothing is written for a refused request.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import jsonschema_rs
import pytest
from django.db import connection
from django.utils import timezone

from approvals.models import AccessRequest, TenantRole
from approvals.tenants import add_tenant_member
from audit.models import AuditEvent
from tests.api_helpers import Api, make_token
from tests.processes import ROOT

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a": ' * 100_000 + "1" + "}" * 100_000
TEN_MB = "x" * (10 * 1024 * 1024)
REALM = 'Bearer realm="lockbox"'


@pytest.fixture
def data_plane(manager):
    return Api(make_token(manager, "data_plane")[1])


@pytest.fixture
def support(engineer):
    return Api(make_token(engineer, "support")[1])


@pytest.fixture
def decider(admin_a, tenant_a):
    add_tenant_member(tenant=tenant_a, user=admin_a, role=TenantRole.APPROVER)
    return Api(make_token(admin_a, "tenant_decide", tenant=tenant_a)[1])


def _error(response, status):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


# --- Deep JSON ----------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["arrays", "objects"])
@pytest.mark.parametrize("path", ["/api/v1/access/check", "/api/v1/activity"])
def test_json_nested_100000_deep_is_400(data_plane, path, body):
    error = _error(data_plane.post(path, raw=body), 400)
    assert error == {"code": "invalid_json", "message": "The body nests deeper than 32 levels."}


def test_json_nested_100000_deep_in_a_google_settings_patch_is_400(decider, tenant_a):
    response = decider.client.patch("/v1/organizations/tenant-a/accessApprovalSettings",
                                    DEEP_OBJECT, content_type="application/json",
                                    headers=decider.headers)
    error = _error(response, 400)
    assert error["status"] == "INVALID_ARGUMENT" and "nests deeper" in error["message"]
    tenant_a.refresh_from_db()
    assert tenant_a.notification_emails == []


def test_text_the_database_cannot_store_is_400_not_500(data_plane, support, tenant_a):
    # JSON may spell a lone UTF-16 surrogate; UTF-8 has no bytes for it.
    check = '{"engineer": "\\ud800", "tenant": "tenant-a", "resource": "r"}'
    assert "surrogates" in _error(data_plane.post("/api/v1/access/check", raw=check),
                                  400)["message"]
    new = json.dumps(NEW).replace('"CASE-API"', '"CASE-\\udfff"')
    assert "surrogates" in _error(support.post("/api/v1/requests", raw=new), 400)["message"]
    assert not AccessRequest.objects.exists()


# --- Who is asking comes first ------------------------------------------------------------------

@pytest.mark.parametrize("body", ["{not json", DEEP, TEN_MB], ids=["malformed", "deep", "10MB"])
@pytest.mark.parametrize("path", ["/api/v1/access/check", "/api/v1/activity",
                                  "/api/v1/requests"])
@pytest.mark.parametrize("authorization", [None, "Bearer lbx_nope_nope"],
                         ids=["no-token", "unknown-token"])
def test_a_bad_body_without_a_usable_token_is_401(path, body, authorization, db):
    api = Api(None)
    if authorization:
        api.headers = {"Authorization": authorization}
    error = _error(api.post(path, raw=body), 401)
    assert error["code"] == "unauthenticated"


@pytest.mark.parametrize("blank", ["\x1f", " \x1c\t", "\x85"])
def test_text_of_separators_only_is_refused_and_the_schema_says_so(data_plane, tenant_a, blank):
    """What the API strips as blank, the served schema does not call valid: checked with the
    ECMA regular expressions of jsonschema-rs, the validator schemathesis uses."""
    body = {"engineer": "engineer@provider.test", "tenant": "tenant-a", "resource": blank}
    error = _error(data_plane.post("/api/v1/access/check", body), 400)
    assert error["message"].startswith("resource:")
    schema = Api(None).client.get("/api/v1/openapi.json").json()
    body_schema = schema["paths"]["/api/v1/access/check"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    if "$ref" in body_schema:
        body_schema = schema["components"]["schemas"][body_schema["$ref"].rsplit("/", 1)[1]]
    resource = body_schema["properties"]["resource"]
    assert not jsonschema_rs.is_valid(resource, blank)
    assert jsonschema_rs.is_valid(resource, "exchange/mailbox/x")


# --- Refused before any view runs ---------------------------------------------------------------

@pytest.mark.parametrize("method,path,shape", [
    ("post", "/api/v1/activity", {"code": "invalid"}),
    ("get", "/api/v1/requests", {"code": "invalid"}),
    ("get", "/v1/organizations/tenant-a/approvalRequests", {"code": 400,
                                                            "status": "INVALID_ARGUMENT"}),
    ("get", "/subscriptions/tenant-a/providers/Microsoft.CustomerLockbox/requests",
     {"code": "InvalidRequestContent"}),
])
def test_a_host_this_server_does_not_serve_is_a_json_400_in_the_apis_dialect(method, path,
                                                                           shape, db):
    """Django refuses the request before routing it (schemathesis sends such Host headers)."""
    response = getattr(Api(None).client, method)(path, headers={"Host": "Scunthorpe"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert {key: error.get(key) for key in shape} == shape, error
    assert error["message"]


def test_a_page_with_an_unserved_host_is_still_a_400_page(db):
    response = Api(None).client.get("/", headers={"Host": "Scunthorpe"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


# --- WWW-Authenticate ---------------------------------------------------------------------------

CHALLENGED = [
    ("post", "/api/v1/access/check"), ("post", "/api/v1/activity"), ("get", "/api/v1/requests"),
    ("get", "/api/v1/tenants/tenant-a/audit/events"),
    ("get", "/v1/organizations/tenant-a/approvalRequests"),
    ("get", "/subscriptions/tenant-a/providers/Microsoft.CustomerLockbox/requests"),
]


@pytest.mark.parametrize("method,path", CHALLENGED)
@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwYXNz", "Bearer "])
def test_a_401_without_a_token_challenges_for_one(method, path, authorization, db):
    headers = {"Authorization": authorization} if authorization else {}
    response = getattr(Api(None).client, method)(path, headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == REALM


@pytest.mark.parametrize("method,path", CHALLENGED)
def test_a_401_for_a_refused_token_says_invalid_token(method, path, manager, move_clock):
    from datetime import timedelta

    _token, raw = make_token(manager, "data_plane", days=1)
    move_clock(timedelta(days=2))
    for value in (raw, "lbx_nope_nope", "not-a-lockbox-token"):
        response = getattr(Api(None).client, method)(
            path, headers={"Authorization": f"Bearer {value}"})
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith(f'{REALM}, error="invalid_token"')
    assert 'error_description="This token has expired."' in getattr(Api(None).client, method)(
        path, headers={"Authorization": f"Bearer {raw}"})["WWW-Authenticate"]


def test_a_token_without_the_scope_is_told_which_scope(support):
    response = support.post("/api/v1/access/check", {"engineer": "e", "tenant": "t",
                                                     "resource": "r"})
    assert _error(response, 403)["code"] == "insufficient_scope"
    assert response["WWW-Authenticate"] == (
        f'{REALM}, error="insufficient_scope", scope="access:check"')


# --- Size ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [None, "retry-1"])
def test_a_10_mb_body_is_a_json_413(data_plane, tenant_a, key):
    events = AuditEvent.objects.count()
    for path in ("/api/v1/access/check", "/api/v1/activity"):
        error = _error(data_plane.post(path, raw=TEN_MB, key=key), 413)
        assert error == {"code": "too_large", "message": "The body is larger than 1048576 bytes."}
    assert AuditEvent.objects.count() == events


def test_a_10_mb_body_is_a_json_413_from_a_real_server(live_server, transactional_db):
    from approvals.models import ProviderRole
    from tests import factories

    manager = factories.person("manager@provider.test",
                               provider_role=ProviderRole.INTERNAL_APPROVER)
    raw = make_token(manager, "data_plane")[1]
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/activity", data=TEN_MB.encode(), method="POST",
        headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    assert refused.value.headers["Content-Type"] == "application/json"
    assert json.load(refused.value)["error"]["code"] == "too_large"


@pytest.fixture
def gunicorn(transactional_db):
    """The app under gunicorn's sync workers, as production runs it, on this test's database."""
    db = connection.settings_dict
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.test",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
                           f"{db['PORT'] or 5432}/{db['NAME']}"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "lockbox_portal.wsgi",
         f"--bind=127.0.0.1:{port}", "--workers=1"],
        cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(20)


@pytest.mark.postgres
def test_gunicorn_lets_the_client_read_its_401_or_413_for_a_10_mb_body(gunicorn, manager):
    # Its sync workers close the connection after answering: unless the app reads the body
    # first, the client is cut off mid-upload and sees a broken pipe, not the answer.
    raw = make_token(manager, "data_plane")[1]
    for authorization, status in ((None, 401), (f"Bearer {raw}", 413)):
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        request = urllib.request.Request(f"{gunicorn}/api/v1/activity", data=TEN_MB.encode(),
                                         method="POST", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == status
        assert refused.value.headers["Content-Type"] == "application/json"


# --- Impossible dates ---------------------------------------------------------------------------

IMPOSSIBLE = ["2026-02-30T10:00:00+00:00", "2026-01-01T25:00:00Z", "2026-01-01T10:00:00",
              "yesterday"]


@pytest.mark.parametrize("at", IMPOSSIBLE)
def test_activity_at_an_impossible_time_is_400_and_writes_nothing(data_plane, tenant_a, at):
    events = AuditEvent.objects.count()
    batch = {"tenant": "tenant-a", "engineer": "engineer@provider.test", "actions": [
        {"resource": "r", "operation": "read", "at": timezone.now().isoformat()},
        {"resource": "r", "operation": "read", "at": at}]}
    error = _error(data_plane.post("/api/v1/activity", batch), 400)
    assert error["details"] == {"actions[1]": ["at: an ISO 8601 time with a time zone."]}
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("created", [*IMPOSSIBLE, "0001-01-01T00:00:00+05:00"])
def test_a_cursor_with_an_impossible_time_is_400(support, created):
    cursor = f"{created}|{uuid.uuid4()}"
    error = _error(support.get("/api/v1/requests", cursor=cursor), 400)
    assert error["message"] == "cursor: use the next_cursor of the previous page."


@pytest.mark.parametrize("cursor", ["2026-03-02T09:00:00+00:00|abc", "2026-03-02T09:00:00+00:00",
                                    "|", "x" * 10_000])
def test_a_cursor_that_was_never_given_out_is_400(support, cursor):
    error = _error(support.get("/api/v1/requests", cursor=cursor), 400)
    assert error["message"] == "cursor: use the next_cursor of the previous page."


# --- Types of the fields of a new request -------------------------------------------------------

NEW = {"tenant": "tenant-a", "case_reference": "CASE-API", "justification": "Broken rules.",
       "reason_type": "customer_initiated_support", "scope": ["exchange/mailbox/a@b.test"],
       "duration_minutes": 60}
WRONG_TYPES = [
    ("tenant", 5, "a string"), ("tenant", None, "a string"),
    ("case_reference", 5, "a string"), ("case_reference", ["CASE"], "a string"),
    ("justification", {}, "a string"), ("justification", {"why": "x"}, "a string"),
    ("reason_type", 5, "a string"), ("access_level", [], "a string"),
    ("scope", "exchange/mailbox/a@b.test", "a list"), ("scope", {"a": 1}, "a list"),
    ("duration_minutes", "60", "a whole number"), ("duration_minutes", True, "a whole number"),
    ("duration_minutes", 60.5, "a whole number"),
    ("touches_customer_content", "yes", "true or false"),
    ("touches_customer_content", 1, "true or false"),
]


@pytest.mark.parametrize("field,value,kind", WRONG_TYPES)
def test_a_new_request_with_a_field_of_the_wrong_type_is_400(support, tenant_a, field, value,
                                                             kind):
    error = _error(support.post("/api/v1/requests", {**NEW, field: value}), 400)
    assert error["message"] == f"{field}: {kind}."
    assert error["details"] == {field: [f"{field}: {kind}."]}
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize("field", ["tenant", "case_reference", "justification", "reason_type",
                                   "scope", "duration_minutes"])
def test_a_new_request_missing_a_field_is_400(support, tenant_a, field):
    body = {k: v for k, v in NEW.items() if k != field}
    assert _error(support.post("/api/v1/requests", body), 400)["message"] == (
        f"{field} is required.")


def test_a_whole_number_written_as_a_float_is_that_number(support, tenant_a):
    # JSON has one kind of number; JSON Schema's integer takes 60.0.
    created = support.post("/api/v1/requests", {**NEW, "duration_minutes": 60.0})
    assert created.status_code == 201 and created.json()["requested_seconds"] == 3600


# --- Every other native field -------------------------------------------------------------------

@pytest.mark.parametrize("action,problem", [
    ({"resource": 5}, "resource:"), ({"resource": ""}, "resource:"),
    ({"operation": ["read"]}, "operation:"), ({"access_level": "root"}, "access_level:"),
    ({"access_level": {}}, "access_level:"), ({"at": 1767225600}, "at:"),
    ({"at": None}, "at:"), ({"outcome": True}, "outcome:"), ({"request_id": "x"}, "Unknown"),
])
def test_each_activity_field_is_checked(data_plane, tenant_a, action, problem):
    item = {"resource": "r", "operation": "read", "at": timezone.now().isoformat(), **action}
    batch = {"tenant": "tenant-a", "engineer": "engineer@provider.test", "actions": [item]}
    error = _error(data_plane.post("/api/v1/activity", batch), 400)
    assert error["details"]["actions[0]"][0].startswith(problem)


@pytest.mark.parametrize("params,message", [
    ({"state": "bogus"}, "state: one of"), ({"state": ""}, "state: one of"),
    ({"limit": "\u0663"}, "limit: a whole number."), ({"limit": " 5"}, "limit: a whole number."),
    ({"limit": "5_0"}, "limit: a whole number."), ({"limit": ""}, "limit: a whole number."),
    ({"limit": "1" * 40}, "limit: a whole number."), ({"limit": "0"}, "limit: between 1"),
    ({"tenant": "tenant-\x00"}, "NUL"),
])
def test_request_list_filters_are_checked(support, params, message):
    assert message in _error(support.get("/api/v1/requests", **params), 400)["message"]


@pytest.mark.parametrize("after,message", [
    ("1e3", "a whole number"), ("-1", "between 0"), (str(2**63), "between 0"),
    ("\u0661", "a whole number"),
])
def test_the_audit_feeds_after_seq_is_checked(admin_a, tenant_a, after, message):
    api = Api(make_token(admin_a, "tenant_read", tenant=tenant_a)[1])
    response = api.get("/api/v1/tenants/tenant-a/audit/events", after_seq=after)
    assert message in _error(response, 400)["message"]


def test_a_wrong_method_is_405_with_allow(support):
    response = support.client.delete("/api/v1/requests", headers=support.headers)
    assert _error(response, 405)["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, POST"


# --- Addresses no route matches -----------------------------------------------------------------

UNROUTED = [
    ("get", "/api/v1/nothing"), ("post", "/api/v1/nothing"),
    ("get", "/api/v1/requests/not-a-uuid"), ("post", "/api/v1/requests/not-a-uuid/cancel"),
    ("get", "/v1/organizations/tenant-a/approvalRequests/" + "-" * 36),
    ("post", "/v1/organizations/tenant-a/approvalRequests/not-a-uuid:approve"),
    ("get", "/subscriptions/tenant-a/providers/Microsoft.CustomerLockbox/requests/not-a-uuid"
            "?api-version=2018-02-28-preview"),
    ("post", "/providers/Microsoft.CustomerLockbox/nothing"),
]


@pytest.mark.parametrize("debug", [True, False], ids=["local-settings", "production-settings"])
@pytest.mark.parametrize("method,path", UNROUTED)
def test_an_address_no_api_route_matches_is_a_json_404(settings, decider, method, path, debug):
    # Local settings run with DEBUG on, where Django answers its HTML debug page, not handler404.
    settings.DEBUG = debug
    response = getattr(decider.client, method)(path, headers=decider.headers)
    error = _error(response, 404)
    if path.startswith(("/v1/organizations/tenant-a/approvalRequests/", "/subscriptions/")):
        # A Google or Azure route takes any id and answers in its own shape.
        assert error["message"].endswith("was not found.")
    else:
        assert error["message"] == "There is nothing at this address."


def test_the_schema_takes_only_get(client, db):
    response = client.post("/api/v1/openapi.json")
    assert _error(response, 405)["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, HEAD"
