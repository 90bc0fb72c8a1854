"""API routes: the provider's (internal site) and the customer's (portal) own."""

import re

from django.urls import path, re_path

from approvals.api import azure, google, google_settings, native, openapi_azure, openapi_google
from approvals.api.http import not_routed
from approvals.api.openapi import openapi_view
from lockbox_portal.errors import API_PREFIXES

internal = [
    path("api/v1/access/check", native.access_check, name="api_access_check"),
    path("api/v1/activity", native.record_activity, name="api_activity"),
    path("api/v1/requests", native.requests_collection, name="api_requests"),
    path("api/v1/requests/<uuid:pk>", native.request_item, name="api_request"),
    path("api/v1/requests/<uuid:pk>/cancel", native.cancel_request, name="api_cancel"),
]

# The Google and Azure surfaces take any segment where an id goes, so a malformed one is
# answered by the view, in that surface's own error shape, not by the site's 404.
SEGMENT = r"[^/]+"
LOCKBOX = r"^subscriptions/(?P<slug>[^/]+)/providers/Microsoft\.CustomerLockbox/requests"

customer = [
    path("api/v1/tenants/<slug:slug>/audit/events", native.audit_feed, name="api_audit_feed"),
    # Google Access Approval v1.
    re_path(rf"^v1/organizations/(?P<slug>{SEGMENT})/approvalRequests$", google.list_requests,
            name="google_list"),
    re_path(rf"^v1/organizations/(?P<slug>{SEGMENT})/approvalRequests/(?P<rid>[^/:]+)"
            r"(?::(?P<verb>[^/]*))?$", google.request_resource, name="google_request"),
    re_path(rf"^v1/organizations/(?P<slug>{SEGMENT})/accessApprovalSettings$",
            google_settings.settings_resource, name="google_settings"),
    path("api/openapi/google-access-approval-v1.json", openapi_google.openapi_view,
         name="google_openapi"),
    # Azure Customer Lockbox.
    re_path(rf"{LOCKBOX}$", azure.list_requests, name="azure_list"),
    re_path(rf"{LOCKBOX}/(?P<rid>{SEGMENT})$", azure.get_request, name="azure_request"),
    re_path(rf"{LOCKBOX}/(?P<rid>{SEGMENT})/[uU]pdateApproval$", azure.update_approval,
            name="azure_update"),
    re_path(rf"^providers/Microsoft\.CustomerLockbox/tenantOptedIn/(?P<slug>{SEGMENT})$",
            azure.tenant_opted_in, name="azure_opted_in"),
    path("providers/Microsoft.CustomerLockbox/enableLockbox", azure.switch_lockbox,
         {"enable": True}, name="azure_enable"),
    path("providers/Microsoft.CustomerLockbox/disableLockbox", azure.switch_lockbox,
         {"enable": False}, name="azure_disable"),
    path("providers/Microsoft.CustomerLockbox/operations", azure.operations,
         name="azure_operations"),
    path("api/openapi/azure-customer-lockbox.json", openapi_azure.openapi_view,
         name="azure_openapi"),
]

shared = [path("api/v1/openapi.json", openapi_view, name="api_openapi")]

# Last of all, after every site's routes: any other address under the API prefixes answers
# the API's JSON 404 in every settings. (handler404 would too, but only with DEBUG off: with it
# on, Django answers its HTML debug page.)
PREFIXES = "|".join(re.escape(prefix.strip("/")) for prefix in API_PREFIXES)
fallback = [re_path(rf"^(?P<prefix>{PREFIXES})/", not_routed, name="api_not_routed")]
