"""Which chains must exist: asked of the app that owns them, through a setting.

The audit holds chains; it does not know what owns them, and imports no app that does. But a
tenant's chain starts when the tenant is created, so an empty chain of a tenant that exists
means its events were deleted, and verification must know the tenants to say so.
LOCKBOX_AUDIT_CHAIN_OWNERS names (as a dotted path) a function that returns the chains whose
owner exists; empty, no chain must exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.utils.module_loading import import_string

from audit.selectors import all_chains


def owned_chains() -> set[str]:
    """The chains whose owner exists (every tenant's): each must hold events."""
    if not settings.LOCKBOX_AUDIT_CHAIN_OWNERS:
        return set()
    owners: Callable[[], Iterable[str]] = import_string(settings.LOCKBOX_AUDIT_CHAIN_OWNERS)
    return set(owners())


def chains_to_verify(*, also: Iterable[str] = ()) -> list[tuple[str, bool]]:
    """(chain, must it exist) for every chain the audit knows of, every owned chain, and the
    chains named in `also` (kept checkpoints), in name order."""
    owned = owned_chains()
    named = set(all_chains()) | owned | set(also)
    return [(chain, chain in owned) for chain in sorted(named)]
