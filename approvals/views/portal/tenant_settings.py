"""Tenant settings, for its admins: policy, members, notification addresses.

Every change needs a fresh second-factor check bound to that form, and is audited with its old
and new values by approvals.tenants.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect

from approvals import tenants
from approvals.forms import (
    ConfirmForm,
    InviteForm,
    NotificationsForm,
    PolicyForm,
    RetentionForm,
    RolesForm,
)
from approvals.models import TenantMembership, TenantRole
from approvals.views.shared.guards import tenant_page
from lockbox_portal.security import stepup

ADMIN = TenantRole.ADMIN


@tenant_page(ADMIN)
def policy(request, tenant):
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:policy", PolicyForm,
                                       initial=PolicyForm.initial_for(tenant))
    form = confirmation.form
    if confirmation.passed() and confirmation.apply(lambda: _update(request, tenant, form)):
        return redirect("portal:settings", tenant.slug)
    return confirmation.render("customer/settings/policy.html", {"tenant": tenant, "form": form})


def _update(request, tenant, form):
    changes = tenants.update_policy(tenant=tenant, actor=request.user, **form.policy())
    messages.success(request, "Policy saved." if changes else "Nothing changed.")


@tenant_page(ADMIN)
def retention(request, tenant):
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:retention",
                                       RetentionForm, initial={
                                           "audit_retention_years": tenant.audit_retention_years,
                                           "legal_hold": tenant.legal_hold})
    form = confirmation.form
    if confirmation.passed() and confirmation.apply(lambda: _set_retention(request, tenant,
                                                                           form)):
        return redirect("portal:retention", tenant.slug)
    return confirmation.render("customer/settings/retention.html",
                               {"tenant": tenant, "form": form})


def _set_retention(request, tenant, form):
    changed = tenants.set_audit_retention(
        tenant=tenant, actor=request.user, years=form.cleaned_data["audit_retention_years"],
        legal_hold=form.cleaned_data["legal_hold"])
    messages.success(request, "Retention saved." if changed else "Nothing changed.")


@tenant_page(ADMIN)
def members(request, tenant):
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:invite", InviteForm)
    form = confirmation.form
    if confirmation.passed() and confirmation.apply(lambda: _invite(request, tenant, form)):
        return redirect("portal:members", tenant.slug)
    return confirmation.render("customer/settings/members.html",
                               {"tenant": tenant, "form": form, "people": _people(tenant)})


def _people(tenant):
    """[(person, role names, invited, number)] for the members page.

    Nothing here may tell whether a person had an account before they were invited, which is
    not this tenant's to know: "invited" means not signed in since they were given roles here
    (not "has no password yet"), and pages name a member by their number here (not their
    account's id, whose size says how old the account is).
    """
    people = {}
    for membership in (TenantMembership.objects.filter(tenant=tenant)
                       .select_related("user").order_by("user__email", "role")):
        roles, since, number = people.get(membership.user, ([], membership.created_at,
                                                             membership.pk))
        roles.append(membership.get_role_display())
        people[membership.user] = (roles, min(since, membership.created_at),
                                   min(number, membership.pk))
    return [(person, roles, person.last_login is None or person.last_login < since, number)
            for person, (roles, since, number) in people.items()]


def _invite(request, tenant, form):
    # The same answer whoever owns the address (see tenants.invite_member).
    email = tenants.invite_member(tenant=tenant, email=form.cleaned_data["email"],
                                  roles=form.cleaned_data["roles"], actor=request.user)
    messages.success(request, f"Invitation sent to {email}.")


def _member(tenant, number):
    """The person a member page names by their number in this tenant (see _people)."""
    return get_object_or_404(TenantMembership.objects.select_related("user"), tenant=tenant,
                             pk=number).user


@tenant_page(ADMIN)
def member(request, tenant, number):
    person = _member(tenant, number)
    current = list(TenantMembership.objects.filter(tenant=tenant, user=person)
                   .values_list("role", flat=True))
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:member:{person.pk}",
                                       RolesForm, initial={"roles": current})
    form = confirmation.form
    if confirmation.passed() and confirmation.apply(lambda: tenants.set_member_roles(
            tenant=tenant, user=person, roles=form.cleaned_data["roles"], actor=request.user)):
        messages.success(request, f"Roles of {person.email} saved.")
        return redirect("portal:members", tenant.slug)
    return confirmation.render("customer/settings/member.html",
                               {"tenant": tenant, "form": form, "person": person})


@tenant_page(ADMIN)
def remove_member(request, tenant, number):
    person = _member(tenant, number)
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:remove:{person.pk}",
                                       ConfirmForm)
    if confirmation.passed() and confirmation.apply(lambda: tenants.remove_member(
            tenant=tenant, user=person, actor=request.user)):
        messages.success(request, f"{person.email} no longer has any role in {tenant.name}.")
        return redirect("portal:members", tenant.slug)
    return confirmation.render("customer/settings/remove_member.html",
                               {"tenant": tenant, "form": confirmation.form, "person": person})


@tenant_page(ADMIN)
def notifications(request, tenant):
    confirmation = stepup.Confirmation(
        request, f"settings:{tenant.slug}:notifications", NotificationsForm,
        initial={"emails": "\n".join(tenant.notification_emails)})
    form = confirmation.form
    if confirmation.passed() and confirmation.apply(lambda: _save_addresses(
            request, tenant, form)):
        return redirect("portal:notifications", tenant.slug)
    return confirmation.render("customer/settings/notifications.html",
                               {"tenant": tenant, "form": form})


def _save_addresses(request, tenant, form):
    changed = tenants.set_notification_emails(tenant=tenant, actor=request.user,
                                              emails=form.addresses())
    messages.success(request, "Addresses saved." if changed else "Nothing changed.")
