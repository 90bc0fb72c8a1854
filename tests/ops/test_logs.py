"""Logs as an operator reads them: JSON lines carrying the request id, user, tenant and access
request, and never a secret, through real flows (sign-in with a password and a TOTP code, an
API call with a bearer token, an invitation link, a failing webhook, a view that crashes)."""

import io
import json
import logging.config
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client, override_settings
from django.urls import path, reverse

from approvals.models import State
from approvals.notifications.webhooks import endpoints
from lockbox_portal import urls as lockbox_urls
from lockbox_portal.logs import context
from lockbox_portal.logs.config import logging_config
from lockbox_portal.logs.redact import redact
from tests.api_helpers import make_token
from tests.clients import signed_in
from tests.factories import request_in_state, totp_device

PASSWORD = "correct horse battery"


class Captured:
    """The real LOGGING (JSON, INFO) with its stderr handler writing into memory."""

    def __init__(self):
        self.stream = io.StringIO()

    @property
    def text(self):
        return self.stream.getvalue()

    def lines(self):
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def access(self):
        return [line for line in self.lines() if line["logger"] == "lockbox.access"]


@pytest.fixture
def json_logs(monkeypatch):
    captured = Captured()
    monkeypatch.setattr(sys, "stderr", captured.stream)
    logging.config.dictConfig(logging_config("json", "INFO"))
    monkeypatch.undo()  # the handler keeps the memory stream; pytest gets its stderr back
    try:
        yield captured
    finally:
        logging.config.dictConfig(settings.LOGGING)


def test_a_line_is_one_json_object_with_time_level_logger_message(json_logs):
    logging.getLogger("lockbox.test").warning("Hello %s", "there")
    [line] = json_logs.lines()
    assert list(line)[:4] == ["time", "level", "logger", "message"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "lockbox.test",
                                                                "Hello there")


def test_sign_in_with_password_and_totp_code_logs_who_and_where_never_the_secrets(
        json_logs, approver_a, tenant_a, engineer, manager, now):
    pending = request_in_state(State.PENDING_CUSTOMER, engineer=engineer, manager=manager,
                               approver=approver_a, tenant=tenant_a, now=now)
    device, code_at = totp_device(approver_a)
    client = Client()
    client.post("/accounts/login/", {"login": approver_a.email, "password": PASSWORD})
    code = code_at()
    done = client.post(reverse("mfa_verify"), {"code": code, "next": "/t/tenant-a/"})
    assert done.status_code == 302
    page = client.get(f"/t/tenant-a/requests/{pending.pk}/")
    assert page.status_code == 200

    session_id = client.cookies[settings.SESSION_COOKIE_NAME].value
    for secret in (PASSWORD, code, session_id, device.key):
        assert secret not in json_logs.text
    last = json_logs.access()[-1]
    assert last["method"] == "GET" and last["status"] == 200
    assert last["user_id"] == approver_a.pk
    assert last["tenant"] == "tenant-a"
    assert last["access_request"] == pending.reference
    assert last["request_id"] == page["X-Request-ID"]
    assert last["route"] == "portal:request"
    # Every line of the sign-in has a request id; the code's own line names the route only.
    assert all(line.get("request_id") for line in json_logs.lines())


def test_an_api_call_with_a_bearer_token_logs_its_owner_never_the_token(
        json_logs, engineer, manager, approver_a, tenant_a, now):
    req = request_in_state(State.PENDING_CUSTOMER, engineer=engineer, manager=manager,
                           approver=approver_a, tenant=tenant_a, now=now)
    _, raw = make_token(engineer, "support")
    sent_id = "client-chosen.id_42"
    answer = Client().get(f"/api/v1/requests/{req.pk}", {"access_token": raw},
                          headers={"Authorization": f"Bearer {raw}", "X-Request-ID": sent_id})
    assert answer.status_code == 200
    assert answer["X-Request-ID"] == sent_id
    refused = Client().get("/api/v1/requests", headers={"Authorization": f"Bearer {raw}x"})
    assert refused.status_code == 401

    assert raw not in json_logs.text and raw[4:20] not in json_logs.text
    line = json_logs.access()[0]
    assert (line["request_id"], line["user_id"], line["access_request"], line["tenant"]) == (
        sent_id, engineer.pk, req.reference, "tenant-a")
    assert "access_token" not in json_logs.text  # no query string, ever
    # Django's own line for the refused call carries that call's request id too.
    [unauthorized] = [line for line in json_logs.lines() if line["logger"] == "django.request"]
    assert unauthorized["message"] == "Unauthorized: /api/v1/requests"
    assert unauthorized["request_id"] == refused["X-Request-ID"]


@pytest.mark.parametrize("header", ["has space", "x" * 200, "semi;colon", "new\\nline"])
def test_a_request_id_that_is_not_a_sane_token_is_replaced(header, json_logs, db):
    answer = Client().get("/healthz", headers={"X-Request-ID": header})
    assert answer["X-Request-ID"] != header
    assert re.fullmatch(r"[0-9a-f-]{36}", answer["X-Request-ID"])
    assert json_logs.access()[-1]["request_id"] == answer["X-Request-ID"]


