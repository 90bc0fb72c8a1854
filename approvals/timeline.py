"""A request's story, in sentences a person can read, from its audit events."""

from django.utils.dateparse import parse_datetime

from approvals.models import AccessLevel
from approvals.policy import SKIP_LOCKBOX_DISABLED, format_duration
from audit.models import AuditEvent

SKIP_REASONS = {
    SKIP_LOCKBOX_DISABLED: "Lockbox was switched off for the tenant",
    "no_customer_content": "the access touches no customer content",
}


def events_for_request(tenant, request_id):
    return AuditEvent.objects.filter(chain=tenant.audit_chain, request_id=request_id).order_by(
        "seq")


def describe(event):
    """The sentence for one event; `who` is the person, or "Lockbox" for the system."""
    d = event.data
    who = event.actor_email or "Lockbox"
    action = event.action
    if action == "request.submitted":
        level = AccessLevel(d["access_level"]).label.lower()
        hours = format_duration(_seconds(d["requested_seconds"]))
        return f"{who} asked for {level} access to {len(d['scope'])} resource(s) for {hours}."
    if action == "request.internal_approved":
        return (f"{who} approved for the provider. Waiting for {d['required_approvals']} "
                "customer approval(s).")
    if action == "request.internal_rejected":
        return f"{who} rejected the request for the provider."
    if action == "request.customer_approved":
        return f"{who} approved ({d['approvals']} of {d['required_approvals']})."
    if action == "request.approved":
        window = f"Access from {_hm(d['access_starts_at'])} until {_hm(d['access_ends_at'])}."
        if d.get("customer_step_skipped"):
            reason = SKIP_REASONS.get(d["customer_step_skipped"], d["customer_step_skipped"])
            return (f"{who} approved for the provider; no customer approval was needed because "
                    f"{reason}. {window}")
        return f"{who} approved ({d['approvals']} of {d['required_approvals']}). {window}"
    if action == "request.customer_rejected":
        return f"{who} rejected the request."
    if action == "request.cancelled":
        return f"{who} cancelled the request."
    if action == "request.expired":
        return "Nobody decided in time, so the request expired."
    if action == "request.revoked":
        side = "the customer" if d.get("side") == "customer" else "the provider"
        return f"{who} revoked the access for {side}."
    if action == "request.released":
        return f"{who} gave the access back early."
    if action == "request.completed":
        return "The access time ran out."
    if action in ("activity.recorded", "activity.out_of_scope"):
        engineer = d.get("engineer") or who
        level = "" if d.get("access_level") == "read_only" else " (write)"
        sentence = f"{engineer}: {d['operation']} {d['resource']}{level}, {d['outcome']}."
        if action == "activity.out_of_scope":
            return f"OUTSIDE THE GRANT: {sentence} {d.get('problem', '')}".strip()
        return sentence
    return f"{who}: {action}"


def _seconds(value):
    from datetime import timedelta

    return timedelta(seconds=value)


def _hm(iso):
    moment = parse_datetime(iso)
    return moment.strftime("%d %b %H:%M UTC") if moment else iso
