"""The OpenAPI 3 description of the Google Access Approval v1 surface, served at
/api/openapi/google-access-approval-v1.json: a path under Lockbox's own /api/, which neither
Google's /v1/ nor Azure's /subscriptions/ and /providers/ can reach.

The shapes follow google.cloud.accessapproval.v1 (JSON names, as the REST client sends and
reads them); `lockbox` objects are Lockbox's own, which Google's client ignores.
"""

from approvals.api.google_shape import REASON_NAMES
from approvals.api.openapi import IDEMPOTENCY, Spec, document, ref, serve
from approvals.tenants import MAX_NOTIFICATION_EMAILS

TIME = {"type": "string", "format": "date-time"}
ORGANIZATION = {"name": "organization", "in": "path", "required": True,
                "description": "A Lockbox tenant's slug: organizations/{organization}.",
                "schema": {"type": "string", "pattern": "^[-A-Za-z0-9_]+$"}}
APPROVAL_REQUEST = {"name": "approvalRequest", "in": "path", "required": True,
                    "schema": {"type": "string", "format": "uuid"}}
ALT = {"name": "$alt", "in": "query", "required": False,
       "description": "Google's client sends json;enum-encoding=int: enums are then numbers.",
       "schema": {"type": "string"}}
ERRORS = {"default": {
    "description": "Google's error: 400 INVALID_ARGUMENT (bad input) or FAILED_PRECONDITION "
                   "(the request is not in a state for this), 401 UNAUTHENTICATED, "
                   "403 PERMISSION_DENIED, 404 NOT_FOUND, 413, 422 (an Idempotency-Key reused "
                   "for another body), 503 UNAVAILABLE.",
    "content": {"application/json": {"schema": ref("Status")}}}}


def _ok(schema: Spec) -> Spec:
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
            **ERRORS}


def _body(name: str, required: bool = True) -> Spec:
    return {"required": required, "content": {"application/json": {"schema": ref(name)}}}


SCHEMAS: dict[str, Spec] = {
    "Status": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message", "status"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"},
                           "status": {"type": "string"},
                           "details": {"type": "array", "items": {"type": "object"}}}}}},
    "ApprovalRequest": {
        "type": "object",
        "required": ["name", "requestedResourceName", "requestedResourceProperties",
                     "requestedReason", "requestTime", "requestedExpiration"],
        "properties": {
            "name": {"type": "string"},
            "requestedResourceName": {
                "type": "string",
                "description": "The resource; for a request naming several, all of them "
                               "separated by ', '."},
            "requestedResourceProperties": {
                "type": "object", "properties": {"excludesDescendants": {"type": "boolean"}}},
            "requestedReason": {
                "type": "object", "required": ["type", "detail"],
                "properties": {
                    "type": {"enum": [*REASON_NAMES.values(), *REASON_NAMES]},
                    "detail": {"type": "string", "description": "Case Number, access level "
                                                                "and justification."}}},
            "requestTime": TIME,
            "requestedExpiration": {**TIME, "description": "When the access would end if "
                                                           "approved now."},
            "approve": ref("ApproveDecision"),
            "dismiss": ref("DismissDecision"),
            "lockbox": {"type": "object", "description": "Lockbox's own fields: state, "
                                                         "scope, accessLevel, approvals, ..."}},
        "not": {"required": ["approve", "dismiss"]}},
    "ApproveDecision": {
        "type": "object", "required": ["approveTime", "expireTime", "autoApproved"],
        "properties": {"approveTime": TIME, "expireTime": TIME, "invalidateTime": TIME,
                       "autoApproved": {"type": "boolean"}}},
    "DismissDecision": {
        "type": "object", "required": ["dismissTime", "implicit"],
        "properties": {"dismissTime": TIME, "implicit": {"type": "boolean"}}},
    "ListApprovalRequestsResponse": {
        "type": "object", "required": ["approvalRequests"],
        "properties": {"approvalRequests": {"type": "array", "items": ref("ApprovalRequest")},
                       "nextPageToken": {"type": "string"}}},
    "ApproveApprovalRequestMessage": {
        "type": "object", "additionalProperties": False,
        "properties": {"name": {"type": "string"},
                       "expireTime": {**TIME, "description": "A future moment; the grant ends "
                                                             "no later (nor later than the "
                                                             "policy allows)."}}},
    "NameOnlyMessage": {"type": "object", "additionalProperties": False,
                        "properties": {"name": {"type": "string"}}},
    "EnrolledService": {
        "type": "object", "additionalProperties": False,
        "properties": {"cloudProduct": {"type": "string"},
                       "enrollmentLevel": {"enum": ["BLOCK_ALL", 1]}}},
    "AccessApprovalSettings": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "notificationEmails": {"type": "array", "maxItems": MAX_NOTIFICATION_EMAILS,
                                   "items": {"type": "string", "format": "email"}},
            "enrolledServices": {"type": "array", "items": ref("EnrolledService"),
                                 "description": "Any entry turns Lockbox on; none, off."},
            "enrolledAncestor": {"type": "boolean"},
            "activeKeyVersion": {"type": "string"},
            "ancestorHasActiveKeyVersion": {"type": "boolean"},
            "invalidKeyVersion": {"type": "boolean"},
            "lockbox": {"type": "object"}}},
}
REQUEST = "/v1/organizations/{organization}/approvalRequests/{approvalRequest}"