def test_an_invitation_link_never_shows_its_key(
        json_logs, admin_a, tenant_a, django_capture_on_commit_callbacks):
    admin = signed_in(admin_a)
    with django_capture_on_commit_callbacks(execute=True):
        admin.post("/t/tenant-a/settings/members/", {
            "email": "new.person@a.test", "roles": ["approver"], "code": admin.codes[0]})
    link = re.search(r"http://127\.0\.0\.1:8000(/accounts/password/reset/key/(\S+)/)",
                     mail.outbox[0].body)
    key = link.group(2)
    invitee = Client()
    invitee.get(link.group(1), follow=True)
    invitee.get(link.group(1).replace("/key/", "/key/x"))  # a mangled link: still no key

    assert key not in json_logs.text and key.split("-", 1)[1] not in json_logs.text
    for code in admin.codes[:1]:
        assert code not in json_logs.text
    routes = [line["route"] for line in json_logs.access()]
    assert "account_reset_password_from_key" in routes
    invite = json_logs.access()[0]
    assert invite["tenant"] == "tenant-a" and invite["user_id"] == admin_a.pk


class FailingReceiver:
    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(500)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_failing_webhook_is_logged_without_its_secret_query_and_names_its_task(
        json_logs, admin_a, tenant_a, settings, django_capture_on_commit_callbacks):
    settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE = True
    receiver = FailingReceiver()
    try:
        endpoint = endpoints.create_endpoint(
            tenant=tenant_a, actor=admin_a, url=receiver.url + "?secret=hunter2-query-secret",
            event_types=endpoints.EVENT_TYPES)
        client = signed_in(admin_a)
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post(f"/t/tenant-a/settings/webhooks/{endpoint.pk}/test/")
    finally:
        receiver.close()

    assert "hunter2-query-secret" not in json_logs.text
    assert endpoint.secret not in json_logs.text
    [failure] = [line for line in json_logs.lines()
                 if line["logger"] == "approvals.notifications.delivery"]
    assert failure["level"] == "WARNING"
    assert "HTTP 500" in failure["message"] and "/hook?[redacted]" in failure["message"]
    assert failure["task_name"] == "notifications.deliver" and failure["task_id"]
    assert failure["tenant"] == "tenant-a"
    assert answer.status_code == 302
    # The task's fields end with the task; the request's access line has none of them.
    assert "task_id" not in json_logs.access()[-1]


RAW_SECRET = "lbx_0123456789ab_" + "s" * 43


def crashing_view(request):
    raise RuntimeError(f"could not use {RAW_SECRET} with code 123456 for backup code zq2x7mab")


urlpatterns = [path("crash/", crashing_view, name="crash"), *lockbox_urls.urlpatterns]


@override_settings(ROOT_URLCONF=__name__)
def test_an_exception_in_a_view_is_logged_with_its_request_id_and_no_secret(json_logs,
                                                                          approver_a):
    client = signed_in(approver_a)
    client.raise_request_exception = False
    answer = client.get(
        "/crash/", {"key": "query-secret-value"}, headers={"X-Request-ID": "crash-1"})
    assert answer.status_code == 500
    [error] = [line for line in json_logs.lines() if line["logger"] == "django.request"]
    assert error["level"] == "ERROR" and error["request_id"] == "crash-1"
    assert error["user_id"] == approver_a.pk
    assert "RuntimeError: could not use lbx_[redacted]" in error["exc_info"]
    for secret in (RAW_SECRET[4:], "123456", "zq2x7mab", "query-secret-value"):
        assert secret not in json_logs.text
    assert json_logs.access()[-1]["status"] == 500


@pytest.mark.parametrize("text,secret", [
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("Cookie: __Host-lockbox_session=k2j3h4g5f6d7s8a9", "k2j3h4g5f6d7s8a9"),
    ("session key 0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p", "0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p"),
    ("GET https://x.example/cb?state=s3cr3t&code=abc", "s3cr3t"),
    ("/accounts/password/reset/key/4-c1p2k3-0123abcd/", "c1p2k3-0123abcd"),
    ("your code is 987654.", "987654"),
    ("backup code: abcdefgh", "abcdefgh"),
    ("password=hunter2", "hunter2"),
])
def test_the_redaction_removes_each_kind_of_secret(text, secret):
    assert secret not in redact(text)


def test_the_redaction_leaves_ordinary_text_alone():
    text = ("Outbox message 12 (email) failed on attempt 3: timed out. Now retrying; it was "
            "for invitation")
    assert redact(text) == text


def test_the_context_is_per_request_and_ends_with_it(approver_a, engineer, manager, tenant_a,
                                                    now):
    req = request_in_state(State.PENDING_CUSTOMER, engineer=engineer, manager=manager,
                           approver=approver_a, tenant=tenant_a, now=now)
    signed_in(approver_a).get(f"/t/tenant-a/requests/{req.pk}/")
    assert context.current() == {}
    # Outside a request or task (a shell, a command), finding a request binds nothing.
    from approvals import selectors

    selectors.get_request_for_user(approver_a, tenant_a, req.pk)
    assert context.current() == {}
