"""Every e-mail Lockbox sends: one function per message, templates in templates/emails/.

Callers send after their transaction commits (transaction.on_commit), never inside it.
"""

from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse


def portal_url(path):
    return settings.LOCKBOX_PORTAL_URL + path


def _send(template, to, context):
    subject = render_to_string(f"emails/{template}_subject.txt", context).strip()
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, to)
    message.attach_alternative(html, "text/html")
    message.send()


def send_invitation(*, user, tenant, inviter, roles, new_account):
    """Tell a person they were given roles in a tenant. A new account gets a one-time link to
    choose a password; it stops working once used, or after PASSWORD_RESET_TIMEOUT."""
    if new_account:
        key = default_token_generator.make_token(user)
        link = portal_url(reverse("account_reset_password_from_key",
                                  kwargs={"uidb36": user_pk_to_url_str(user), "key": key}))
    else:
        link = portal_url(reverse("portal:tenant_dashboard", args=[tenant.slug]))
    from approvals.models import TenantRole

    days = settings.PASSWORD_RESET_TIMEOUT // 86400
    _send("invitation", [user.email], {
        "tenant": tenant, "inviter": inviter, "link": link,
        "roles": [TenantRole(r).label.lower() for r in roles],
        "new_account": new_account, "days": days,
    })
