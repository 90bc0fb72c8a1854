"""The Django admin, as a read-only window for provider auditors behind a second factor.

There is one way in: the site's own sign-in (allauth, its rate limits, then the second factor).
The admin's login page reads no password; it only sends people there, so nobody can try
passwords against a form that no throttle watches.
"""

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from approvals.roles import is_provider_auditor
from lockbox_portal.security.mfa import is_verified
from lockbox_portal.security.redirects import safe_next


class LockboxAdminSite(AdminSite):
    enable_nav_sidebar = False  # the request list needs the width more than a second menu
    # No "View site" link: the admin is part of the internal site, and "/" is the customer
    # portal when one process serves both sites.
    site_url = None
    site_header = "Lockbox provider admin (read-only)"
    site_title = "Lockbox admin"
    index_title = "Requests, tenants and the audit log"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not (super().has_permission(request) and is_verified(user)):
            return False
        return user.is_superuser or is_provider_auditor(user)

    def login(self, request: HttpRequest,
              extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Send everyone to the site's sign-in, whatever they sent; a POST is never read.

        Someone signed in with a second factor who still lands here may not use the admin:
        sending them to sign in again would only bring them back, so they get a 403.
        """
        target = safe_next(request, default=reverse("admin:index", current_app=self.name))
        if self.has_permission(request):
            return redirect(target)
        if request.user.is_authenticated and is_verified(request.user):
            raise PermissionDenied("The admin is for the provider's auditors.")
        return redirect(f"{reverse('account_login')}?{urlencode({'next': target})}")


class ReadOnlyAdmin:
    """Nothing in the admin changes a request's state or the audit: states change only in
    approvals.transitions, and the audit only through record_event."""

    actions: Sequence[Any] | None = None

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_superuser or is_provider_auditor(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)
