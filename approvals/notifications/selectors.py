"""What pages show about notifications: who was asked to decide, and whether it reached them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from approvals import policy
from approvals.models import Decision, DecisionLevel, State
from approvals.notifications.models import Channel, OutboxMessage, Status
from approvals.notifications.recipients import customer_approvers, managers

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from approvals.models import AccessRequest

# The e-mails that ask someone to decide.
ASKING_KINDS = ("awaiting_internal", "awaiting_customer", "reminder")


def who_is_asked(req: AccessRequest, now: datetime) -> list[tuple[User, str, object]]:
    """The people who can decide `req` right now, each with the state of their notification:
    [(user, status, detail)], status one of "sent", "queued", "failed", "not told"; detail is
    when it was sent, or the last error."""
    if not policy.window_open(policy.pending_expires_at(req), now):
        return []  # decided, ended, or its window has lapsed: nobody is asked any more
    if req.state == State.PENDING_INTERNAL:
        people = managers(req)
    else:
        decided = set(Decision.objects.filter(request=req, level=DecisionLevel.CUSTOMER)
                      .values_list("actor_id", flat=True))
        people = [u for u in customer_approvers(req) if u.pk not in decided]
    latest: dict[str, OutboxMessage] = {}
    for message in (OutboxMessage.objects.filter(
            request=req, channel=Channel.EMAIL, kind__in=ASKING_KINDS)
            .order_by("created_at", "id")):
        latest[message.recipient.lower()] = message
    answer: list[tuple[User, str, object]] = []
    for person in people:
        told = latest.get(person.email.lower())
        if told is None:
            answer.append((person, "not told", ""))
        elif told.status == Status.SENT:
            answer.append((person, "sent", told.sent_at))
        elif told.status == Status.FAILED:
            answer.append((person, "failed", told.last_error))
        else:
            answer.append((person, "queued", told.last_error))
    return answer
