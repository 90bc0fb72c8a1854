"""Tenant admins' webhooks: add one (its secret shown once), read its delivery log, test it,
switch it off or on, delete it. Changes need a step-up, like every settings change."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from approvals.forms import ConfirmForm, WebhookForm
from approvals.models import TenantRole
from approvals.notifications.models import WebhookEndpoint
from approvals.notifications.webhooks import endpoints
from approvals.views.shared.guards import tenant_page
from lockbox_portal.security import stepup

ADMIN = TenantRole.ADMIN


@tenant_page(ADMIN)
def webhook_list(request, tenant):
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:webhook-new",
                                       WebhookForm)
    form = confirmation.form
    created = []
    if confirmation.passed() and confirmation.apply(lambda: created.append(
            endpoints.create_endpoint(tenant=tenant, actor=request.user,
                                      url=form.cleaned_data["url"],
                                      event_types=form.cleaned_data["event_types"]))):
        # Shown once, here; the page after a reload no longer has it.
        return render(request, "customer/settings/webhook_created.html",
                      {"tenant": tenant, "endpoint": created[0]})
    return confirmation.render("customer/settings/webhooks.html", {
        "tenant": tenant, "form": form,
        "endpoints": WebhookEndpoint.objects.filter(tenant=tenant),
    })


def _endpoint(tenant, pk):
    return get_object_or_404(WebhookEndpoint, pk=pk, tenant=tenant)


@tenant_page(ADMIN)
def webhook_detail(request, tenant, pk):
    endpoint = _endpoint(tenant, pk)
    deliveries = (endpoint.messages.prefetch_related("attempt_log")
                  .order_by("-created_at", "-id")[:50])
    return render(request, "customer/settings/webhook.html", {
        "tenant": tenant, "endpoint": endpoint, "deliveries": deliveries,
        "form": stepup.Confirmation(request, f"settings:{tenant.slug}:webhook:{endpoint.pk}",
                                    ConfirmForm).form,
    })


@require_POST
@tenant_page(ADMIN)
def webhook_test(request, tenant, pk):
    endpoint = _endpoint(tenant, pk)
    if not endpoint.is_active:
        messages.error(request, "Switch the webhook on before sending a test event.")
    else:
        endpoints.send_test(endpoint=endpoint, actor=request.user)
        messages.success(request, "Test event queued; its delivery appears below.")
    return redirect("portal:webhook", tenant.slug, endpoint.pk)


@require_POST
@tenant_page(ADMIN)
def webhook_change(request, tenant, pk, change):
    """Switch on, switch off or delete, after a step-up bound to this webhook."""
    endpoint = _endpoint(tenant, pk)
    confirmation = stepup.Confirmation(request, f"settings:{tenant.slug}:webhook:{endpoint.pk}",
                                       ConfirmForm)
    if not confirmation.passed():
        messages.error(request, confirmation.refused())
        return redirect("portal:webhook", tenant.slug, endpoint.pk)
    try:
        if change == "delete":
            endpoints.delete_endpoint(endpoint=endpoint, actor=request.user)
            messages.success(request, f"The webhook to {endpoint.url} was deleted.")
            return redirect("portal:webhooks", tenant.slug)
        endpoints.set_active(endpoint=endpoint, actor=request.user, active=change == "enable")
    except ValidationError as invalid:
        messages.error(request, invalid.messages[0])
    else:
        messages.success(request, "The webhook is on." if change == "enable"
                         else "The webhook is off; events are no longer sent to it.")
    return redirect("portal:webhook", tenant.slug, endpoint.pk)
