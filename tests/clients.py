"""Signed-in clients for each persona, and the customer portal's URLs, shared by the tests."""

from datetime import timedelta

from django.test import Client
from django.urls import reverse

from approvals.models import State
from tests.factories import request_in_state, verify_with_otp


def signed_in(user):
    client = Client()
    client.codes = verify_with_otp(client, user)
    return client


def make_requests(*, engineer, manager, approver, tenant, now):
    """A request waiting for the tenant, and an active grant (both on the real clock)."""
    pending = request_in_state(State.PENDING_CUSTOMER, engineer=engineer, manager=manager,
                               approver=approver, tenant=tenant, now=now)
    # Approved ten minutes ago for an hour, so open now.
    active = request_in_state(State.APPROVED, engineer=engineer, manager=manager,
                              approver=approver, tenant=tenant, now=now - timedelta(minutes=10))
    return pending, active


def member_number(tenant, user):
    """How the tenant's member pages name `user`: their first role row's number there."""
    from approvals.models import TenantMembership

    return TenantMembership.objects.filter(tenant=tenant, user=user).order_by("pk")[0].pk


def portal_urls(tenant, pending, active, member):
    slug = tenant.slug
    number = member_number(tenant, member)
    return {
        "home": reverse("portal:home"),
        "dashboard": reverse("portal:tenant_dashboard", args=[slug]),
        "request": reverse("portal:request", args=[slug, pending.pk]),
        "approve": reverse("portal:approve", args=[slug, pending.pk]),
        "reject": reverse("portal:reject", args=[slug, pending.pk]),
        "revoke": reverse("portal:revoke", args=[slug, active.pk]),
        "history": reverse("portal:history", args=[slug]),
        "audit": reverse("portal:audit", args=[slug]),
        "export_csv": reverse("portal:audit_export", args=[slug, "csv"]),
        "export_jsonl": reverse("portal:audit_export", args=[slug, "jsonl"]),
        "settings": reverse("portal:settings", args=[slug]),
        "members": reverse("portal:members", args=[slug]),
        "member": reverse("portal:member", args=[slug, number]),
        "remove_member": reverse("portal:remove_member", args=[slug, number]),
        "notifications": reverse("portal:notifications", args=[slug]),
        "domains": reverse("portal:domains", args=[slug]),
        "security": reverse("account_security"),
        "sessions": reverse("usersessions_list"),
        "password": reverse("account_change_password"),
        "mfa_setup": reverse("mfa_setup"),
        "mfa_verify": reverse("mfa_verify"),
    }
