"""Reading tenant data. Every query that takes a user is scoped to that user's tenants in the
query itself, so a missing scope is an empty result (a 404), never another tenant's data.

The state predicates of approvals.policy, as query conditions, are here too: `lapsed(now)` is
the rows for which `policy.has_lapsed(row, now)` is true, and so on, so a list and a page never
disagree about what "expired" or "active" means."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from approvals import roles
from approvals.models import (
    PENDING_STATES,
    AccessRequest,
    DecisionLevel,
    SsoConnection,
    State,
    Tenant,
    TenantMembership,
    TenantRole,
    Verdict,
)
from approvals.policy import ENDED_STATES
from lockbox_portal.logs import context as log_context

if TYPE_CHECKING:
    from django.contrib.auth.models import User


# --- State predicates, as query conditions on AccessRequest --------------------------------------

def awaiting_decision(now: datetime, *, stage: State | None = None) -> Q:
    """policy.is_awaiting_decision: pending (at `stage`) with the approval window still open."""
    internal = Q(state=State.PENDING_INTERNAL, internal_expires_at__gt=now)
    customer = Q(state=State.PENDING_CUSTOMER, customer_expires_at__gt=now)
    if stage == State.PENDING_INTERNAL:
        return internal
    if stage == State.PENDING_CUSTOMER:
        return customer
    return internal | customer


def lapsed(now: datetime) -> Q:
    """policy.has_lapsed: pending, but the approval window has closed."""
    return (Q(state=State.PENDING_INTERNAL, internal_expires_at__lte=now)
            | Q(state=State.PENDING_CUSTOMER, customer_expires_at__lte=now))


def access_active(now: datetime) -> Q:
    """policy.is_access_active: approved and inside the time box, end exclusive."""
    return Q(state=State.APPROVED, access_starts_at__lte=now, access_ends_at__gt=now)


def run_out(now: datetime) -> Q:
    """policy.has_run_out: approved, but the time box has ended."""
    return Q(state=State.APPROVED, access_ends_at__lte=now)


def access_ended(now: datetime) -> Q:
    """policy.access_has_ended: revoked, released or completed, or the time box has run out."""
    return Q(state__in=ENDED_STATES) | run_out(now)


def summary_due(now: datetime) -> Q:
    """policy.summary_due: access was granted and is over."""
    return access_ended(now) & Q(access_starts_at__isnull=False)


def shown_as(state: str, now: datetime) -> Q:
    """policy.effective_state: the rows a person is shown in `state`. A lapsed request counts
    as expired and an ended grant as completed before the sweep has recorded them."""
    if state == State.EXPIRED:
        return Q(state=State.EXPIRED) | lapsed(now)
    if state == State.COMPLETED:
        return Q(state=State.COMPLETED) | run_out(now)
    if state in PENDING_STATES:
        return awaiting_decision(now, stage=State(state))
    if state == State.APPROVED:
        return Q(state=State.APPROVED, access_ends_at__gt=now)
    return Q(state=state)


# --- The customer's side ------------------------------------------------------------------------

def tenants_for_user(user: User) -> QuerySet[Tenant]:
    return Tenant.objects.filter(memberships__user=user).distinct().order_by("name")


def get_tenant_for_user(user: User, slug: str, now: datetime) -> tuple[Tenant, set[str]]:
    """The tenant and the user's roles in it; 404 when they hold none.

    The same statement answers what every portal page's navigation shows, as attributes of the
    tenant: `nav_waiting`, how many requests wait for its approvers, and `nav_elsewhere`,
    whether the user belongs to another tenant too (one round trip where there were three), and
    `sso_required_by`, the provider_id of its single sign-on when it is required.
    """
    mine = TenantMembership.objects.filter(user=user, tenant=OuterRef("pk"))
    waiting = (AccessRequest.objects.filter(awaiting_decision(now, stage=State.PENDING_CUSTOMER),
                                            tenant=OuterRef("pk"))
               .order_by().values("tenant").annotate(n=Count("pk")).values("n"))
    found = (Tenant.objects.filter(slug=slug)
             .annotate(**{f"holds_{role}": Exists(mine.filter(role=role)) for role in TenantRole},
                       nav_waiting=Coalesce(Subquery(waiting), 0),
                       nav_elsewhere=Exists(TenantMembership.objects.filter(user=user)
                                            .exclude(tenant=OuterRef("pk"))),
                       # The provider a session must have signed in through, when the tenant
                       # requires single sign-on (approvals.views.shared.guards).
                       sso_required_by=Subquery(SsoConnection.objects.filter(
                           tenant=OuterRef("pk"), enabled=True, required=True)
                           .values("provider_id")[:1]))
             .first())
    held = {role.value for role in TenantRole if found and getattr(found, f"holds_{role}")}
    if found is None or not held or not user.is_active:
        raise Http404("No such tenant.")
    return found, held


def logged(found: AccessRequest) -> AccessRequest:
    """`found`, named (with its tenant) in the log lines of the work in progress: every way a
    page or an API call finds the one request it acts on passes through here."""
    log_context.bind(access_request=found.reference, tenant=found.tenant.slug)
    return found


def get_request_for_user(user: User, tenant: Tenant, pk: Any) -> AccessRequest:
    found = (AccessRequest.objects.select_related("tenant", "requester")
             .filter(pk=pk, tenant=tenant, tenant__memberships__user=user).first())
    if found is None:
        raise Http404("No such request.")
    return logged(found)


def standing_approvals(now: datetime) -> Q:
    """The customer approvals (Decision rows) that count towards the quorum at `now`: given
    without an end of their own, or before the end their approver chose."""
    return (Q(level=DecisionLevel.CUSTOMER, verdict=Verdict.APPROVE)
            & (Q(ends_at__isnull=True) | Q(ends_at__gt=now)))


def awaiting_customer(tenant: Tenant, now: datetime) -> QuerySet[AccessRequest]:
    """Requests the tenant's approvers can still decide, the soonest to expire first."""
    return (AccessRequest.objects.select_related("requester")
            .filter(awaiting_decision(now, stage=State.PENDING_CUSTOMER), tenant=tenant)
            .order_by("customer_expires_at"))


