"""Close-out attestations: after access ends, the engineer says what was done; the customer
acknowledges or disputes it; a dispute goes to the provider's auditors until resolved."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from approvals import policy, roles, selectors
from approvals.actions import Action
from approvals.errors import IllegalTransition, NotPermitted
from approvals.models import (
    AccessRequest,
    Attestation,
    AttestationStatus,
    ProviderRole,
    Tenant,
    TenantRole,
)
from approvals.notifications.outbox import tenant_email
from audit.services import record_event
from lockbox_portal import clock

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_TEXT = 4000


def _text(value: str | None, field: str, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError({field: "Write something first."})
    if len(value) > MAX_TEXT:
        raise ValidationError({field: f"Use at most {MAX_TEXT} characters."})
    return value


def file(*, access_request: AccessRequest | Any, actor: User, summary: str,
         now: datetime | None = None) -> Attestation:
    now = now or clock.now()
    summary = _text(summary, "summary")
    with transaction.atomic():
        req = AccessRequest.objects.select_for_update().select_related("tenant").get(
            pk=access_request.pk if isinstance(access_request, AccessRequest)
            else access_request)
        if actor.pk != req.requester_id:
            raise NotPermitted("Only the engineer who had the access files its summary.")
        if not policy.summary_due(req, now):
            raise IllegalTransition("Access has not ended yet; file the summary once it has.")
        if Attestation.objects.filter(request=req).exists():
            raise IllegalTransition("A summary was already filed for this request.")
        attestation = Attestation.objects.create(request=req, summary=summary, filed_by=actor,
                                                 filed_at=now)
        record_event(chain=req.tenant.audit_chain, action=Action.ATTESTATION_FILED, actor=actor,
                     request_id=req.pk, now=now, data={"summary": summary})
    return attestation


def answer(*, attestation: Attestation, actor: User, acknowledge: bool,
           comment: str = "", now: datetime | None = None) -> Attestation:
    now = now or clock.now()
    comment = _text(comment, "comment", required=not acknowledge)
    with transaction.atomic():
        locked = Attestation.objects.select_for_update().select_related(
            "request__tenant").get(pk=attestation.pk)
        tenant = locked.request.tenant
        if not roles.has_tenant_role(actor, tenant, TenantRole.APPROVER, TenantRole.ADMIN):
            raise NotPermitted(f"Only {tenant.name}'s approvers and admins answer summaries.")
        if locked.status != AttestationStatus.FILED:
            raise IllegalTransition("This summary was already answered.")
        locked.status = (AttestationStatus.ACKNOWLEDGED if acknowledge
                         else AttestationStatus.DISPUTED)
        locked.answered_by, locked.answered_at, locked.answer = actor, now, comment
        locked.save()
        record_event(chain=tenant.audit_chain, actor=actor, request_id=locked.request_id,
                     action=(Action.ATTESTATION_ACKNOWLEDGED if acknowledge
                             else Action.ATTESTATION_DISPUTED),
                     now=now, data={"comment": comment})
        if not acknowledge:
            _tell_auditors(locked, now)
    return locked


def resolve(*, attestation: Attestation, actor: User, resolution: str,
            now: datetime | None = None) -> Attestation:
    now = now or clock.now()
    resolution = _text(resolution, "resolution")
    with transaction.atomic():
        locked = Attestation.objects.select_for_update().select_related(
            "request__tenant").get(pk=attestation.pk)
        if not roles.is_provider_auditor(actor):
            raise NotPermitted("Only provider auditors resolve disputes.")
        if locked.status != AttestationStatus.DISPUTED:
            raise IllegalTransition("Only a disputed summary can be resolved.")
        locked.status = AttestationStatus.RESOLVED
        locked.resolved_by, locked.resolved_at, locked.resolution = actor, now, resolution
        locked.save()
        record_event(chain=locked.request.tenant.audit_chain, action=Action.ATTESTATION_RESOLVED,
                     actor=actor, request_id=locked.request_id, now=now,
                     data={"resolution": resolution})
    return locked


def _tell_auditors(attestation: Attestation, now: datetime) -> None:
    auditors = get_user_model().objects.filter(
        provider_memberships__role=ProviderRole.AUDITOR, is_active=True).distinct()
    for auditor in auditors:
        tenant_email(kind="attestation_disputed", user=auditor, address=auditor.email,
                     tenant=attestation.request.tenant, now=now,
                     key=f"dispute:{attestation.pk}:{auditor.email}",
                     payload={"request_id": str(attestation.request_id)})


def awaiting(tenant: Tenant | None = None, engineer: User | None = None,
             now: datetime | None = None) -> dict[str, QuerySet[AccessRequest]]:
    """Ended grants with no summary, summaries waiting for the customer, open disputes."""
    now = now or clock.now()
    ended = AccessRequest.objects.filter(selectors.summary_due(now)).select_related(
        "tenant", "requester")
    if tenant is not None:
        ended = ended.filter(tenant=tenant)
    if engineer is not None:
        ended = ended.filter(requester=engineer)
    return {
        "no_summary": ended.filter(attestation__isnull=True).order_by("-closed_at"),
        "to_answer": ended.filter(attestation__status=AttestationStatus.FILED)
        .order_by("attestation__filed_at"),
        "disputed": ended.filter(attestation__status=AttestationStatus.DISPUTED)
        .order_by("attestation__answered_at"),
    }
