from django.contrib import admin

from approvals import policy
from approvals.models import (
    AccessRequest,
    Decision,
    ProviderMembership,
    Tenant,
    TenantMembership,
    Transition,
)
from lockbox_portal import clock
from lockbox_portal.admin_site import ReadOnlyAdmin


class DecisionInline(ReadOnlyAdmin, admin.TabularInline):
    model = Decision
    fields = ("level", "verdict", "actor", "comment", "decided_at")
    readonly_fields = fields
    extra = 0


class TransitionInline(ReadOnlyAdmin, admin.TabularInline):
    model = Transition
    fields = ("at", "from_state", "to_state", "verb", "actor", "note")
    readonly_fields = fields
    extra = 0


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("reference", "tenant", "requester", "case_reference", "state_now",
                    "created_at")
    list_filter = ("state", "reason_type", "access_level", "tenant")
    search_fields = ("case_reference", "justification", "requester__email", "tenant__slug")
    list_select_related = ("tenant", "requester")
    date_hierarchy = "created_at"
    inlines = [DecisionInline, TransitionInline]
    readonly_fields = [f.name for f in AccessRequest._meta.fields]

    @admin.display(description="State", ordering="state")
    def state_now(self, obj: AccessRequest) -> str:
        # The stored state lags behind time until the sweep runs; show what the access check
        # sees, and say so when the two differ.
        now_state = policy.effective_state(obj, clock.now())
        if now_state == obj.state:
            return now_state.label
        return f"{now_state.label} (recorded as {obj.get_state_display().lower()} until the sweep)"


@admin.register(Tenant)
class TenantAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("name", "slug", "lockbox_enabled", "required_approvals",
                    "customer_approval_window", "max_access_duration")
    search_fields = ("name", "slug")


@admin.register(TenantMembership)
class TenantMembershipAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    list_select_related = ("user", "tenant")
    search_fields = ("user__email",)


@admin.register(ProviderMembership)
class ProviderMembershipAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("user", "role", "created_at")
    list_filter = ("role",)
    list_select_related = ("user",)
