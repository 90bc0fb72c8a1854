"""The OpenAPI 3 description of Lockbox's own API, served at /api/v1/openapi.json."""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from approvals.api.native import FEED_MAX, PAGE_MAX, SEQ_MAX
from lockbox_portal.security.headers import mark_api_view

# A piece of an OpenAPI document (a schema, a parameter, a response...), as JSON.
Spec = dict[str, Any]

ERROR = {"$ref": "#/components/schemas/Error"}
# No text anywhere may hold NUL: PostgreSQL cannot store it, so Lockbox refuses it everywhere.
NO_NUL = r"^[^\x00]*$"


def text(limit: int, **extra: Any) -> Spec:
    """A string with something in it besides spaces, and no NUL, as the API requires. A "space"
    is whatever Python's str.strip() removes, which the API does: ECMA's whitespace class plus
    the information separators U+001C to U+001F and U+0085 (a lone U+001F was schema-valid yet
    refused)."""
    return {"type": "string", "minLength": 1, "maxLength": limit,
            "pattern": r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$", **extra}


TIME = {"type": ["string", "null"], "format": "date-time"}
STATES = ["pending_internal", "pending_customer", "approved", "denied", "expired", "cancelled",
          "revoked", "completed"]


def _header(description: str) -> Spec:
    return {"required": True, "description": description, "schema": {"type": "string"}}


def _errors(*codes: int) -> Spec:
    names = {400: "The input is not valid.", 401: "No usable token.",
             403: "The token's scope or its owner's role does not allow this.",
             404: "Not found (or not visible to this token).", 405: "Method not allowed.",
             409: "The request is no longer in a state that allows this.",
             413: "The body is over 1 MiB, or the batch over 500 actions.",
             422: "Idempotency-Key reused for another body.",
             503: "Lockbox cannot reach its database."}
    headers = {401: {"WWW-Authenticate": _header(
                   'Bearer realm="lockbox", with error="invalid_token" when a token was sent '
                   "and refused (RFC 6750).")},
               405: {"Allow": _header("The methods this address takes.")}}
    return {str(code): {"description": names[code],
                        **({"headers": headers[code]} if code in headers else {}),
                        "content": {"application/json": {"schema": ERROR}}} for code in codes}


def _ok(code: int, description: str, schema: Spec) -> Spec:
    return {str(code): {"description": description,
                        "content": {"application/json": {"schema": schema}}}}


def ref(name: str) -> Spec:
    return {"$ref": f"#/components/schemas/{name}"}


# The same on every surface: Lockbox's own, also on the Google and Azure ones.
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "description": "Send the same key to retry safely: the first answer is repeated.",
               "schema": {"type": "string", "maxLength": 200}}
REQUEST_ID = {"name": "id", "in": "path", "required": True,
              "schema": {"type": "string", "format": "uuid"}}

