"""A request's story, in sentences a person can read, from its audit events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from approvals.actions import ACTIVITY, Action
from approvals.models import AccessLevel, Tenant
from approvals.policy import SKIP_LOCKBOX_DISABLED, SKIP_NO_CUSTOMER_CONTENT, format_duration
from audit.models import AuditEvent

SKIP_REASONS = {
    SKIP_LOCKBOX_DISABLED: "Lockbox was switched off for the tenant",
    SKIP_NO_CUSTOMER_CONTENT: "the access touches no customer content",
}


def events_for_request(tenant: Tenant, request_id: Any) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(chain=tenant.audit_chain, request_id=request_id).order_by(
        "seq")


def describe(event: AuditEvent) -> str:
    """The sentence for one event; `who` is the person, or "Lockbox" for the system."""
    d = event.data
    who = event.actor_email or "Lockbox"
    action = event.action
    if action == Action.REQUEST_SUBMITTED:
        level = AccessLevel(d["access_level"]).label.lower()
        hours = format_duration(timedelta(seconds=d["requested_seconds"]))
        return f"{who} asked for {level} access to {len(d['scope'])} resource(s) for {hours}."
    if action == Action.REQUEST_INTERNAL_APPROVED:
        return (f"{who} approved for the provider. Waiting for {d['required_approvals']} "
                "customer approval(s).")
    if action == Action.REQUEST_INTERNAL_REJECTED:
        return f"{who} rejected the request for the provider."
    if action == Action.REQUEST_CUSTOMER_APPROVED:
        return f"{who} approved ({d['approvals']} of {d['required_approvals']})."
    if action == Action.REQUEST_APPROVED:
        window = f"Access from {_hm(d['access_starts_at'])} until {_hm(d['access_ends_at'])}."
        if d.get("customer_step_skipped"):
            reason = SKIP_REASONS.get(d["customer_step_skipped"], d["customer_step_skipped"])
            return (f"{who} approved for the provider; no customer approval was needed because "
                    f"{reason}. {window}")
        return f"{who} approved ({d['approvals']} of {d['required_approvals']}). {window}"
    if action == Action.REQUEST_CUSTOMER_REJECTED:
        return f"{who} rejected the request."
    if action == Action.REQUEST_CANCELLED:
        return f"{who} cancelled the request."
    if action == Action.REQUEST_EXPIRED:
        return "Nobody decided in time, so the request expired."
    if action == Action.REQUEST_REVOKED:
        side = "the customer" if d.get("side") == "customer" else "the provider"
        return f"{who} revoked the access for {side}."
    if action == Action.REQUEST_RELEASED:
        return f"{who} gave the access back early."
    if action == Action.REQUEST_COMPLETED:
        return "The access time ran out."
    if action in ACTIVITY:
        engineer = d.get("engineer") or who
        level = "" if d.get("access_level") == AccessLevel.READ_ONLY else " (write)"
        sentence = f"{engineer}: {d['operation']} {d['resource']}{level}, {d['outcome']}."
        if action == Action.ACTIVITY_OUT_OF_SCOPE:
            return f"OUTSIDE THE GRANT: {sentence} {d.get('problem', '')}".strip()
        return sentence
    return f"{who}: {action}"


def _hm(iso: str) -> str:
    moment = parse_datetime(iso)
    return moment.strftime("%d %b %H:%M UTC") if moment else iso
