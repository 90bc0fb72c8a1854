import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audit.models import AuditEvent
from audit.selectors import all_chains
from audit.verification import verify_chain
from lockbox_portal.admin_site import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("chain", "seq", "occurred_at", "action", "actor", "request_id")
    list_filter = ("action", "chain")
    search_fields = ("action", "actor_email", "chain", "=request_id")
    ordering = ("-id",)
    fields = ("chain", "seq", "occurred_at", "action", "actor_id", "actor_email", "request_id",
              "pretty_data", "prev_hash", "hash")
    readonly_fields = fields
    change_list_template = "admin/audit/auditevent/change_list.html"
    actions = None  # as ReadOnlyAdmin's; repeated so mypy does not see two conflicting bases

    @admin.display(description="Actor")
    def actor(self, obj: AuditEvent) -> str:
        return obj.actor_email or "system"

    @admin.display(description="Data")
    def pretty_data(self, obj: AuditEvent) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.data, indent=2, sort_keys=True))

    def get_urls(self) -> list[URLPattern]:
        verify = self.admin_site.admin_view(self.verify_view)
        return [path("verify/", verify, name="audit_auditevent_verify"), *super().get_urls()]

    def verify_view(self, request: HttpRequest) -> TemplateResponse:
        """Verify every chain on demand: it reads every event, so it is not on the list page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        results = [verify_chain(chain) for chain in all_chains()]
        context = {
            **self.admin_site.each_context(request),
            "title": "Audit chain verification",
            "results": results,
            "all_ok": all(r.ok for r in results),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/audit/verify.html", context)
