"""Internal notes on a request: for the provider's staff, written to the provider's chain."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from approvals import roles
from approvals.actions import Action
from approvals.errors import NotPermitted
from approvals.models import AccessRequest, RequestNote
from audit.encoding import PROVIDER_CHAIN
from audit.services import record_event
from lockbox_portal import clock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_NOTE = 4000


def add_note(*, access_request: AccessRequest, author: User, body: str | None,
             now: datetime | None = None) -> RequestNote:
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "Write the note first."})
    if len(body) > MAX_NOTE:
        raise ValidationError({"body": f"Use at most {MAX_NOTE} characters."})
    if not (author.pk == access_request.requester_id or roles.is_internal_approver(author)
            or roles.is_provider_auditor(author)):
        raise NotPermitted("Only the requester, internal approvers and auditors add notes.")
    now = now or clock.now()
    with transaction.atomic():
        note = RequestNote.objects.create(request=access_request, author=author, body=body,
                                          created_at=now)
        record_event(chain=PROVIDER_CHAIN, action=Action.REQUEST_NOTE_ADDED, actor=author,
                     request_id=access_request.pk, now=now,
                     data={"tenant": access_request.tenant.slug, "note": body})
    return note
