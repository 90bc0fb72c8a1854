"""Tenant webhooks: endpoints, signed payloads, delivery over HTTP.

Every delivery carries `Lockbox-Signature: t=<unix time>,v1=<hex>`, where the hex is
HMAC-SHA256 with the endpoint's secret over "<t>." followed by the exact request body. Receivers
recompute it, compare in constant time, and refuse timestamps older than a few minutes.
`Lockbox-Delivery` is the same on every retry of one delivery, so receivers can drop repeats.
"""

import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import ssl
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from approvals.notifications.models import Channel, OutboxMessage, WebhookEndpoint
from audit.encoding import format_time
from audit.services import record_event
from lockbox_portal import clock

TIMEOUT_SECONDS = 10
EVENT_TYPES = [
    "request.submitted", "request.internal_approved", "request.internal_rejected",
    "request.customer_approved", "request.approved", "request.customer_rejected",
    "request.cancelled", "request.expired", "request.revoked", "request.released",
    "request.completed",
]


# --- Payloads and signatures --------------------------------------------------------------------

def event_payload(*, delivery_id, event, req):
    return {
        "id": delivery_id,
        "type": event.action,
        "created_at": format_time(event.occurred_at),
        "tenant": req.tenant.slug,
        "audit": {"chain": event.chain, "seq": event.seq, "hash": event.hash},
        "actor": event.actor_email or None,
        "request": {
            "id": str(req.pk),
            "reference": req.reference,
            "state": req.state,
            "case_reference": req.case_reference,
            "requester": req.requester.email,
            "reason_type": req.reason_type,
            "scope": req.scope,
            "access_level": req.access_level,
            "requested_seconds": int(req.requested_duration.total_seconds()),
            "access_starts_at": (format_time(req.access_starts_at) if req.access_starts_at
                                 else None),
            "access_ends_at": format_time(req.access_ends_at) if req.access_ends_at else None,
        },
    }


def body_bytes(payload):
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(secret, timestamp, body):
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


# --- Where a webhook may point ------------------------------------------------------------------

def check_url(url, *, delivering=False):
    """The addresses `url` may be delivered to, or ValidationError.

    Refuse anything but http(s), and (outside development) any private, loopback, link-local or
    reserved address, so a tenant cannot make Lockbox probe the provider's own network. Checked
    when saved and again before every delivery, and a delivery connects to exactly the addresses
    checked here: resolving the name again to connect would let DNS answer differently the
    second time (DNS rebinding)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Use an http:// or https:// address.")
    if parts.username or parts.password:
        raise ValidationError("Leave credentials out of the address; use the signing secret.")
    if settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE and not delivering:
        return []  # development: a receiver that does not resolve yet may still be saved
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise ValidationError(f"{parts.hostname} does not resolve.") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            if not address.is_global:
                raise ValidationError(
                    f"{parts.hostname} points at {address}, a private or local address; "
                    "webhooks must go to the public internet.")
    return addresses


# --- Sending ------------------------------------------------------------------------------------

class _Pinned(http.client.HTTPConnection):
    """HTTP to one address that was checked, whatever the name resolves to now."""

    def __init__(self, address, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.address = str(address)

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    """HTTPS to one checked address; the certificate must still name the host in the URL."""

    def __init__(self, address, *args, **kwargs):
        super().__init__(*args, context=ssl.create_default_context(), **kwargs)
        self.address = str(address)

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _send(url, addresses, body, headers):
    """POST to the first of `addresses` that takes the connection; returns the status code.
    Redirects are not followed: a receiver cannot send Lockbox somewhere unchecked."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    kind = _PinnedTLS if parts.scheme == "https" else _Pinned
    problem = None
    for address in addresses:
        connection = kind(address, parts.hostname, parts.port, timeout=TIMEOUT_SECONDS)
        try:
            connection.connect()
        except OSError as refused:
            problem = refused
            connection.close()
            continue
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            response.read(64 * 1024)  # the body is not used; read a little so the peer can end
            return response.status
        finally:
            connection.close()
    raise OSError(problem or "no address to connect to")


def post(message):
    """POST one delivery; returns the status code, or raises DeliveryFailed."""
    from approvals.notifications.outbox import DeliveryFailed

    endpoint = message.endpoint
    if endpoint is None or not endpoint.is_active:
        raise DeliveryFailed("The webhook was disabled or deleted.", permanent=True)
    try:
        addresses = check_url(endpoint.url, delivering=True)
    except ValidationError as refused:
        raise DeliveryFailed(refused.messages[0], permanent=True) from None
    body = body_bytes(message.payload)
    timestamp = int(clock.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Lockbox-Webhooks/1",
        "Lockbox-Event": message.kind,
        "Lockbox-Delivery": message.key,
        "Lockbox-Signature": sign(endpoint.secret, timestamp, body),
    }
    try:
        code = _send(endpoint.url, addresses, body, headers)
    except (OSError, http.client.HTTPException) as problem:
        raise DeliveryFailed(f"Could not reach the receiver: {problem}.") from None
    if not 200 <= code < 300:
        raise DeliveryFailed(f"The receiver answered HTTP {code}.", status_code=code)
    return code


