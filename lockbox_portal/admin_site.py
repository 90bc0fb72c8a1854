"""The Django admin, as a read-only window for provider auditors behind a second factor."""

from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite

from approvals.roles import is_provider_auditor
from lockbox_portal.security.mfa import device_for_code


class AdminSignInForm(OTPAdminAuthenticationForm):
    def _chosen_device(self, user):
        """Pick the device from the code's shape when the person did not pick one.

        django-otp asks for an explicit choice so that a wrong code is not counted against every
        device; the shape of the code (six digits, or a backup code) names exactly one.
        """
        device = super()._chosen_device(user)
        if device is None:
            device = device_for_code(user, self.cleaned_data.get("otp_token", ""),
                                     for_verify=True)
        return device


class LockboxAdminSite(OTPAdminSite):
    login_form = AdminSignInForm
    enable_nav_sidebar = False  # the request list needs the width more than a second menu
    site_url = None  # the portal pages arrive with issue 3; no link to a page that is not there
    site_header = "Lockbox provider admin (read-only)"
    site_title = "Lockbox admin"
    index_title = "Requests, tenants and the audit log"

    def has_permission(self, request):
        # OTPAdminSite adds the verified second factor to Django's active-and-staff check.
        if not super().has_permission(request):
            return False
        return request.user.is_superuser or is_provider_auditor(request.user)


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
