"""The audit chains whose owner exists: every tenant's, from the moment it is created.

The audit asks for them through LOCKBOX_AUDIT_CHAIN_OWNERS (audit.owners), so that the audit
app never imports this one.
"""

from __future__ import annotations

from approvals.models import Tenant
from audit.encoding import tenant_chain


def tenant_chains() -> set[str]:
    return {tenant_chain(slug) for slug in Tenant.objects.values_list("slug", flat=True)}
