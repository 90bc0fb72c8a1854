"""Every e-mail Lockbox sends: one function per message, templates in templates/emails/.

Messages are queued in the outbox (approvals.notifications.outbox) with the change they tell
about, and rendered here when a worker delivers them. Each carries a Message-ID derived from its
outbox key, so a retried delivery is recognisably the same message.

What people typed (a justification, a resource, a comment, a tenant's name) is escaped once, at
the one place that writes HTML: the subject and the text part are plain text, rendered without
any escaping, and the HTML part escapes that finished text (templates/emails/_layout.html).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from typing import Any

from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import Context, Engine
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from approvals.actions import Action
from approvals.models import AccessRequest, ProviderMembership, Tenant, TenantRole
from approvals.notifications.models import OutboxMessage
from approvals.policy import format_duration
from audit.models import AuditEvent

# What a message's templates are rendered with.
EmailContext = dict[str, Any]


def portal_url(path: str) -> str:
    return settings.LOCKBOX_PORTAL_URL + path


def internal_url(path: str) -> str:
    return settings.LOCKBOX_INTERNAL_URL + path


def request_link(req: AccessRequest, audience: str) -> str:
    if audience == "customer":
        return portal_url(reverse("portal:request", args=[req.tenant.slug, req.pk]))
    return internal_url(f"/internal/requests/{req.pk}/")


def send_outbox_email(message: OutboxMessage) -> None:
    """Render and send one outbox row of the e-mail channel."""
    builder = BUILDERS[message.kind]
    context = builder(message)
    _send(message.kind, message.recipient, context, message_id=_message_id(message.key))


# --- One function per message -------------------------------------------------------------------

def _request_of(message: OutboxMessage) -> AccessRequest:
    """The request an e-mail of a request kind is about; its row always names one."""
    if message.request is None:
        raise ValueError(f"The outbox message {message.key} names no request.")
    return message.request


def _tenant_of(message: OutboxMessage) -> Tenant:
    """The tenant an e-mail of a tenant kind is about; its row always names one."""
    if message.tenant is None:
        raise ValueError(f"The outbox message {message.key} names no tenant.")
    return message.tenant


def _request_context(message: OutboxMessage) -> EmailContext:
    req = _request_of(message)
    audience = message.payload.get("audience", "customer")
    return {
        "req": req,
        "tenant": req.tenant,
        "audience": audience,
        "link": request_link(req, audience),
        "duration": format_duration(req.requested_duration),
        "actor": message.payload.get("actor") or "Lockbox",
        "comment": message.payload.get("comment", ""),
        "recipient": message.recipient,
        "for_requester": message.user_id == req.requester_id,
    }


def awaiting(message: OutboxMessage) -> EmailContext:
    """A request waits for the recipient: a provider manager, or the customer's approvers."""
    context = _request_context(message)
    req = context["req"]
    context["expires_at"] = (req.internal_expires_at if message.kind == "awaiting_internal"
                             else req.customer_expires_at)
    return context


def reminder(message: OutboxMessage) -> EmailContext:
    context = _request_context(message)
    context["expires_at"] = parse_datetime(message.payload["expires_at"])
    return context


def decided(message: OutboxMessage) -> EmailContext:
    context = _request_context(message)
    context["approved"] = message.payload["action"] == Action.REQUEST_APPROVED
    context["skipped"] = bool(context["req"].customer_step_skipped)
    return context


def access_started(message: OutboxMessage) -> EmailContext:
    return _request_context(message)


def access_ended(message: OutboxMessage) -> EmailContext:
    context = _request_context(message)
    context["given_back"] = message.payload["action"] == Action.REQUEST_RELEASED
    return context


def revoked(message: OutboxMessage) -> EmailContext:
    return _request_context(message)


def expired(message: OutboxMessage) -> EmailContext:
    return _request_context(message)