SCHEMAS: dict[str, Spec] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "details": {"type": "object"}}}}},
    "AccessCheck": {
        "type": "object", "required": ["engineer", "tenant", "resource"],
        "additionalProperties": False,
        "properties": {
            "engineer": text(254, description="The engineer's e-mail address."),
            "tenant": text(63, description="The tenant's slug."),
            "resource": text(512),
            "access_level": {"type": "string", "enum": ["read_only", "read_write"],
                             "default": "read_only"},
            "operation": text(64, description="For your logs; not judged.")}},
    "AccessDecision": {
        "type": "object", "required": ["allowed", "reason", "request_id", "ends_at"],
        "properties": {"allowed": {"type": "boolean"}, "reason": {"type": "string"},
                       "request_id": {"type": ["string", "null"]}, "ends_at": TIME}},
    "Unavailable": {
        "type": "object", "required": ["allowed", "reason", "error"],
        "properties": {"allowed": {"type": "boolean", "const": False},
                       "reason": {"type": "string"},
                       "error": {}}},
    "ActivityBatch": {
        "type": "object", "required": ["tenant", "engineer", "actions"],
        "additionalProperties": False,
        "properties": {
            "tenant": text(63), "engineer": text(254),
            "actions": {"type": "array", "minItems": 1, "maxItems": 500, "items": {
                "type": "object", "required": ["resource", "operation", "at"],
                "additionalProperties": False,
                "properties": {
                    "resource": text(512), "operation": text(64),
                    "access_level": {"type": "string", "enum": ["read_only", "read_write"]},
                    "at": {"type": "string", "format": "date-time"},
                    "outcome": {"type": "string", "enum": ["success", "failure", "denied"]}}}}}},
    "ActivityResult": {
        "type": "object", "required": ["recorded", "out_of_scope", "results"],
        "properties": {
            "recorded": {"type": "integer"}, "out_of_scope": {"type": "integer"},
            "results": {"type": "array", "items": {
                "type": "object", "required": ["seq", "in_scope", "request_id", "problem"],
                "properties": {"seq": {"type": "integer"}, "in_scope": {"type": "boolean"},
                               "request_id": {"type": ["string", "null"]},
                               "problem": {"type": ["string", "null"]}}}}}},
    "NewRequest": {
        "type": "object", "additionalProperties": False,
        "required": ["tenant", "case_reference", "justification", "reason_type", "scope",
                     "duration_minutes"],
        "properties": {
            "tenant": text(63), "case_reference": text(64), "justification": text(4000),
            "reason_type": {"type": "string", "enum": [
                "customer_initiated_support", "provider_initiated_service",
                "provider_initiated_review", "third_party_data_request", "production_alert"]},
            "scope": {"type": "array", "minItems": 1, "maxItems": 50,
                      "items": text(512, pattern=r"^[^\s*\x00]+(/\*)?$")},
            "access_level": {"type": "string", "enum": ["read_only", "read_write"]},
            "duration_minutes": {"type": "integer", "minimum": 1, "maximum": 10080,
                                 "description": "At most the tenant's maximum."},
            "touches_customer_content": {"type": "boolean"}}},
    "Request": {
        "type": "object",
        "required": ["id", "reference", "tenant", "requester", "state", "scope"],
        "properties": {
            "id": {"type": "string"}, "reference": {"type": "string"},
            "tenant": {"type": "string"}, "requester": {"type": "string"},
            "case_reference": {"type": "string"}, "justification": {"type": "string"},
            "reason_type": {"type": "string"},
            "scope": {"type": "array", "items": {"type": "string"}},
            "access_level": {"type": "string"}, "requested_seconds": {"type": "integer"},
            "touches_customer_content": {"type": "boolean"},
            "state": {"type": "string", "enum": STATES},
            "required_approvals": {"type": ["integer", "null"]},
            "customer_step_skipped": {"type": ["string", "null"]},
            "created_at": TIME, "internal_expires_at": TIME, "customer_expires_at": TIME,
            "access_starts_at": TIME, "access_ends_at": TIME, "closed_at": TIME}},
    "RequestPage": {
        "type": "object", "required": ["requests", "next_cursor"],
        "properties": {"requests": {"type": "array",
                                    "items": {"$ref": "#/components/schemas/Request"}},
                       "next_cursor": {"type": ["string", "null"]}}},
    "Cancel": {"type": "object", "additionalProperties": False,
               "properties": {"comment": {"type": "string", "maxLength": 2000,
                                          "pattern": NO_NUL}}},
    "AuditEvent": {
        "type": "object",
        "required": ["chain", "seq", "occurred_at", "action", "prev_hash", "hash"],
        "properties": {
            "chain": {"type": "string"}, "seq": {"type": "integer"},
            "occurred_at": {"type": "string"}, "action": {"type": "string"},
            "actor_id": {"type": ["integer", "null"]}, "actor_email": {"type": "string"},
            "request_id": {"type": ["string", "null"]}, "data": {"type": "object"},
            "prev_hash": {"type": "string"}, "hash": {"type": "string"}}},
    "AuditPage": {
        "type": "object", "required": ["events", "next_after_seq", "has_more"],
        "properties": {"events": {"type": "array",
                                  "items": {"$ref": "#/components/schemas/AuditEvent"}},
                       "next_after_seq": {"type": "integer"},
                       "has_more": {"type": "boolean"}}},
}
# A 503 from the access check is an error that also says what to assume: no.
SCHEMAS["Unavailable"]["properties"]["error"] = SCHEMAS["Error"]["properties"]["error"]
REF = {name: {"$ref": f"#/components/schemas/{name}"} for name in SCHEMAS}


# One real call each, in the demo's names (README.md); clients and schemathesis both use them.
ENGINEER = "engineer1@provider.example"
RESOURCE = "exchange/mailbox/j.smith@contoso.example/statistics"
EXAMPLES = {
    "AccessCheck": {"engineer": ENGINEER, "tenant": "contoso", "resource": RESOURCE,
                    "access_level": "read_only"},
    "ActivityBatch": {"tenant": "contoso", "engineer": ENGINEER, "actions": [
        {"resource": RESOURCE, "operation": "read", "access_level": "read_only",
         "at": "2026-03-02T09:14:00Z", "outcome": "success"}]},
    "NewRequest": {"tenant": "contoso", "case_reference": "CASE-4821",
                   "justification": "Mail rules stopped syncing; we need to read them.",
                   "reason_type": "customer_initiated_support",
                   "scope": ["exchange/mailbox/j.smith@contoso.example/*"],
                   "access_level": "read_only", "duration_minutes": 60},
    "Cancel": {"comment": "Solved without access."},
}


def _body(name: str, required: bool = True) -> Spec:
    return {"required": required, "content": {"application/json": {
        "schema": REF[name], "example": EXAMPLES[name]}}}


