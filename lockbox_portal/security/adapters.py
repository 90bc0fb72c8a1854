from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect

from approvals.models import ProviderMembership, TenantMembership


def is_provider_only(user):
    return (ProviderMembership.objects.filter(user=user).exists()
            and not TenantMembership.objects.filter(user=user).exists())


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # People join a tenant by invitation from its admin; there is no self sign-up.
        return False

    def get_login_redirect_url(self, request):
        # Provider staff with no customer tenant land on the internal site.
        user = request.user
        if settings.LOCKBOX_SITE != "customer" and is_provider_only(user):
            return "/internal/"
        return super().get_login_redirect_url(request)

    def add_message(self, request, level, message_template=None, *args, **kwargs):
        # After the password a person is not signed in yet: the second factor comes next.
        if message_template == "account/messages/logged_in.txt":
            return
        super().add_message(request, level, message_template, *args, **kwargs)

    def pre_login(self, request, user, **kwargs):
        # The internal site is for the provider's staff only; customer accounts are turned away
        # even with the right password.
        if (settings.LOCKBOX_SITE == "internal"
                and not ProviderMembership.objects.filter(user=user).exists()):
            messages.error(request, "This is the provider's internal site. Customer accounts "
                                    "sign in at the customer portal.")
            return redirect("account_login")
        return super().pre_login(request, user, **kwargs)