# --- Managing endpoints (tenant admins) ---------------------------------------------------------

def create_endpoint(*, tenant, actor, url, event_types, now=None):
    """Returns the endpoint; its secret is shown to the admin once, never written to the log."""
    from approvals.tenants import _require_admin

    _require_admin(actor, tenant)
    url = (url or "").strip()
    try:
        check_url(url)
    except ValidationError as invalid:
        raise ValidationError({"url": invalid.messages}) from None
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if not event_types or unknown:
        raise ValidationError({"event_types": "Choose at least one of the listed events."})
    now = now or clock.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            tenant=tenant, url=url, secret=secrets.token_hex(32), event_types=list(event_types),
            created_at=now)
        record_event(chain=tenant.audit_chain, action="webhook.created", actor=actor, now=now,
                     data={"webhook_id": endpoint.pk, "url": url, "events": list(event_types)})
    return endpoint


def set_active(*, endpoint, actor, active, now=None):
    from approvals.tenants import _require_admin

    _require_admin(actor, endpoint.tenant)
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.is_active == active:
            return locked
        locked.is_active = active
        locked.disabled_reason = "" if active else f"Switched off by {actor.email}."
        locked.consecutive_failures = 0
        locked.save(update_fields=["is_active", "disabled_reason", "consecutive_failures"])
        record_event(chain=locked.tenant.audit_chain, actor=actor, now=now,
                     action="webhook.enabled" if active else "webhook.disabled",
                     data={"webhook_id": locked.pk, "url": locked.url})
    return locked


def delete_endpoint(*, endpoint, actor, now=None):
    from approvals.tenants import _require_admin

    _require_admin(actor, endpoint.tenant)
    with transaction.atomic():
        record_event(chain=endpoint.tenant.audit_chain, action="webhook.deleted", actor=actor,
                     now=now, data={"webhook_id": endpoint.pk, "url": endpoint.url})
        endpoint.delete()


def send_test(*, endpoint, actor, now=None):
    """Queue a `webhook.test` delivery that goes through the same outbox as real events."""
    from approvals.notifications.outbox import _queue

    now = now or clock.now()
    key = f"test:{endpoint.pk}:{int(now.timestamp() * 1000)}"
    payload = {"id": key, "type": "webhook.test", "created_at": format_time(now),
               "tenant": endpoint.tenant.slug, "actor": actor.email,
               "message": "This is a test event from Lockbox."}
    with transaction.atomic():
        _queue([OutboxMessage(key=key, channel=Channel.WEBHOOK, kind="webhook.test",
                              recipient=endpoint.url, tenant=endpoint.tenant, endpoint=endpoint,
                              payload=payload, created_at=now, next_attempt_at=now)])
    return key


def disable_after_failures(endpoint, last_error):
    """Called with the endpoint row locked: switch it off and tell the tenant's admins."""
    from approvals.models import TenantMembership, TenantRole
    from approvals.notifications.outbox import tenant_email

    endpoint.is_active = False
    endpoint.disabled_reason = (f"Switched off after {endpoint.consecutive_failures} failed "
                                f"deliveries in a row. Last error: {last_error}")[:300]
    endpoint.save(update_fields=["is_active", "disabled_reason"])
    now = clock.now()
    record_event(chain=endpoint.tenant.audit_chain, action="webhook.disabled", now=now,
                 data={"webhook_id": endpoint.pk, "url": endpoint.url,
                       "reason": endpoint.disabled_reason})
    admins = TenantMembership.objects.filter(tenant=endpoint.tenant, role=TenantRole.ADMIN,
                                             user__is_active=True).select_related("user")
    addresses = {m.user.email: m.user for m in admins}
    for address in endpoint.tenant.notification_emails:
        addresses.setdefault(address, None)
    for address, user in addresses.items():
        tenant_email(kind="webhook_disabled", address=address, user=user, tenant=endpoint.tenant,
                     key=f"webhook-disabled:{endpoint.pk}:{int(now.timestamp())}:{address}",
                     payload={"webhook_id": endpoint.pk, "url": endpoint.url,
                              "reason": endpoint.disabled_reason}, now=now)
