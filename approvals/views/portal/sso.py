"""Tenant admins' single sign-on: the provider's settings (step-up), a test sign-in that shows
the claims received, switching it on and off (step-up), removing it (a confirmation page and a
step-up). approvals.sso writes every change; lockbox_portal.security.sso runs the sign-ins."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from approvals import sso
from approvals.forms import ConfirmForm, SsoForm
from approvals.models import DomainClaim, SsoConnection, TenantRole
from approvals.views.shared.guards import signed_in_through, tenant_page
from lockbox_portal.security import secrets as sealed
from lockbox_portal.security import sso as signing_in
from lockbox_portal.security import stepup

ADMIN = TenantRole.ADMIN


def _initial(connection):
    if connection is None:
        return {"role_claim": "groups"}
    return {"issuer": connection.issuer, "client_id": connection.client_id,
            "role_claim": connection.role_claim,
            **{f: "\n".join(getattr(connection, f)) for f in sso.MAPPING_FIELDS}}


@tenant_page(ADMIN)
def settings_page(request, tenant):
    connection = SsoConnection.objects.filter(tenant=tenant).first()
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:sso", SsoForm,
                                       initial=_initial(connection))
    form = confirmation.form
    if confirmation.passed() and confirmation.apply(lambda: _save(request, tenant, form)):
        return redirect("portal:sso", tenant.slug)
    switch = stepup.Confirmation(request, f"settings:{tenant.slug}:sso-switch", ConfirmForm)
    require = stepup.Confirmation(request, f"settings:{tenant.slug}:sso-require", ConfirmForm)
    unreadable = False
    if connection is not None:
        try:
            sso.client_secret(connection)
        except sealed.Unreadable:
            unreadable = True
    test_roles = (sso.roles_from_claims(connection, connection.test_claims)
                  if connection and connection.tested_at else [])
    return confirmation.render("customer/settings/sso.html", {
        "tenant": tenant, "form": form, "connection": connection, "switch_form": switch.form,
        "callback_url": request.build_absolute_uri(reverse(
            "openid_connect_callback", args=[connection.provider_id])) if connection else "",
        "test_roles": [TenantRole(r).label for r in test_roles],
        "test_claims": [(name, ", ".join(map(str, value)) if isinstance(value, list)
                         else str(value)) for name, value in
                        (connection.test_claims.items() if connection else [])],
        "unreadable": unreadable,
        "domains": DomainClaim.objects.filter(tenant=tenant, verified_at__isnull=False),
        "require_form": require.form,
        "signed_in_through_it": bool(connection) and signed_in_through(
            request, connection.provider_id),
        "left_out": [member.email for member in sso.outside_verified_domains(tenant)],
    })


def _save(request, tenant, form):
    before = SsoConnection.objects.filter(tenant=tenant).first()
    connection = sso.save_connection(tenant=tenant, actor=request.user, given=sso.Settings(
        **{f: form.cleaned_data[f] for f in ("issuer", "client_id", "client_secret",
                                             "role_claim", *sso.MAPPING_FIELDS)}))
    if before is not None and before.enabled and not connection.enabled:
        messages.warning(request, "Saved. Single sign-on is off until a test sign-in with the "
                                  "new settings; then switch it on again.")
    else:
        messages.success(request, "Single sign-on settings saved.")


def _connection(tenant):
    return get_object_or_404(SsoConnection.objects.select_related("tenant"), tenant=tenant)


@require_POST
@tenant_page(ADMIN)
def test_start(request, tenant):
    """Sends the admin to their identity provider; the claims come back to the settings page.
    No step-up: a test signs no one in and changes no setting."""
    connection = _connection(tenant)
    return signing_in.redirect_to_provider(
        request, connection, process=signing_in.AuthProcess.REDIRECT,
        next_url=reverse("portal:sso", args=[tenant.slug]), data={"test": request.user.pk})


def _confirmed(request, tenant, action):
    """The tenant's connection, when the step-up bound to `action` passed; else None, with the
    reason said as a message (these forms are posted from the settings page)."""
    connection = _connection(tenant)
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:{action}", ConfirmForm)
    if not confirmation.passed():
        messages.error(request, confirmation.refused())
        return None
    return connection


@require_POST
@tenant_page(ADMIN)
def switch(request, tenant, on):
    connection = _confirmed(request, tenant, "sso-switch")
    if connection is None:
        return redirect("portal:sso", tenant.slug)
    try:
        sso.set_enabled(connection=connection, actor=request.user, on=on)
    except ValidationError as invalid:
        messages.error(request, invalid.messages[0])
    else:
        messages.success(request, "Single sign-on is on: people at your verified domains can "
                                  "sign in through your identity provider." if on else
                         "Single sign-on is off: no one can sign in through it.")
    return redirect("portal:sso", tenant.slug)


@require_POST
@tenant_page(ADMIN)
def require(request, tenant, on):
    connection = _confirmed(request, tenant, "sso-require")
    if connection is None:
        return redirect("portal:sso", tenant.slug)
    if on and not signed_in_through(request, connection.provider_id):
        messages.error(request, "Sign in through single sign-on yourself first (sign out, then "
                                "\"Sign in with your organisation's single sign-on\"), so that "
                                "requiring it does not shut you out.")
        return redirect("portal:sso", tenant.slug)
    try:
        done = sso.set_required(connection=connection, actor=request.user, on=on)
    except ValidationError as invalid:
        messages.error(request, invalid.messages[0])
    else:
        messages.success(request, (
            f"Single sign-on is required. {done['sessions']} session(s) signed in another way "
            f"were ended and {done['tokens']} API token(s) revoked.") if on else
            "Single sign-on is no longer required: members with a Lockbox password can use it "
            "again.")
    return redirect("portal:sso", tenant.slug)


@tenant_page(ADMIN)
def remove(request, tenant):
    connection = _connection(tenant)
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:sso-remove",
                                       ConfirmForm)
    if confirmation.passed() and confirmation.apply(lambda: sso.remove_connection(
            connection=connection, actor=request.user)):
        messages.success(request, "Single sign-on was removed.")
        return redirect("portal:sso", tenant.slug)
    return confirmation.render("customer/settings/remove_sso.html",
                               {"tenant": tenant, "form": confirmation.form,
                                "connection": connection})
