"""One request in the portal: its story, and deciding it (approve, reject, revoke)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse

from approvals import policy, selectors, timeline
from approvals import transitions as t
from approvals.actions import Action
from approvals.errors import TransitionError
from approvals.forms import DecisionForm
from approvals.models import DecisionLevel, State, TenantRole
from approvals.notifications.selectors import who_is_asked
from approvals.policy import Person, Verb
from approvals.views.shared.guards import tenant_page
from lockbox_portal import clock
from lockbox_portal.security import stepup

APPROVER, ADMIN = TenantRole.APPROVER, TenantRole.ADMIN


@tenant_page()
def request_detail(request, tenant, pk):
    now = clock.now()
    req = selectors.get_request_for_user(request.user, tenant, pk)
    decisions = list(req.decisions.select_related("actor").filter(level=DecisionLevel.CUSTOMER)
                     .order_by("decided_at", "id"))
    events = [(e, timeline.describe(e)) for e in timeline.events_for_request(tenant, req.pk)]
    out_of_scope = sum(e.action == Action.ACTIVITY_OUT_OF_SCOPE for e, _ in events)
    verbs = policy.allowed_verbs(
        req, Person(request.user.pk, tenant_roles=frozenset(request.tenant_roles)), now=now,
        has_decided=any(d.actor_id == request.user.pk for d in decisions))
    return render(request, "customer/request.html", {
        "tenant": tenant,
        "req": req,
        "shown_state": policy.effective_state(req, now),
        "expires_at": policy.pending_expires_at(req),
        "active": policy.is_access_active(req, now),
        "approvals": req.decisions.filter(selectors.standing_approvals(now)).count(),
        "events": events,
        "out_of_scope": out_of_scope,
        "decisions": decisions,
        "attestation": getattr(req, "attestation", None),
        "can_answer": bool({APPROVER, ADMIN} & request.tenant_roles),
        "can_decide": Verb.CUSTOMER_APPROVE in verbs,
        "asked": who_is_asked(req, now) if policy.is_awaiting_decision(
            req, now, stage=State.PENDING_CUSTOMER) else None,
        "can_revoke": Verb.REVOKE in verbs,
        "now": now,
    })


DECISIONS = {
    # verb: (transition, roles allowed, comment required, button, done message)
    "approve": (t.customer_approve, {APPROVER}, False, "Approve access",
                "You approved request {ref}."),
    "reject": (t.customer_reject, {APPROVER}, True, "Reject request",
               "You rejected request {ref}. The engineer will not get access."),
    "revoke": (t.revoke, {APPROVER, ADMIN}, False, "Revoke access now",
               "You revoked request {ref}. The engineer's access has ended."),
}


# The lifecycle verb behind each page verb: the page offers it while policy would allow it.
VERBS = {"approve": Verb.CUSTOMER_APPROVE, "reject": Verb.CUSTOMER_REJECT, "revoke": Verb.REVOKE}


@tenant_page(APPROVER, ADMIN)
def decide(request, tenant, pk, verb):
    """Confirm a decision, with a fresh second-factor check bound to this request and verb."""
    move, allowed, comment_required, button, done = DECISIONS[verb]
    if not allowed & request.tenant_roles:
        raise PermissionDenied("Only the tenant's lockbox approvers can decide requests.")
    now = clock.now()
    req = selectors.get_request_for_user(request.user, tenant, pk)
    action = f"{verb}:{req.pk}"
    back = reverse("portal:request", args=[tenant.slug, req.pk])
    if policy.state_refusal(VERBS[verb], req, now):
        messages.info(request, f"Request {req.reference} is "
                               f"{policy.effective_state(req, now).label.lower()}; there is "
                               "nothing to decide any more.")
        return redirect(back)
    confirmation = stepup.Confirmation(request, action, DecisionForm, now=now,
                                       comment_required=comment_required)
    if confirmation.passed():
        confirmation.attempt(lambda: move(access_request=req.pk, actor=request.user,
                                          comment=confirmation.form.cleaned_data["comment"],
                                          now=now),
                             refusal=TransitionError, done=done.format(ref=req.reference))
        return redirect(back)
    return confirmation.render("customer/confirm.html", {
        "tenant": tenant, "req": req, "verb": verb, "form": confirmation.form, "button": button,
        "grant_ends_at": now + min(req.requested_duration, tenant.max_access_duration),
        "approvals": req.decisions.filter(selectors.standing_approvals(now)).count(),
        "now": now,
    })