def invitation(message: OutboxMessage) -> EmailContext:
    """A one-time link to choose a password for a new account, a notice of new roles for an
    existing one, or, for provider staff, that nothing was granted (tenants.invite_member). The
    link is made when the e-mail is sent, so the outbox never stores it."""
    tenant = _tenant_of(message)
    user = message.user
    payload = message.payload
    # Rows queued before "account" existed say new_account instead.
    account = payload.get("account") or ("new" if payload.get("new_account") else "existing")
    if account == "new":
        key = default_token_generator.make_token(user)
        link = portal_url(reverse("account_reset_password_from_key",
                                  kwargs={"uidb36": user_pk_to_url_str(user), "key": key}))
    elif account == "existing":
        link = portal_url(reverse("portal:tenant_dashboard", args=[tenant.slug]))
    else:
        link = ""
    return {
        "tenant": tenant, "inviter": payload["inviter"], "link": link, "account": account,
        "roles": [TenantRole(r).label.lower() for r in payload["roles"]],
        "days": settings.PASSWORD_RESET_TIMEOUT // 86400,
    }


def webhook_disabled(message: OutboxMessage) -> EmailContext:
    tenant = _tenant_of(message)
    return {
        "tenant": tenant, "url": message.payload["url"], "reason": message.payload["reason"],
        "link": portal_url(reverse("portal:webhook", args=[tenant.slug,
                                                          message.payload["webhook_id"]])),
    }


def out_of_scope(message: OutboxMessage) -> EmailContext:
    """Actions the data plane reported that no grant covered."""
    tenant = _tenant_of(message)
    events = list(AuditEvent.objects.filter(chain=tenant.audit_chain,
                                            seq__in=message.payload["seqs"]).order_by("seq"))
    provider = message.user_id is not None and ProviderMembership.objects.filter(
        user_id=message.user_id).exists()
    if provider:
        link = internal_url(f"/internal/audit/?chain={tenant.audit_chain}"
                            f"&action={Action.ACTIVITY_OUT_OF_SCOPE.value}")
    else:
        link = portal_url(reverse("portal:audit", args=[tenant.slug])
                          + f"?action={Action.ACTIVITY_OUT_OF_SCOPE.value}")
    return {"tenant": tenant, "events": events, "count": message.payload["count"],
            "link": link}


def attestation_disputed(message: OutboxMessage) -> EmailContext:
    req = AccessRequest.objects.select_related("tenant", "requester", "attestation").get(
        pk=message.payload["request_id"])
    return {"req": req, "tenant": req.tenant, "attestation": req.attestation,
            "link": internal_url(f"/internal/requests/{req.pk}/")}


BUILDERS: dict[str, Callable[[OutboxMessage], EmailContext]] = {
    "awaiting_internal": awaiting,
    "awaiting_customer": awaiting,
    "reminder": reminder,
    "decided": decided,
    "access_started": access_started,
    "access_ended": access_ended,
    "revoked": revoked,
    "expired": expired,
    "invitation": invitation,
    "webhook_disabled": webhook_disabled,
    "out_of_scope": out_of_scope,
    "attestation_disputed": attestation_disputed,
}


def _message_id(key: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@lockbox>"


@cache
def _plain_text_engine() -> Engine:
    return Engine(dirs=[str(settings.BASE_DIR / "templates")], autoescape=False)


def _plain_text(template: str, context: EmailContext) -> str:
    """A subject or text part: plain text, so nothing in it is HTML-escaped."""
    rendered = _plain_text_engine().get_template(f"emails/{template}").render(
        Context(context, autoescape=False))
    # Rendering marks the result safe for HTML; it is not HTML, so drop the mark: the HTML part
    # must escape it (an unmarked str is what Django's autoescape and urlize escape).
    return str.__str__(rendered)


def _send(template: str, to: str, context: EmailContext, *, message_id: str) -> None:
    # One line: a newline typed into a tenant's name must not start a new header.
    subject = " ".join(_plain_text(f"{template}_subject.txt", context).split())
    text = _plain_text(f"{template}.txt", context)
    html = render_to_string("emails/_layout.html", {"text": text, "subject": subject,
                                                   "link": context.get("link")})
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [to],
                                     headers={"Message-ID": message_id})
    message.attach_alternative(html, "text/html")
    message.send()
