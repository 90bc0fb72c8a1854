"""Account security events, written to every audit chain the person belongs to.

A tenant's compliance reader sees when one of its approvers set up or replaced a second factor;
the provider's chain records the same for provider staff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from approvals.models import ProviderMembership, Tenant
from audit.encoding import PROVIDER_CHAIN
from audit.services import record_event

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def record_account_event(user: User, action: str,
                         data: dict[str, Any] | None = None) -> None:
    chains = [t.audit_chain for t in Tenant.objects.filter(memberships__user=user).distinct()]
    if ProviderMembership.objects.filter(user=user).exists():
        chains.append(PROVIDER_CHAIN)
    with transaction.atomic():
        for chain in chains:
            record_event(chain=chain, action=action, actor=user, data=data or {})