def awaiting_provider(tenant: Tenant, now: datetime) -> QuerySet[AccessRequest]:
    return (AccessRequest.objects.select_related("requester")
            .filter(awaiting_decision(now, stage=State.PENDING_INTERNAL), tenant=tenant)
            .order_by("created_at"))


def active_grants(tenant: Tenant, now: datetime) -> QuerySet[AccessRequest]:
    return (AccessRequest.objects.select_related("requester")
            .filter(access_active(now), tenant=tenant)
            .order_by("access_ends_at"))


def tenant_history(tenant: Tenant, *, now: datetime, state: str | None = None,
                   since: datetime | None = None,
                   until: datetime | None = None) -> QuerySet[AccessRequest]:
    """Every request of the tenant, newest first. `state` is what a person would be shown: a
    lapsed request counts as expired, an ended grant as completed, before the sweep runs."""
    rows = AccessRequest.objects.select_related("requester").filter(tenant=tenant)
    if since:
        rows = rows.filter(created_at__gte=since)
    if until:
        rows = rows.filter(created_at__lt=until)
    if state:
        rows = rows.filter(shown_as(state, now))
    return rows.order_by("-created_at", "-id")


# --- The provider's side ------------------------------------------------------------------------

def internal_queue(now: datetime, *, tenant: str | None = None,
                   reason: str | None = None) -> QuerySet[AccessRequest]:
    """Requests waiting for an internal approver, across all tenants, oldest first."""
    rows = (AccessRequest.objects.select_related("tenant", "requester")
            .filter(awaiting_decision(now, stage=State.PENDING_INTERNAL)))
    if tenant:
        rows = rows.filter(Q(tenant__slug__iexact=tenant) | Q(tenant__name__icontains=tenant))
    if reason:
        rows = rows.filter(reason_type=reason)
    return rows.order_by("created_at", "id")


def count_internal_queue(now: datetime) -> int:
    return internal_queue(now).count()


def requests_of(engineer: User) -> QuerySet[AccessRequest]:
    return (AccessRequest.objects.select_related("tenant")
            .filter(requester=engineer).order_by("-created_at", "-id"))


def get_request_for_provider(user: User, pk: Any) -> AccessRequest:
    """Managers and auditors may open any request; an engineer only their own."""
    rows = AccessRequest.objects.select_related("tenant", "requester").filter(pk=pk)
    if not (roles.is_internal_approver(user) or roles.is_provider_auditor(user)):
        rows = rows.filter(requester=user)
    found = rows.first()
    if found is None:
        raise Http404("No such request.")
    return logged(found)
