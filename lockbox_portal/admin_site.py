"""The Django admin, as a read-only window for provider auditors behind a second factor.

There is one way in: the site's own sign-in (allauth, its rate limits, then the second factor).
The admin's login page reads no password; it only sends people there, so nobody can try
passwords against a form that no throttle watches.
"""

from urllib.parse import urlencode

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse

from approvals.roles import is_provider_auditor
from lockbox_portal.security.redirects import safe_next


class LockboxAdminSite(AdminSite):
    enable_nav_sidebar = False  # the request list needs the width more than a second menu
    site_url = None  # the portal pages arrive with issue 3; no link to a page that is not there
    site_header = "Lockbox provider admin (read-only)"
    site_title = "Lockbox admin"
    index_title = "Requests, tenants and the audit log"

    def has_permission(self, request):
        user = request.user
        if not (super().has_permission(request) and user.is_verified()):
            return False
        return user.is_superuser or is_provider_auditor(user)

    def login(self, request, extra_context=None):
        """Send everyone to the site's sign-in, whatever they sent; a POST is never read.

        Someone signed in with a second factor who still lands here may not use the admin:
        sending them to sign in again would only bring them back, so they get a 403.
        """
        target = safe_next(request, default=reverse("admin:index", current_app=self.name))
        if self.has_permission(request):
            return redirect(target)
        if request.user.is_authenticated and request.user.is_verified():
            raise PermissionDenied("The admin is for the provider's auditors.")
        return redirect(f"{reverse('account_login')}?{urlencode({'next': target})}")


class ReadOnlyAdmin:
    """Nothing in the admin changes a request's state or the audit: states change only in
    approvals.transitions, and the audit only through record_event."""

    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or is_provider_auditor(request.user)

    def has_module_permission(self, request):
        return self.has_view_permission(request)
