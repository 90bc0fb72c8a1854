"""API routes: the provider's (internal site) and the customer's (portal) own."""

import re

from django.urls import path, re_path

from approvals.api import azure, google, native
from approvals.api.http import not_routed
from approvals.api.openapi import openapi_view
from lockbox_portal.errors import API_PREFIXES

# A UUID and nothing else ("------------------------------------" is 36 characters too): any
# other id matches no route and gets the API's JSON 404.
RID = r"(?P<rid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"

internal = [
    path("api/v1/access/check", native.access_check, name="api_access_check"),
    path("api/v1/activity", native.record_activity, name="api_activity"),
    path("api/v1/requests", native.requests_collection, name="api_requests"),
    path("api/v1/requests/<uuid:pk>", native.request_item, name="api_request"),
    path("api/v1/requests/<uuid:pk>/cancel", native.cancel_request, name="api_cancel"),
]

customer = [
    path("api/v1/tenants/<slug:slug>/audit/events", native.audit_feed, name="api_audit_feed"),
    # Google Access Approval v1.
    path("v1/organizations/<slug:slug>/approvalRequests", google.list_requests,
         name="google_list"),
    re_path(rf"^v1/organizations/(?P<slug>[-\w]+)/approvalRequests/{RID}"
            r"(?::(?P<verb>approve|dismiss|invalidate))?$", google.request_resource,
            name="google_request"),
    path("v1/organizations/<slug:slug>/accessApprovalSettings", google.settings_resource,
         name="google_settings"),
    # Azure Customer Lockbox.
    path("subscriptions/<slug:slug>/providers/Microsoft.CustomerLockbox/requests",
         azure.list_requests, name="azure_list"),
    re_path(rf"^subscriptions/(?P<slug>[-\w]+)/providers/Microsoft\.CustomerLockbox/"
            rf"requests/{RID}$", azure.get_request, name="azure_request"),
    re_path(rf"^subscriptions/(?P<slug>[-\w]+)/providers/Microsoft\.CustomerLockbox/"
            rf"requests/{RID}/updateApproval$", azure.update_approval, name="azure_update"),
    path("providers/Microsoft.CustomerLockbox/tenantOptedIn/<slug:slug>",
         azure.tenant_opted_in, name="azure_opted_in"),
    path("providers/Microsoft.CustomerLockbox/enableLockbox", azure.switch_lockbox,
         {"enable": True}, name="azure_enable"),
    path("providers/Microsoft.CustomerLockbox/disableLockbox", azure.switch_lockbox,
         {"enable": False}, name="azure_disable"),
]

shared = [path("api/v1/openapi.json", openapi_view, name="api_openapi")]

# Last of all, after every site's routes: any other address under the API prefixes answers
# the API's JSON 404 in every settings. (handler404 would too, but only with DEBUG off: with it
# on, Django answers its HTML debug page.)
PREFIXES = "|".join(re.escape(prefix.strip("/")) for prefix in API_PREFIXES)
fallback = [re_path(rf"^(?P<prefix>{PREFIXES})/", not_routed, name="api_not_routed")]
