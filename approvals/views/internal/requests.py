"""Requests on the internal site: engineers ask, managers decide, everyone reads the story."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse

from approvals import policy, selectors, timeline
from approvals import transitions as t
from approvals.actions import Action
from approvals.errors import TransitionError
from approvals.forms import (
    REQUEST_FORM_FIELDS,
    AccessRequestForm,
    ChooseTenantForm,
    DecisionForm,
    NoteForm,
)
from approvals.models import ProviderRole, State, Tenant
from approvals.notifications.selectors import who_is_asked
from approvals.policy import Person, Verb
from approvals.views.shared.guards import provider_page
from lockbox_portal import clock
from lockbox_portal.db.replica import lag_tolerant
from lockbox_portal.security import stepup

ENGINEER = ProviderRole.ENGINEER
MANAGER = ProviderRole.INTERNAL_APPROVER
AUDITOR = ProviderRole.AUDITOR
PAGE_SIZE = 25


@provider_page(ENGINEER)
def new_request(request):
    tenants = Tenant.objects.order_by("name")
    slug = request.GET.get("tenant") or request.POST.get("tenant")
    tenant = tenants.filter(slug=slug).first() if slug else None
    if tenant is None:
        if slug:
            messages.error(request, f"There is no tenant {slug!r}. Choose one from the list.")
        return render(request, "internal/choose_tenant.html",
                      {"form": ChooseTenantForm(tenants=tenants)}, status=400 if slug else 200)
    form = AccessRequestForm(request.POST if request.method == "POST" else None, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        try:
            req = t.submit_request(requester=request.user, tenant=tenant,
                                   **form.request_fields())
        except ValidationError as invalid:
            for field, problems in invalid.message_dict.items():
                for problem in problems:
                    form.add_error(REQUEST_FORM_FIELDS.get(field, field), problem)
        else:
            messages.success(request, f"Request {req.reference} is waiting for a manager.")
            return redirect("internal:request", req.pk)
    return render(request, "internal/new_request.html", {"form": form, "tenant": tenant},
                  status=400 if form.errors else 200)


@provider_page(ENGINEER)
@lag_tolerant
def my_requests(request):
    now = clock.now()
    page = Paginator(selectors.requests_of(request.user), PAGE_SIZE).get_page(
        request.GET.get("page"))
    return render(request, "internal/my_requests.html", {
        "page": page, "now": now,
        "rows": [(r, policy.effective_state(r, now), policy.pending_expires_at(r),
                  policy.is_access_active(r, now)) for r in page],
    })


@provider_page()
def request_detail(request, pk):
    now = clock.now()
    req = selectors.get_request_for_provider(request.user, pk)
    roles = request.provider_roles
    active = policy.is_access_active(req, now)
    mine = policy.is_requester(req, request.user.pk)
    verbs = policy.allowed_verbs(req, Person(request.user.pk, provider_roles=frozenset(roles)),
                                 now=now)
    events = [(e, timeline.describe(e)) for e in timeline.events_for_request(req.tenant, req.pk)]
    return render(request, "internal/request.html", {
        "req": req, "now": now,
        "shown_state": policy.effective_state(req, now),
        "expires_at": policy.pending_expires_at(req),
        "active": active,
        "events": events,
        "out_of_scope": sum(e.action == Action.ACTIVITY_OUT_OF_SCOPE for e, _ in events),
        "notes": req.notes.select_related("author"),
        "asked": who_is_asked(req, now) if policy.is_awaiting_decision(req, now)
        else None,
        "note_form": NoteForm() if (mine or roles & {MANAGER, AUDITOR}) else None,
        "can_decide": Verb.INTERNAL_APPROVE in verbs,
        "own_pending": MANAGER in roles and mine and policy.is_awaiting_decision(
            req, now, stage=State.PENDING_INTERNAL),
        "can_cancel": Verb.CANCEL in verbs,
        "can_release": Verb.RELEASE in verbs,
        "can_revoke": Verb.REVOKE in verbs,
        "attestation": getattr(req, "attestation", None),
        "can_file": mine and policy.summary_due(req, now) and not hasattr(req, "attestation"),
        "can_resolve": AUDITOR in roles,
    })


# verb: (transition, role, step-up needed, comment required, button, message when done)
MOVES = {
    "approve": (t.internal_approve, MANAGER, True, False, "Approve for the provider",
                "You approved request {ref} for the provider."),
    "reject": (t.internal_reject, MANAGER, True, True, "Reject request",
               "You rejected request {ref}."),
    "revoke": (t.revoke, MANAGER, True, False, "Revoke access now",
               "You revoked request {ref}; the engineer's access has ended."),
    "cancel": (t.cancel, ENGINEER, False, False, "Cancel my request",
               "You cancelled request {ref}."),
    "release": (t.release, ENGINEER, False, False, "Give access back now",
                "You gave back the access of request {ref}."),
}


@provider_page()
def move(request, pk, verb):
    """Confirm a move; deciding and revoking also need a fresh step-up bound to it."""
    transition, role, needs_step_up, comment_required, button, done = MOVES[verb]
    if role not in request.provider_roles:
        raise PermissionDenied("Your provider role does not allow this.")
    now = clock.now()
    req = selectors.get_request_for_provider(request.user, pk)
    back = reverse("internal:request", args=[req.pk])
    action = f"internal-{verb}:{req.pk}"
    confirmation = stepup.Confirmation(request, action, DecisionForm, needed=needs_step_up,
                                       now=now, comment_required=comment_required)
    if confirmation.passed():
        confirmation.attempt(lambda: transition(
            access_request=req.pk, actor=request.user,
            comment=confirmation.form.cleaned_data["comment"], now=now),
            refusal=TransitionError, done=done.format(ref=req.reference))
        return redirect(back)
    return confirmation.render("internal/confirm.html", {
        "req": req, "verb": verb, "form": confirmation.form, "button": button, "now": now,
        "shown_state": policy.effective_state(req, now),
    })
