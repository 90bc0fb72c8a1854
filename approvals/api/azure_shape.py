"""How a Lockbox request reads through Azure's Customer Lockbox API (LockboxRequestResponse of
Microsoft.CustomerLockbox 2018-02-28-preview), and how Azure's status filter reads in SQL."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q

from approvals import policy
from approvals.models import AccessRequest, State
from approvals.selectors import shown_as
from audit.encoding import format_time

# Azure's LockboxRequestStatus, in the spec's order. Lockbox shows six of them; the others
# (Initializing, Approving, ...) are steps Lockbox never rests in, so filtering on them finds
# nothing rather than failing.
STATUSES = ("Initializing", "Pending", "Approving", "Denying", "Approved", "Denied", "Expired",
            "Revoking", "Revoked", "Error", "Unknown", "Completed", "Completing")
STATUS = {State.PENDING_CUSTOMER: "Pending", State.APPROVED: "Approved",
          State.DENIED: "Denied", State.EXPIRED: "Expired", State.CANCELLED: "Expired",
          State.REVOKED: "Revoked", State.COMPLETED: "Completed"}


def status_q(status: str, now: datetime) -> Q:
    """The rows whose status (as `lockbox_request` shows it at `now`) is `status`: the same
    read-time rule as policy.effective_state, so a lapsed window is Expired and an ended time
    box Completed before any sweep has recorded it. (The rows are the customer's: none is
    pending internally.)"""
    states = [state for state, name in STATUS.items() if name == status]
    found = Q(pk__in=[])
    for state in states:
        found |= shown_as(state, now)
    return found


def duration_hours(delta: timedelta) -> str:
    """Azure's `duration` is text counting hours ("8" in its examples). A part of an hour is
    a decimal ("0.5" for 30 minutes, "1.25"), never rounded to a whole hour; a length that is
    no finite decimal of hours (20 minutes) is rounded to four places, within 0.2 seconds."""
    hours = (Decimal(int(delta.total_seconds())) / 3600).quantize(Decimal("0.0001"))
    return format(hours.normalize(), "f")


def resource_type(identifier: str) -> str:
    """The kind of resource an identifier names. An Azure resource id gives its ARM type
    (".../providers/Microsoft.Compute/virtualMachines/vm1" is "Microsoft.Compute/virtualMachines");
    Lockbox's own identifiers name the workload and its kind first ("exchange/mailbox/ann@..."
    is "exchange/mailbox", "sharepoint/sites/finance/*" is "sharepoint/sites")."""
    parts = [part for part in identifier.split("/") if part and part != "*"]
    lowered = [part.lower() for part in parts]
    if "providers" in lowered:
        at = len(lowered) - 1 - lowered[::-1].index("providers")
        namespace, rest = parts[at + 1:at + 2], parts[at + 2:]
        if namespace:
            return "/".join(namespace + rest[0::2])
    if lowered[:1] == ["subscriptions"]:
        kind = "resourceGroups" if lowered[2:3] == ["resourcegroups"] else "subscriptions"
        return f"Microsoft.Resources/{kind}"
    return "/".join(parts[:2])


def resource_types(scope: Iterable[str]) -> str:
    """Every kind of resource the request names, once each, separated by ',' as resourceIds."""
    kinds: list[str] = []
    for identifier in scope:
        kind = resource_type(identifier)
        if kind and kind not in kinds:
            kinds.append(kind)
    return ",".join(kinds)


def lockbox_request(req: AccessRequest, now: datetime) -> dict[str, Any]:
    rid = str(req.pk)
    return {
        "id": f"/subscriptions/{req.tenant.slug}/providers/Microsoft.CustomerLockbox/"
              f"requests/{rid}",
        "name": rid,
        "type": "requests",
        "properties": {
            "requestId": rid,
            "justification": req.justification,
            "status": STATUS[policy.effective_state(req, now)],
            "createdDateTime": format_time(req.internal_decided_at or req.created_at),
            "expirationDateTime": format_time(req.customer_expires_at
                                              or req.internal_expires_at),
            "duration": duration_hours(req.requested_duration),
            "resourceIds": ",".join(req.scope),
            "resourceType": resource_types(req.scope),
            "supportRequest": req.case_reference,
            "workitemsource": req.get_reason_type_display(),
            "subscriptionId": req.tenant.slug,
            "accessLevel": req.access_level,
        },
    }
