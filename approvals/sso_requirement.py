"""Ending a tenant's "require single sign-on" without an admin: kept apart from approvals.sso
so that approvals.domains (which sso uses) can call it when the last verified domain goes."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from approvals.actions import Action
from approvals.models import SsoConnection, Tenant
from audit.services import record_event
from lockbox_portal import clock


def release_requirement(*, tenant: Tenant, reason: str, now: datetime | None = None) -> bool:
    """Stop requiring single sign-on without an admin: the way back in when no one can sign in
    through the provider any more (its last verified domain lapsed or was removed, or the
    provider's operators run `manage.py sso_release`). Inside the caller's transaction when
    there is one. True when it was required."""
    now = now or clock.now()
    with transaction.atomic():
        locked = (SsoConnection.objects.select_for_update().select_related("tenant")
                  .filter(tenant=tenant, required=True).first())
        if locked is None:
            return False
        locked.required = False
        locked.save(update_fields=["required"])
        record_event(chain=locked.tenant.audit_chain, action=Action.SSO_NOT_REQUIRED, now=now,
                     data={"issuer": locked.issuer, "reason": reason})
    return True
