"""Tenant settings, for its admins: policy, members, notification addresses.

Every change needs a fresh second-factor check bound to that form, and is audited with its old
and new values by approvals.tenants.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from approvals import tenants
from approvals.forms import ConfirmForm, InviteForm, NotificationsForm, PolicyForm, RolesForm
from approvals.models import TenantMembership, TenantRole
from approvals.views.access import tenant_page
from lockbox_portal.security import stepup

ADMIN = TenantRole.ADMIN


def _form(request, form_class, action, **kwargs):
    """The form, with the step-up code checked first on a POST (bound to `action`)."""
    problem = stepup.confirm(request, action, request.POST.get("code")) \
        if request.method == "POST" else ""
    form = form_class(request.POST if request.method == "POST" else None, **kwargs,
                      needs_code=bool(problem) or not stepup.is_fresh(request, action))
    form.step_up_problem = problem
    if form.needs_code:
        stepup.offer(request, action)
    return form


def _guarded(request, form):
    """True when the form is valid and its step-up check passed; errors land on the form."""
    if request.method != "POST":
        return False
    valid = form.is_valid()
    if form.step_up_problem:
        form.add_error("code", form.step_up_problem)
        return False
    return valid


def _apply(form, call):
    """Run a service; put its validation errors on the form. True when it succeeded."""
    try:
        call()
    except ValidationError as invalid:
        errors = invalid.message_dict if hasattr(invalid, "error_dict") else {
            None: invalid.messages}
        for field, problems in errors.items():
            for problem in problems:
                form.add_error(field if field in form.fields else None, problem)
        return False
    return True


def _render(request, template, context, form):
    return render(request, template, context, status=400 if form.errors else 200)


@tenant_page(ADMIN)
def policy(request, tenant):
    form = _form(request, PolicyForm, f"settings:{tenant.slug}:policy",
                 initial=PolicyForm.initial_for(tenant))
    if _guarded(request, form) and _apply(form, lambda: _update(request, tenant, form)):
        return redirect("portal:settings", tenant.slug)
    return _render(request, "customer/settings/policy.html", {"tenant": tenant, "form": form},
                   form)


def _update(request, tenant, form):
    changes = tenants.update_policy(tenant=tenant, actor=request.user, **form.policy())
    messages.success(request, "Policy saved." if changes else "Nothing changed.")


@tenant_page(ADMIN)
def members(request, tenant):
    form = _form(request, InviteForm, f"settings:{tenant.slug}:invite")
    if _guarded(request, form) and _apply(form, lambda: _invite(request, tenant, form)):
        return redirect("portal:members", tenant.slug)
    return _render(request, "customer/settings/members.html",
                   {"tenant": tenant, "form": form, "people": _people(tenant)}, form)


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
    form = _form(request, RolesForm, f"settings:{tenant.slug}:member:{person.pk}",
                 initial={"roles": current})
    if _guarded(request, form) and _apply(form, lambda: tenants.set_member_roles(
            tenant=tenant, user=person, roles=form.cleaned_data["roles"], actor=request.user)):
        messages.success(request, f"Roles of {person.email} saved.")
        return redirect("portal:members", tenant.slug)
    return _render(request, "customer/settings/member.html",
                   {"tenant": tenant, "form": form, "person": person}, form)


@tenant_page(ADMIN)
def remove_member(request, tenant, number):
    person = _member(tenant, number)
    form = _form(request, ConfirmForm, f"settings:{tenant.slug}:remove:{person.pk}")
    if _guarded(request, form) and _apply(form, lambda: tenants.remove_member(
            tenant=tenant, user=person, actor=request.user)):
        messages.success(request, f"{person.email} no longer has any role in {tenant.name}.")
        return redirect("portal:members", tenant.slug)
    return _render(request, "customer/settings/remove_member.html",
                   {"tenant": tenant, "form": form, "person": person}, form)


@tenant_page(ADMIN)
def notifications(request, tenant):
    form = _form(request, NotificationsForm, f"settings:{tenant.slug}:notifications",
                 initial={"emails": "\n".join(tenant.notification_emails)})
    if _guarded(request, form) and _apply(form, lambda: _save_addresses(
            request, tenant, form)):
        return redirect("portal:notifications", tenant.slug)
    return _render(request, "customer/settings/notifications.html",
                   {"tenant": tenant, "form": form}, form)


def _save_addresses(request, tenant, form):
    changed = tenants.set_notification_emails(tenant=tenant, actor=request.user,
                                              emails=form.addresses())
    messages.success(request, "Addresses saved." if changed else "Nothing changed.")