def _verb(operation: str, summary: str, body: str) -> Spec:
    return {"post": {"operationId": operation, "summary": summary,
                     "parameters": [ORGANIZATION, APPROVAL_REQUEST, ALT, IDEMPOTENCY],
                     "requestBody": _body(body, required=False),
                     "responses": _ok(ref("ApprovalRequest"))}}


PATHS: dict[str, Spec] = {
    "/v1/organizations/{organization}/approvalRequests": {"get": {
        "operationId": "listApprovalRequests",
        "summary": "Newest first; filter PENDING, ACTIVE, DISMISSED, EXPIRED, HISTORY or ALL "
                   "(none: pending or active).",
        "parameters": [
            ORGANIZATION, ALT,
            {"name": "filter", "in": "query", "schema": {"type": "string"}},
            {"name": "pageSize", "in": "query",
             "description": "0 or none: 50; at most 100 are returned.",
             "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}},
            {"name": "pageToken", "in": "query", "schema": {"type": "string"}}],
        "responses": _ok(ref("ListApprovalRequestsResponse"))}},
    REQUEST: {"get": {"operationId": "getApprovalRequest",
                      "parameters": [ORGANIZATION, APPROVAL_REQUEST, ALT],
                      "responses": _ok(ref("ApprovalRequest"))}},
    f"{REQUEST}:approve": _verb(
        "approveApprovalRequest", "Approve, if you like only until expireTime. With a quorum, "
        "the request stays pending (and shows `approve`) until enough approvers approved.",
        "ApproveApprovalRequestMessage"),
    f"{REQUEST}:dismiss": _verb("dismissApprovalRequest", "Reject a pending request.",
                                "NameOnlyMessage"),
    f"{REQUEST}:invalidate": _verb("invalidateApprovalRequest",
                                   "Take away access that was granted.", "NameOnlyMessage"),
    "/v1/organizations/{organization}/accessApprovalSettings": {
        "get": {"operationId": "getAccessApprovalSettings",
                "parameters": [ORGANIZATION, ALT],
                "responses": _ok(ref("AccessApprovalSettings"))},
        "patch": {"operationId": "updateAccessApprovalSettings",
                  "parameters": [ORGANIZATION, ALT,
                                 {"name": "updateMask", "in": "query",
                                  "description": "notificationEmails and/or enrolledServices "
                                                 "(none: notificationEmails).",
                                  "schema": {"type": "string"}}],
                  "requestBody": _body("AccessApprovalSettings"),
                  "responses": _ok(ref("AccessApprovalSettings"))}},
}


def spec() -> Spec:
    return document(
        title="Lockbox: Google Access Approval v1", version="v1", paths=PATHS, schemas=SCHEMAS,
        description="google.cloud.accessapproval.v1 over REST, for a tenant as "
                    "organizations/{slug}. The official client works unmodified.")


openapi_view = serve(spec)
