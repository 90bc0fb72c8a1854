"""Tenant webhooks: endpoints, signed payloads, delivery over HTTP.

Every delivery carries `Lockbox-Signature: t=<unix time>,v1=<hex>`, where the hex is
HMAC-SHA256 with the endpoint's secret over "<t>." followed by the exact request body. Receivers
recompute it, compare in constant time, and refuse timestamps older than a few minutes.
`Lockbox-Delivery` is the same on every retry of one delivery, so receivers can drop repeats.
"""

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from approvals.notifications.models import Channel, OutboxMessage, WebhookEndpoint
from audit.chain import format_time
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

def check_url(url):
    """Refuse anything but http(s), and (outside development) any private, loopback,
    link-local or reserved address, so a tenant cannot make Lockbox probe the provider's own
    network. Checked when saved and again before every delivery (DNS may have changed)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Use an http:// or https:// address.")
    if parts.username or parts.password:
        raise ValidationError("Leave credentials out of the address; use the signing secret.")
    if settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port)
    except (socket.gaierror, UnicodeError):
        raise ValidationError(f"{parts.hostname} does not resolve.") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise ValidationError(
                f"{parts.hostname} points at {address}, a private or local address; webhooks "
                "must go to the public internet.")


# --- Sending ------------------------------------------------------------------------------------

class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(message):
    """POST one delivery; returns the status code, or raises DeliveryFailed."""
    from approvals.notifications.outbox import DeliveryFailed

    endpoint = message.endpoint
    if endpoint is None or not endpoint.is_active:
        raise DeliveryFailed("The webhook was disabled or deleted.", permanent=True)
    try:
        check_url(endpoint.url)
    except ValidationError as refused:
        raise DeliveryFailed(refused.messages[0], permanent=True) from None
    body = body_bytes(message.payload)
    timestamp = int(clock.now().timestamp())
    # check_url has just refused every scheme but http(s).
    request = urllib.request.Request(endpoint.url, data=body, method="POST", headers={  # noqa: S310
        "Content-Type": "application/json",
        "User-Agent": "Lockbox-Webhooks/1",
        "Lockbox-Event": message.kind,
        "Lockbox-Delivery": message.key,
        "Lockbox-Signature": sign(endpoint.secret, timestamp, body),
    })
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            code = response.status
    except urllib.error.HTTPError as answer:
        raise DeliveryFailed(f"The receiver answered HTTP {answer.code}.",
                             status_code=answer.code) from None
    except (urllib.error.URLError, OSError) as problem:
        reason = getattr(problem, "reason", problem)
        raise DeliveryFailed(f"Could not reach the receiver: {reason}.") from None
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
