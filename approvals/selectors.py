"""Reading tenant data. Every query that takes a user is scoped to that user's tenants in the
query itself, so a missing scope is an empty result (a 404), never another tenant's data."""

from django.db.models import Q
from django.http import Http404

from approvals import roles
from approvals.models import (
    AccessRequest,
    DecisionLevel,
    State,
    Tenant,
    TenantMembership,
    Verdict,
)


def tenants_for_user(user):
    return Tenant.objects.filter(memberships__user=user).distinct().order_by("name")


def roles_in_tenant(user, tenant):
    return set(TenantMembership.objects.filter(user=user, tenant=tenant)
               .values_list("role", flat=True))


def get_tenant_for_user(user, slug):
    """The tenant and the user's roles in it; 404 when they hold none."""
    memberships = list(TenantMembership.objects.filter(user=user, tenant__slug=slug)
                       .select_related("tenant"))
    if not memberships or not user.is_active:
        raise Http404("No such tenant.")
    return memberships[0].tenant, {m.role for m in memberships}


def get_request_for_user(user, tenant, pk):
    found = (AccessRequest.objects.select_related("tenant", "requester")
             .filter(pk=pk, tenant=tenant, tenant__memberships__user=user).first())
    if found is None:
        raise Http404("No such request.")
    return found


def standing_approvals(now):
    """The customer approvals (Decision rows) that count towards the quorum at `now`: given
    without an end of their own, or before the end their approver chose."""
    return (Q(level=DecisionLevel.CUSTOMER, verdict=Verdict.APPROVE)
            & (Q(ends_at__isnull=True) | Q(ends_at__gt=now)))


def awaiting_customer(tenant, now):
    """Requests the tenant's approvers can still decide, the soonest to expire first."""
    return (AccessRequest.objects.select_related("requester")
            .filter(tenant=tenant, state=State.PENDING_CUSTOMER, customer_expires_at__gt=now)
            .order_by("customer_expires_at"))


def awaiting_provider(tenant, now):
    return (AccessRequest.objects.select_related("requester")
            .filter(tenant=tenant, state=State.PENDING_INTERNAL, internal_expires_at__gt=now)
            .order_by("created_at"))


def active_grants(tenant, now):
    return (AccessRequest.objects.select_related("requester")
            .filter(tenant=tenant, state=State.APPROVED, access_starts_at__lte=now,
                    access_ends_at__gt=now)
            .order_by("access_ends_at"))


def count_awaiting_customer(tenant, now):
    return awaiting_customer(tenant, now).count()


def tenant_history(tenant, *, now, state=None, since=None, until=None):
    """Every request of the tenant, newest first. `state` is what a person would be shown: a
    lapsed request counts as expired, an ended grant as completed, before the sweep runs."""
    rows = AccessRequest.objects.select_related("requester").filter(tenant=tenant)
    if since:
        rows = rows.filter(created_at__gte=since)
    if until:
        rows = rows.filter(created_at__lt=until)
    if state:
        rows = rows.filter(_shown_as(state, now))
    return rows.order_by("-created_at", "-id")


def _shown_as(state, now):
    lapsed = (Q(state=State.PENDING_INTERNAL, internal_expires_at__lte=now)
              | Q(state=State.PENDING_CUSTOMER, customer_expires_at__lte=now))
    ended = Q(state=State.APPROVED, access_ends_at__lte=now)
    if state == State.EXPIRED:
        return Q(state=State.EXPIRED) | lapsed
    if state == State.COMPLETED:
        return Q(state=State.COMPLETED) | ended
    if state in (State.PENDING_INTERNAL, State.PENDING_CUSTOMER):
        return Q(state=state) & ~lapsed
    if state == State.APPROVED:
        return Q(state=state) & ~ended
    return Q(state=state)


# --- The provider's side ------------------------------------------------------------------------

def internal_queue(now, *, tenant=None, reason=None):
    """Requests waiting for an internal approver, across all tenants, oldest first."""
    rows = (AccessRequest.objects.select_related("tenant", "requester")
            .filter(state=State.PENDING_INTERNAL, internal_expires_at__gt=now))
    if tenant:
        rows = rows.filter(Q(tenant__slug__iexact=tenant) | Q(tenant__name__icontains=tenant))
    if reason:
        rows = rows.filter(reason_type=reason)
    return rows.order_by("created_at", "id")


def count_internal_queue(now):
    return internal_queue(now).count()


def requests_of(engineer):
    return (AccessRequest.objects.select_related("tenant")
            .filter(requester=engineer).order_by("-created_at", "-id"))


def get_request_for_provider(user, pk):
    """Managers and auditors may open any request; an engineer only their own."""
    rows = AccessRequest.objects.select_related("tenant", "requester").filter(pk=pk)
    if not (roles.is_internal_approver(user) or roles.is_provider_auditor(user)):
        rows = rows.filter(requester=user)
    found = rows.first()
    if found is None:
        raise Http404("No such request.")
    return found
