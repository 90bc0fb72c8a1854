"""The OpenAPI 3 description of the Azure Customer Lockbox surface (Microsoft.CustomerLockbox,
api-version 2018-02-28-preview), served at /api/openapi/azure-customer-lockbox.json: a path
under Lockbox's own /api/, which neither surface can reach.

Shapes follow the spec's customerlockbox.json (LockboxRequestResponse, Approval,
OperationListResult, TenantOptInResponse, ErrorResponse); errors carry ARM's common codes.
"""

from approvals.api.azure import API_VERSION
from approvals.api.azure_shape import STATUSES
from approvals.api.openapi import IDEMPOTENCY, Spec, document, ref, serve


def version(required: bool = True) -> Spec:
    return {"name": "api-version", "in": "query", "required": required,
            "schema": {"type": "string", "enum": [API_VERSION]}}


SUBSCRIPTION = {"name": "subscriptionId", "in": "path", "required": True,
                "description": "A Lockbox tenant's slug.",
                "schema": {"type": "string", "pattern": "^[-A-Za-z0-9_]+$"}}
REQUEST_ID = {"name": "requestId", "in": "path", "required": True,
              "schema": {"type": "string", "format": "uuid"}}
ERRORS = {"default": {
    "description": "ARM's error shape and common codes: 400 MissingApiVersionParameter, "
                   "InvalidApiVersionParameter, InvalidRequestContent or BadRequest (target "
                   "names the parameter); 401 AuthenticationFailed; 403 AuthorizationFailed; "
                   "404 SubscriptionNotFound or ResourceNotFound; 409 Conflict (additionalInfo "
                   "gives the request's currentStatus); 413; 422 InvalidRequestContent (an "
                   "Idempotency-Key reused for another body); 503 ServiceUnavailable.",
    "content": {"application/json": {"schema": ref("ErrorResponse")}}}}
TEXT = {"type": "string"}


def _ok(schema: Spec) -> Spec:
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
            **ERRORS}


SCHEMAS: dict[str, Spec] = {
    "ErrorResponse": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message", "additionalInfo"],
            "properties": {
                "code": {"type": "string", "pattern": "^[A-Z][A-Za-z]+$"},
                "message": TEXT, "target": TEXT,
                "additionalInfo": {"type": "array", "items": {
                    "type": "object", "properties": {
                        "type": TEXT,
                        "info": {"type": "object", "properties": {
                            "currentStatus": ref("LockboxRequestStatus")}}}}}}}}},
    "LockboxRequestStatus": {"type": "string", "enum": list(STATUSES)},
    "LockboxRequestResponse": {
        "type": "object", "required": ["id", "name", "type", "properties"],
        "properties": {"id": TEXT, "name": TEXT, "type": TEXT,
                       "properties": ref("LockboxRequestResponseProperties")}},
    "LockboxRequestResponseProperties": {
        "type": "object",
        "required": ["requestId", "justification", "status", "createdDateTime",
                     "expirationDateTime", "duration", "resourceIds", "resourceType",
                     "supportRequest", "subscriptionId", "accessLevel"],
        "properties": {
            "requestId": TEXT, "justification": TEXT, "status": ref("LockboxRequestStatus"),
            "createdDateTime": {"type": "string", "format": "date-time"},
            "expirationDateTime": {"type": "string", "format": "date-time",
                                   "description": "When the request expires undecided."},
            "duration": {"type": "string", "pattern": r"^\d+(\.\d{1,4})?$",
                         "description": "Hours, as text: \"8\", \"0.5\" for 30 minutes."},
            "resourceIds": {"type": "string", "description": "Separated by ','."},
            "resourceType": {"type": "string",
                             "description": "The kinds of the resources, separated by ','."},
            "supportRequest": TEXT, "supportCaseUrl": TEXT, "workitemsource": TEXT,
            "subscriptionId": TEXT,
            "accessLevel": {"type": "string", "enum": ["read_only", "read_write"]}}},
    "RequestListResult": {
        "type": "object", "required": ["value"],
        "properties": {"value": {"type": "array", "items": ref("LockboxRequestResponse")},
                       "nextLink": {"type": "string", "format": "uri"}}},
    "Approval": {
        "type": "object", "required": ["status"], "additionalProperties": False,
        "properties": {"status": {"type": "string", "enum": ["Approve", "Deny"]},
                       "reason": {"type": "string", "maxLength": 2000}}},
    "TenantOptInResponse": {"type": "object", "required": ["isOptedIn"],
                            "properties": {"isOptedIn": {"type": "boolean"}}},
    "OperationListResult": {
        "type": "object", "required": ["value"],
        "properties": {"nextLink": TEXT, "value": {"type": "array", "items": {
            "type": "object", "required": ["name", "display", "isDataAction", "origin"],
            "properties": {
                "name": TEXT, "isDataAction": TEXT, "origin": TEXT, "properties": TEXT,
                "display": {"type": "object", "properties": {
                    "provider": TEXT, "resource": TEXT, "operation": TEXT,
                    "description": TEXT}}}}}}},
}
PROVIDER = "/providers/Microsoft.CustomerLockbox"
REQUESTS = "/subscriptions/{subscriptionId}/providers/Microsoft.CustomerLockbox/requests"

PATHS: dict[str, Spec] = {
    f"{PROVIDER}/operations": {"get": {
        "operationId": "Operations_List", "parameters": [version()],
        "responses": _ok(ref("OperationListResult"))}},
    REQUESTS: {"get": {
        "operationId": "Requests_List",
        "summary": "Newest first, 50 a page; follow nextLink (it keeps $filter).",
        "parameters": [
            SUBSCRIPTION, version(required=False),
            {"name": "$filter", "in": "query", "schema": {"type": "string"},
             "description": "Only properties/status eq '<LockboxRequestStatus>'."},
            {"name": "$skiptoken", "in": "query", "schema": {"type": "string"},
             "description": "From nextLink; nothing else."}],
        "responses": _ok(ref("RequestListResult"))}},
    f"{REQUESTS}/{{requestId}}": {"get": {
        "operationId": "Requests_Get", "parameters": [SUBSCRIPTION, REQUEST_ID, version()],
        "responses": _ok(ref("LockboxRequestResponse"))}},
    f"{REQUESTS}/{{requestId}}/updateApproval": {"post": {
        "operationId": "Requests_UpdateStatus",
        "parameters": [SUBSCRIPTION, REQUEST_ID, version(), IDEMPOTENCY],
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": ref("Approval")}}},
        "responses": _ok(ref("Approval"))}},
    f"{PROVIDER}/tenantOptedIn/{{tenantId}}": {"get": {
        "operationId": "Get_TenantOptedIn",
        "parameters": [{**SUBSCRIPTION, "name": "tenantId"}, version()],
        "responses": _ok(ref("TenantOptInResponse"))}},
    f"{PROVIDER}/enableLockbox": {"post": {
        "operationId": "Post_EnableLockbox", "parameters": [version(), IDEMPOTENCY],
        "responses": _ok({"type": "object"})}},
    f"{PROVIDER}/disableLockbox": {"post": {
        "operationId": "Post_DisableLockbox", "parameters": [version(), IDEMPOTENCY],
        "responses": _ok({"type": "object"})}},
}


def spec() -> Spec:
    return document(
        title="Lockbox: Azure Customer Lockbox", version=API_VERSION, paths=PATHS, schemas=SCHEMAS,
        description="Microsoft.CustomerLockbox for a tenant as "
                    "/subscriptions/{slug}.")


openapi_view = serve(spec)
