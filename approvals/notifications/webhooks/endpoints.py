"""The webhooks a tenant's admins manage: add, switch on or off, delete, test; and switching one
off by itself after failing too often. Each change is written to the tenant's audit chain."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from approvals.actions import REQUEST_EVENTS, WEBHOOK_TEST, Action
from approvals.models import TenantMembership, TenantRole
from approvals.notifications import outbox
from approvals.notifications.models import Channel, OutboxMessage, WebhookEndpoint
from approvals.notifications.webhooks.addresses import check_url
from approvals.roles import require_tenant_admin
from audit.encoding import format_time
from audit.services import record_event
from lockbox_portal import clock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from approvals.models import Tenant

# The events a webhook may subscribe to, in lifecycle order.
EVENT_TYPES: list[str] = [action.value for action in REQUEST_EVENTS]
DISABLE_AFTER = 15  # consecutive failed attempts


def create_endpoint(*, tenant: Tenant, actor: User, url: str, event_types: Iterable[str],
                    now: datetime | None = None) -> WebhookEndpoint:
    """Returns the endpoint; its secret is shown to the admin once, never written to the log."""
    require_tenant_admin(actor, tenant)
    url = (url or "").strip()
    try:
        check_url(url)
    except ValidationError as invalid:
        raise ValidationError({"url": invalid.messages}) from None
    event_types = list(event_types)
    unknown = [t for t in event_types if t not in EVENT_TYPES]
    if not event_types or unknown:
        raise ValidationError({"event_types": "Choose at least one of the listed events."})
    now = now or clock.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            tenant=tenant, url=url, secret=secrets.token_hex(32), event_types=list(event_types),
            created_at=now)
        record_event(chain=tenant.audit_chain, action=Action.WEBHOOK_CREATED, actor=actor,
                     now=now,
                     data={"webhook_id": endpoint.pk, "url": url, "events": list(event_types)})
    return endpoint


def set_active(*, endpoint: WebhookEndpoint, actor: User, active: bool,
               now: datetime | None = None) -> WebhookEndpoint:
    require_tenant_admin(actor, endpoint.tenant)
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.is_active == active:
            return locked
        locked.is_active = active
        locked.disabled_reason = "" if active else f"Switched off by {actor.email}."
        locked.consecutive_failures = 0
        locked.save(update_fields=["is_active", "disabled_reason", "consecutive_failures"])
        record_event(chain=locked.tenant.audit_chain, actor=actor, now=now,
                     action=Action.WEBHOOK_ENABLED if active else Action.WEBHOOK_DISABLED,
                     data={"webhook_id": locked.pk, "url": locked.url})
    return locked


def delete_endpoint(*, endpoint: WebhookEndpoint, actor: User,
                    now: datetime | None = None) -> None:
    require_tenant_admin(actor, endpoint.tenant)
    with transaction.atomic():
        record_event(chain=endpoint.tenant.audit_chain, action=Action.WEBHOOK_DELETED,
                     actor=actor, now=now, data={"webhook_id": endpoint.pk, "url": endpoint.url})
        endpoint.delete()


def send_test(*, endpoint: WebhookEndpoint, actor: User, now: datetime | None = None) -> str:
    """Queue a `webhook.test` delivery that goes through the same outbox as real events."""
    now = now or clock.now()
    key = f"test:{endpoint.pk}:{int(now.timestamp() * 1000)}"
    payload = {"id": key, "type": WEBHOOK_TEST, "created_at": format_time(now),
               "tenant": endpoint.tenant.slug, "actor": actor.email,
               "message": "This is a test event from Lockbox."}
    with transaction.atomic():
        outbox.enqueue([OutboxMessage(
            key=key, channel=Channel.WEBHOOK, kind=WEBHOOK_TEST, recipient=endpoint.url,
            tenant=endpoint.tenant, endpoint=endpoint, payload=payload, created_at=now,
            next_attempt_at=now)])
    return key


def count_success(endpoint_id: int) -> None:
    """A delivery got through: the endpoint's run of failures is over."""
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(consecutive_failures=0)


def count_failure(endpoint_id: int, detail: str) -> None:
    """A delivery failed: after DISABLE_AFTER in a row, switch the endpoint off."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        endpoint.consecutive_failures += 1
        endpoint.save(update_fields=["consecutive_failures"])
        if endpoint.is_active and endpoint.consecutive_failures >= DISABLE_AFTER:
            disable_after_failures(endpoint, detail)


def disable_after_failures(endpoint: WebhookEndpoint, last_error: str) -> None:
    """Called with the endpoint row locked: switch it off and tell the tenant's admins."""
    endpoint.is_active = False
    endpoint.disabled_reason = (f"Switched off after {endpoint.consecutive_failures} failed "
                                f"deliveries in a row. Last error: {last_error}")[:300]
    endpoint.save(update_fields=["is_active", "disabled_reason"])
    now = clock.now()
    record_event(chain=endpoint.tenant.audit_chain, action=Action.WEBHOOK_DISABLED, now=now,
                 data={"webhook_id": endpoint.pk, "url": endpoint.url,
                       "reason": endpoint.disabled_reason})
    admins = TenantMembership.objects.filter(tenant=endpoint.tenant, role=TenantRole.ADMIN,
                                             user__is_active=True).select_related("user")
    addresses: dict[str, User | None] = {m.user.email: m.user for m in admins}
    for address in endpoint.tenant.notification_emails:
        addresses.setdefault(address, None)
    for address, user in addresses.items():
        outbox.tenant_email(
            kind="webhook_disabled", address=address, user=user, tenant=endpoint.tenant,
            key=f"webhook-disabled:{endpoint.pk}:{int(now.timestamp())}:{address}",
            payload={"webhook_id": endpoint.pk, "url": endpoint.url,
                     "reason": endpoint.disabled_reason}, now=now)
