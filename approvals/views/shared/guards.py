"""The one way a portal view finds its tenant: from the URL, for a member of it."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from approvals import selectors, sso
from approvals.models import ProviderMembership, ProviderRole, TenantRole
from lockbox_portal import clock
from lockbox_portal.logs import context as log_context

View = Callable[..., Any]

ROLE_NAMES = {r.value: r.label for r in TenantRole}


def signed_in_through(request: Any, provider_id: str) -> bool:
    """Whether this session's sign-in went through that single sign-on provider."""
    return sso.signed_in_through(request.session.get("account_authentication_methods"),
                                 provider_id)


def tenant_page(*roles: str) -> Callable[[View], View]:
    """Give the view the tenant named in the URL and the user's roles in it.

    Not a member: 404, so nobody learns which tenants exist. A member without any of `roles`:
    403, with the roles that would allow it.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: Any, slug: str, *args: Any, **kwargs: Any) -> Any:
            tenant, held = selectors.get_tenant_for_user(request.user, slug, clock.now())
            log_context.bind(tenant=tenant.slug)
            required_by = getattr(tenant, "sso_required_by", None)  # the selector's annotation
            if required_by and not signed_in_through(request, required_by):
                raise PermissionDenied(f"{tenant.name} requires single sign-on: sign out, then "
                                       "sign in with your organisation's single sign-on.")
            if roles and not held & set(roles):
                needed = " or ".join(ROLE_NAMES[r].lower() for r in roles)
                raise PermissionDenied(f"This page is for a {needed} of {tenant.name}.")
            request.tenant, request.tenant_roles = tenant, held
            return view(request, tenant, *args, **kwargs)

        return wrapper

    return decorate


PROVIDER_ROLE_NAMES = {r.value: r.label for r in ProviderRole}


def provider_page(*roles: str) -> Callable[[View], View]:
    """For the provider's staff only. Someone with no provider role gets a 404, so the internal
    site reveals nothing to customer accounts; staff without any of `roles` get a 403."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
            held = set(ProviderMembership.objects.filter(user=request.user)
                       .values_list("role", flat=True))
            if not held or not request.user.is_active:
                raise Http404("No such page.")
            if roles and not held & set(roles):
                needed = " or ".join(PROVIDER_ROLE_NAMES[r].lower() for r in roles)
                raise PermissionDenied(f"This page is for a {needed}.")
            request.provider_roles = held
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