PATHS_INTERNAL: dict[str, Spec] = {
    "/api/v1/access/check": {"post": {
        "operationId": "checkAccess", "tags": ["data plane"],
        "summary": "May this engineer use this level on this resource of this tenant, now?",
        "description": "Needs the access:check scope. Fails closed: 503 with allowed=false.",
        "requestBody": _body("AccessCheck"),
        "responses": {**_ok(200, "The decision.", REF["AccessDecision"]),
                      **_errors(400, 401, 403, 405, 413),
                      "503": {"description": "Lockbox cannot answer: the answer is no.",
                              "content": {"application/json": {"schema": REF["Unavailable"]}}}},
    }},
    "/api/v1/activity": {"post": {
        "operationId": "recordActivity", "tags": ["data plane"],
        "summary": "Report what an engineer did; out-of-scope actions are flagged.",
        "parameters": [IDEMPOTENCY], "requestBody": _body("ActivityBatch"),
        "responses": {**_ok(200, "Recorded.", REF["ActivityResult"]),
                      **_errors(400, 401, 403, 404, 405, 413, 422, 503)},
    }},
    "/api/v1/requests": {
        "get": {
            "operationId": "listRequests", "tags": ["provider automation"],
            "parameters": [
                {"name": "state", "in": "query", "schema": {"type": "string", "enum": STATES}},
                {"name": "tenant", "in": "query", "description": "A tenant's slug.",
                 "schema": {"type": "string", "pattern": NO_NUL}},
                {"name": "limit", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX}},
                {"name": "cursor", "in": "query",
                 "description": "The next_cursor of the previous page, as it was given.",
                 "schema": {"type": "string"}}],
            "responses": {**_ok(200, "Newest first.", REF["RequestPage"]),
                          **_errors(400, 401, 403, 405, 413, 503)}},
        "post": {
            "operationId": "createRequest", "tags": ["provider automation"],
            "summary": "Ask for access as the token's owner (an engineer).",
            "parameters": [IDEMPOTENCY], "requestBody": _body("NewRequest"),
            "responses": {**_ok(201, "Created.", REF["Request"]),
                          **_errors(400, 401, 403, 404, 405, 413, 422, 503)}},
    },
    "/api/v1/requests/{id}": {"get": {
        "operationId": "getRequest", "tags": ["provider automation"],
        "parameters": [REQUEST_ID],
        "responses": {**_ok(200, "The request.", REF["Request"]),
                      **_errors(400, 401, 403, 404, 405, 413, 503)},
    }},
    "/api/v1/requests/{id}/cancel": {"post": {
        "operationId": "cancelRequest", "tags": ["provider automation"],
        "parameters": [REQUEST_ID, IDEMPOTENCY],
        "requestBody": _body("Cancel", required=False),
        "responses": {**_ok(200, "Cancelled.", REF["Request"]),
                      **_errors(400, 401, 403, 404, 405, 409, 413, 422, 503)},
    }},
}
PATHS_CUSTOMER: dict[str, Spec] = {
    "/api/v1/tenants/{tenant}/audit/events": {"get": {
        "operationId": "auditFeed", "tags": ["customer automation"],
        "summary": "The tenant's events after after_seq, in order, with their hashes.",
        "parameters": [
            {"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "after_seq", "in": "query",
             "schema": {"type": "integer", "minimum": 0, "maximum": SEQ_MAX}},
            {"name": "limit", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": FEED_MAX}}],
        "responses": {**_ok(200, "A page of events.", REF["AuditPage"]),
                      **_errors(400, 401, 403, 404, 405, 413, 503)},
    }},
}


def document(*, title: str, version: str, description: str, paths: dict[str, Spec],
             schemas: dict[str, Spec]) -> Spec:
    """An OpenAPI 3.1 document for one of Lockbox's API surfaces, each with a bearer token."""
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer"}}},
        "security": [{"token": []}],
    }


def serve(build: Callable[[], Spec]) -> Callable[[HttpRequest], JsonResponse]:
    """The view that serves the document `build()` returns: GET or HEAD, no token needed."""

    @mark_api_view
    @csrf_exempt
    def view(request: HttpRequest) -> JsonResponse:
        if request.method not in ("GET", "HEAD"):
            return JsonResponse(
                {"error": {"code": "method_not_allowed", "message": "Use GET here."}},
                status=405, headers={"Allow": "GET, HEAD"})
        return JsonResponse(build())

    return view


def spec(site: str) -> Spec:
    paths: dict[str, Spec] = {}
    if site in ("internal", "all"):
        paths.update(PATHS_INTERNAL)
    if site in ("customer", "all"):
        paths.update(PATHS_CUSTOMER)
    return document(
        title="Lockbox API", version="1.0.0", paths=paths, schemas=SCHEMAS,
        description="Errors always have the shape {\"error\": {\"code\", \"message\", "
                    "\"details\"?}}; code is machine-readable. Bodies are JSON objects of at "
                    "most 1 MiB, nested at most 32 levels; text never holds NUL. Resource "
                    "identifiers are canonical (README, 'Resource identifiers').")


openapi_view = serve(lambda: spec(settings.LOCKBOX_SITE))
