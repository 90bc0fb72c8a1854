"""The customer portal: dashboard, one request, deciding, history."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.urls import reverse

from approvals import policy, selectors, timeline
from approvals import transitions as t
from approvals.errors import TransitionError
from approvals.forms import DecisionForm, HistoryFilterForm
from approvals.models import Decision, DecisionLevel, State, TenantRole
from approvals.notifications.selectors import who_is_asked
from approvals.policy import Person, Verb
from approvals.views.access import tenant_page
from lockbox_portal import clock
from lockbox_portal.security import stepup
from lockbox_portal.security.adapters import is_provider_only

APPROVER, ADMIN = TenantRole.APPROVER, TenantRole.ADMIN
PAGE_SIZE = 25
DASHBOARD_ROWS = 20


def home(request):
    tenants = list(selectors.tenants_for_user(request.user))
    if not tenants and settings.LOCKBOX_SITE == "all" and is_provider_only(request.user):
        return redirect("internal:home")
    if len(tenants) == 1:
        return redirect("portal:tenant_dashboard", tenants[0].slug)
    return render(request, "customer/pick_tenant.html", {"tenants": tenants})


class _First(list):
    """The first rows of a list the dashboard shows, and how many there are in all."""

    def __init__(self, rows, total):
        super().__init__(rows)
        self.total = total
        self.more = total > len(rows)


def _first(rows, n=None):
    """The dashboard shows the first DASHBOARD_ROWS of each list (a count says how many more,
    and History lists them all): with hundreds waiting, a page of cards helps nobody."""
    n = n or DASHBOARD_ROWS
    return _First(rows[:n], rows.count())


@tenant_page()
def dashboard(request, tenant):
    from approvals import attestations

    now = clock.now()
    mine = Decision.objects.filter(request=OuterRef("pk"), level=DecisionLevel.CUSTOMER,
                                   actor=request.user)
    # Counted per row shown, not by grouping the join: a GROUP BY made PostgreSQL read and
    # group every waiting request before it could keep the first 20.
    approvals = (Decision.objects.filter(selectors.standing_approvals(now), request=OuterRef("pk"))
                 .order_by().values("request").annotate(n=Count("pk")).values("n"))
    waiting = selectors.awaiting_customer(tenant, now).annotate(
        approvals=Coalesce(Subquery(approvals), 0), decided_by_me=Exists(mine))
    awaiting = attestations.awaiting(tenant=tenant, now=now)
    return render(request, "customer/dashboard.html", {
        "tenant": tenant,
        "waiting": _first(waiting),
        "active": _first(selectors.active_grants(tenant, now)),
        "with_provider": _first(selectors.awaiting_provider(tenant, now)),
        "attestations": {"to_answer": _first(awaiting["to_answer"]),
                         "disputed": _first(awaiting["disputed"])},
        "can_decide": APPROVER in request.tenant_roles,
        "can_revoke": bool({APPROVER, ADMIN} & request.tenant_roles),
        "now": now,
    })


@tenant_page()
def request_detail(request, tenant, pk):
    now = clock.now()
    req = selectors.get_request_for_user(request.user, tenant, pk)
    decisions = list(req.decisions.select_related("actor").filter(level=DecisionLevel.CUSTOMER)
                     .order_by("decided_at", "id"))
    events = [(e, timeline.describe(e)) for e in timeline.events_for_request(tenant, req.pk)]
    out_of_scope = sum(e.action == "activity.out_of_scope" for e, _ in events)
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
    # The code is checked first, even if the rest of the form needs fixing, so a person who
    # typed a good code is not asked for another one.
    problem = stepup.confirm(request, action, request.POST.get("code"), now=now) \
        if request.method == "POST" else ""
    form = DecisionForm(request.POST if request.method == "POST" else None,
                        comment_required=comment_required,
                        needs_code=bool(problem) or not stepup.is_fresh(request, action, now=now))
    if request.method == "POST" and form.is_valid() and not problem:
        try:
            move(request=req.pk, actor=request.user, comment=form.cleaned_data["comment"],
                 now=now)
        except TransitionError as refused:
            messages.error(request, refused.message)
        else:
            messages.success(request, done.format(ref=req.reference))
        return redirect(back)
    if problem:
        form.add_error("code", problem)
    if form.needs_code:
        stepup.offer(request, action)
    return render(request, "customer/decide.html", {
        "tenant": tenant, "req": req, "verb": verb, "form": form, "button": button,
        "grant_ends_at": now + min(req.requested_duration, tenant.max_access_duration),
        "approvals": req.decisions.filter(selectors.standing_approvals(now)).count(),
        "now": now,
    }, status=400 if form.errors else 200)


@tenant_page()
def history(request, tenant):
    now = clock.now()
    form = HistoryFilterForm(request.GET or None)
    since, until = form.bounds()
    rows = selectors.tenant_history(tenant, now=now, since=since, until=until,
                                    state=form.cleaned_data.get("state") if form.is_valid()
                                    else None)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "customer/history.html", {
        "tenant": tenant, "form": form, "page": page, "query": query.urlencode(), "now": now,
        "rows": [(r, policy.effective_state(r, now)) for r in page],
    })
