"""Webhooks: signed deliveries to a real HTTP receiver, failures, disabling, and the admin pages."""

import hashlib
import hmac
import ipaddress
import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from approvals import transitions as t
from approvals.notifications import delivery
from approvals.notifications.models import OutboxMessage, Status, WebhookEndpoint
from approvals.notifications.webhooks import endpoints, signing, transport
from audit.models import AuditEvent
from tests import factories, processes
from tests.clients import signed_in


def verify_signature(secret, header, body, now, tolerance=300):
    """The receiver's side, exactly as the README shows it."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    if abs(now - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


class Receiver:
    """A webhook receiver on 127.0.0.1 that records what it gets and answers `status`."""

    def __init__(self):
        self.received = []
        self.status = 200
        self.delay = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE = True
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def endpoint(receiver, tenant_a, admin_a):
    return endpoints.create_endpoint(tenant=tenant_a, actor=admin_a, url=receiver.url,
                                    event_types=endpoints.EVENT_TYPES)


@pytest.fixture
def granted(endpoint, engineer, manager, approver_a, tenant_a):
    req = factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())
    t.internal_approve(access_request=req, actor=manager)
    t.customer_approve(access_request=req, actor=approver_a)
    return req


def _webhook_rows(kind):
    return OutboxMessage.objects.filter(channel="webhook", kind=kind)


def test_the_signature_is_hmac_sha256_over_timestamp_and_body():
    body = b'{"type":"request.approved"}'
    header = signing.sign("s3cret", 1764000000, body)
    expected = hmac.new(b"s3cret", b"1764000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1764000000,v1={expected}"
    assert verify_signature("s3cret", header, body, now=1764000100)
    assert not verify_signature("other", header, body, now=1764000100)
    assert not verify_signature("s3cret", header, body + b" ", now=1764000100)
    assert not verify_signature("s3cret", header, body, now=1764009999)  # replayed too late


def test_a_delivery_is_signed_and_names_itself(receiver, endpoint, granted):
    row = _webhook_rows("request.approved").get()
    assert delivery.deliver(row.pk) == Status.SENT
    headers, body = receiver.received[-1]
    assert verify_signature(endpoint.secret, headers["Lockbox-Signature"], body,
                            now=int(time.time()))
    assert headers["Lockbox-Delivery"] == row.key
    assert headers["Lockbox-Event"] == "request.approved"
    payload = json.loads(body)
    assert payload["type"] == "request.approved" and payload["tenant"] == "tenant-a"
    assert payload["request"]["id"] == str(granted.pk)
    assert payload["actor"] == "approver@a.test"
    assert payload["audit"]["chain"] == "tenant:tenant-a"


def test_a_receiver_answering_500_is_retried_and_logged(receiver, endpoint, granted):
    receiver.status = 500
    row = _webhook_rows("request.approved").get()
    assert delivery.deliver(row.pk) == Status.RETRYING
    row.refresh_from_db()
    assert row.last_error == "The receiver answered HTTP 500."
    attempt = row.attempt_log.get()
    assert (attempt.ok, attempt.status_code) == (False, 500)
    receiver.status = 200
    assert delivery.deliver(row.pk, now=row.next_attempt_at) == Status.SENT


def test_a_receiver_that_hangs_times_out_and_is_logged(receiver, endpoint, granted,
                                                       monkeypatch):
    monkeypatch.setattr(transport, "TIMEOUT_SECONDS", 0.3)
    receiver.delay = 1
    row = _webhook_rows("request.approved").get()
    assert delivery.deliver(row.pk) == Status.RETRYING
    row.refresh_from_db()
    assert "timed out" in row.last_error


def test_webhooks_give_up_after_24_hours(receiver, endpoint, granted):
    receiver.status = 503
    row = _webhook_rows("request.approved").get()
    assert delivery.deliver(row.pk, now=row.created_at + timedelta(hours=23)) == Status.RETRYING
    row.refresh_from_db()
    assert delivery.deliver(row.pk, now=row.created_at + timedelta(hours=24)) == Status.FAILED


def test_repeated_failures_switch_the_webhook_off_and_tell_the_admins(
        receiver, endpoint, granted, admin_a):
    receiver.status = 500
    test_key = endpoints.send_test(endpoint=endpoint, actor=admin_a)
    rows = [*_webhook_rows("request.approved"), OutboxMessage.objects.get(key=test_key)]
    later = timezone.now()
    for _ in range(endpoints.DISABLE_AFTER):
        later += timedelta(hours=2)
        for row in rows:
            delivery.deliver(row.pk, now=later)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "failed deliveries in a row" in endpoint.disabled_reason
    assert AuditEvent.objects.filter(action="webhook.disabled").exists()
    delivery.retry_due()
    notice = [m for m in mail.outbox if m.to == [admin_a.email]
              and "switched off after repeated failures" in m.subject]
    assert len(notice) == 1 and receiver.url in notice[0].body


@pytest.mark.parametrize("url,problem", [
    ("ftp://files.example.com/", "Use an http:// or https:// address."),
    ("not a url", "Use an http:// or https:// address."),
    ("http://127.0.0.1:9000/hook", "private or local address"),
    ("http://10.1.2.3/hook", "private or local address"),
    ("http://169.254.169.254/latest/meta-data", "private or local address"),
    ("https://user:pw@93.184.216.34/", "Leave credentials out"),
])
def test_bad_addresses_are_refused_when_saved(url, problem, tenant_a, admin_a, settings):
    settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as refused:
        endpoints.create_endpoint(tenant=tenant_a, actor=admin_a, url=url,
                                 event_types=["request.approved"])
    assert problem in str(refused.value)
    assert not WebhookEndpoint.objects.exists()


def test_a_public_address_is_accepted(tenant_a, admin_a, settings):
    settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE = False
    endpoint = endpoints.create_endpoint(tenant=tenant_a, actor=admin_a,
                                        url="https://93.184.216.34/hook",
                                        event_types=["request.approved"])
    created = AuditEvent.objects.get(action="webhook.created")
    assert endpoint.secret not in json.dumps(created.data)


def test_a_webhook_later_pointing_inside_is_refused_at_delivery(receiver, endpoint, granted,
                                                                settings):
    settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE = False
    row = _webhook_rows("request.approved").get()
    assert delivery.deliver(row.pk) == Status.FAILED
    assert receiver.received == []


# --- The admin's pages ---------------------------------------------------------------------------

def test_an_admin_adds_a_webhook_sees_the_secret_once_and_tests_it(
        receiver, admin_a, tenant_a, django_capture_on_commit_callbacks):
    client = signed_in(admin_a)
    page = client.post("/t/tenant-a/settings/webhooks/", {
        "url": receiver.url, "event_types": ["request.approved"], "code": client.codes[0]})
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in page.content.decode()
    assert "not shown again" in page.content.decode()
    detail_url = f"/t/tenant-a/settings/webhooks/{endpoint.pk}/"
    assert endpoint.secret not in client.get(detail_url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{detail_url}test/")
    assert json.loads(receiver.received[-1][1])["type"] == "webhook.test"
    assert "Delivered" in client.get(detail_url).content.decode()


def test_switching_off_and_deleting_need_a_step_up(receiver, admin_a, endpoint):
    client = signed_in(admin_a)
    detail_url = f"/t/tenant-a/settings/webhooks/{endpoint.pk}/"
    refused = client.post(f"{detail_url}disable/", follow=True)
    assert "Enter a code" in refused.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.is_active
    client.post(f"{detail_url}disable/", {"code": client.codes[0]})
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    client.post(f"{detail_url}delete/")  # same webhook, same check, still fresh
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.deleted").exists()


def test_a_private_address_is_explained_on_the_page(admin_a, tenant_a, settings):
    settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE = False
    client = signed_in(admin_a)
    page = client.post("/t/tenant-a/settings/webhooks/", {
        "url": "http://192.168.1.10/hook", "event_types": ["request.approved"],
        "code": client.codes[0]})
    assert page.status_code == 400
    assert "a private or local address" in page.content.decode()


def test_another_tenants_webhook_is_404(receiver, endpoint, approver_b, tenant_b):
    from approvals.models import TenantRole
    from approvals.tenants import add_tenant_member

    add_tenant_member(tenant=tenant_b, user=approver_b, role=TenantRole.ADMIN)
    client = signed_in(approver_b)
    assert client.get(f"/t/tenant-b/settings/webhooks/{endpoint.pk}/").status_code == 404
    assert client.post(f"/t/tenant-b/settings/webhooks/{endpoint.pk}/test/").status_code == 404


# --- DNS rebinding ---------------------------------------------------------------------------

@pytest.fixture
def rebinding(monkeypatch, settings):
    """hooks.rebind.test resolves to a 'public' receiver when checked and to an internal one
    on every later lookup, as an attacker's DNS server with a zero TTL answers. 127.0.0.2 plays
    the public internet (only it, for this test); 127.0.0.1 is the provider's own network."""
    settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE = False
    public = processes.Receiver("127.0.0.2")
    internal = processes.Receiver("127.0.0.1", public.port)
    real = socket.getaddrinfo
    lookups = []

    def attacker_dns(host, port, *args, **kwargs):
        if host != "hooks.rebind.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.2" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", attacker_dns)
    real_global = ipaddress.IPv4Address.is_global
    monkeypatch.setattr(ipaddress.IPv4Address, "is_global", property(
        lambda address: str(address) == "127.0.0.2" or real_global.fget(address)))
    yield public, internal, lookups
    public.close()
    internal.close()


def test_a_delivery_goes_to_the_address_that_was_checked(rebinding, tenant_a):
    public, internal, lookups = rebinding
    endpoint = WebhookEndpoint.objects.create(
        tenant=tenant_a, url=f"http://hooks.rebind.test:{public.port}/hook", secret="s" * 64,
        event_types=["webhook.test"], created_at=timezone.now())
    message = OutboxMessage(key="k", channel="webhook", kind="webhook.test",
                            recipient=endpoint.url, tenant=tenant_a, endpoint=endpoint,
                            payload={"id": "k"}, created_at=timezone.now(),
                            next_attempt_at=timezone.now())
    assert transport.post(message) == 204
    assert len(public.bodies) == 1 and internal.bodies == []
    assert lookups == ["hooks.rebind.test"]  # resolved once, for the check, and used as checked
