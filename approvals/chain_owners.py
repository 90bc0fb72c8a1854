"""The audit chains whose owner exists: every tenant's, from the moment it is created.

The audit asks for them through LOCKBOX_AUDIT_CHAIN_OWNERS (audit.owners), and for their
retention through LOCKBOX_AUDIT_RETENTION (audit.archives), so that the audit app never imports
this one.
"""

from __future__ import annotations

from datetime import timedelta

from approvals.models import Tenant
from audit.archives import Retention
from audit.encoding import tenant_chain

# A year of retention, as the archiver counts it (leap days fall on the side of keeping).
YEAR = timedelta(days=366)


def tenant_chains() -> set[str]:
    return {tenant_chain(slug) for slug in Tenant.objects.values_list("slug", flat=True)}


def retention_policies() -> list[Retention]:
    """Every tenant's chain with its retention and legal hold (the tenant's or the provider's)."""
    return [Retention(tenant_chain(slug), years * YEAR, hold or provider_hold)
            for slug, years, hold, provider_hold in Tenant.objects.order_by("slug").values_list(
                "slug", "audit_retention_years", "legal_hold", "provider_legal_hold")]
