"""The shared machinery of every API view: tokens, JSON in and out, errors, idempotency.

Each API has its own error shape (native, Google, Azure); `ApiError` carries the facts and
`api_view` renders them in the right one. Nothing raised inside a view becomes a 500: domain
refusals map to 403/404/409, bad input to 400/413/422, an unreachable database to 503.
"""

import hashlib
import json
from functools import wraps

from django.core.exceptions import ValidationError
from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from approvals.api import tokens
from approvals.api.models import IdempotentResponse
from approvals.errors import AlreadyDecided, IllegalTransition, NotPermitted, TransitionError
from lockbox_portal import clock

MAX_BODY = 1024 * 1024
GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "NOT_FOUND", 405: "UNIMPLEMENTED", 409: "ABORTED",
                 413: "INVALID_ARGUMENT", 422: "INVALID_ARGUMENT", 503: "UNAVAILABLE"}
# Google's canonical codes: an ApiError whose code is one of these is rendered with it (a
# wrong-state action is HTTP 400 FAILED_PRECONDITION, which the status alone cannot say).
GOOGLE_CODES = {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE", "UNAUTHENTICATED",
                "PERMISSION_DENIED", "NOT_FOUND", "ABORTED", "ALREADY_EXISTS",
                "RESOURCE_EXHAUSTED", "UNIMPLEMENTED", "UNAVAILABLE"}
# Azure Resource Manager's common codes for Lockbox's own snake_case ones; codes an Azure view
# raises itself (already PascalCase) pass through unchanged.
AZURE_CODES = {"invalid_json": "InvalidRequestContent", "unknown_field": "InvalidRequestContent",
               "invalid": "InvalidRequestContent"}
AZURE_STATUS = {400: "BadRequest", 401: "AuthenticationFailed", 403: "AuthorizationFailed",
                404: "ResourceNotFound", 405: "MethodNotAllowed", 409: "Conflict",
                413: "RequestEntityTooLarge", 422: "InvalidRequestContent",
                503: "ServiceUnavailable"}


class ApiError(Exception):
    def __init__(self, status, code, message, details=None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_body(flavour, error):
    """The error in the caller's dialect. Azure's `details` may name a `target` (the field at
    fault) and `additionalInfo` ([{"type", "info"}], e.g. the request's currentStatus)."""
    if flavour == "google":
        status = error.code if error.code in GOOGLE_CODES else GOOGLE_STATUS.get(error.status,
                                                                                 "UNKNOWN")
        return {"error": {"code": error.status, "message": error.message, "status": status}}
    if flavour == "azure":
        code = error.code
        if not code[:1].isupper():
            code = AZURE_CODES.get(code) or AZURE_STATUS.get(error.status, "BadRequest")
        details = error.details if isinstance(error.details, dict) else {}
        body = {"code": code, "message": error.message,
                "additionalInfo": details.get("additionalInfo", [])}
        if details.get("target"):
            body["target"] = details["target"]
        return {"error": body}
    body = {"error": {"code": error.code, "message": error.message}}
    if error.details:
        body["error"]["details"] = error.details
    return body


def json_body(request, *, allow_empty=False):
    """The request's JSON object, or ApiError(400/413)."""
    if len(request.body) > MAX_BODY:
        raise ApiError(413, "too_large", f"The body is larger than {MAX_BODY} bytes.")
    if not request.body:
        if allow_empty:
            return {}
        raise ApiError(400, "invalid_json", "Send a JSON object as the body.")
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    if _has_nul(data):
        raise ApiError(400, "invalid", "Text may not contain NUL characters.")
    return data


def _has_nul(value):
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def only_fields(data, allowed):
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown field {unknown[0]!r}.",
                       {"allowed": sorted(allowed)})


def _validation_error(invalid):
    details = invalid.message_dict if hasattr(invalid, "error_dict") else None
    first = next(iter(details.values()))[0] if details else invalid.messages[0]
    return ApiError(400, "invalid", first, details)


def _transition_error(refused, flavour="native"):
    """A refused move in the caller's dialect: Google answers a wrong state with HTTP 400
    FAILED_PRECONDITION (as its API documents), Azure with 409 Conflict."""
    if isinstance(refused, NotPermitted):
        code = {"google": "PERMISSION_DENIED", "azure": "AuthorizationFailed"}
        return ApiError(403, code.get(flavour, "not_permitted"), refused.message)
    if flavour == "google":
        return ApiError(400, "FAILED_PRECONDITION", refused.message)
    if flavour == "azure":
        return ApiError(409, "Conflict", refused.message)
    if isinstance(refused, AlreadyDecided):
        return ApiError(409, "already_decided", refused.message)
    if isinstance(refused, IllegalTransition):
        return ApiError(409, "conflict", refused.message)
    return ApiError(409, "conflict", refused.message)


def api_view(*, methods, scopes=(), flavour="native", idempotent=False, unavailable=None,
             authenticate=True, atomic=True):
    """Authenticate the bearer token, check its scopes, run the view, render errors.

    With `authenticate=False` the view reads the token itself (the access check does, to ask
    the database once for the token and the grants together) and must check its scopes.

    A call that may change something (any method but GET) runs in one transaction whose commit
    is the last thing before the answer: the answer is built before the commit, so a change that
    committed is never reported as failed because the database went away afterwards, and one
    that did not commit is never reported as done. `atomic=False` is for read-only POSTs on the
    hot path (the access check), which need no transaction.

    With `idempotent`, a POST carrying an Idempotency-Key runs once per token and key: the
    work and the stored answer commit together, and a replay gets the first answer again.
    """

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                if request.method not in methods:
                    raise ApiError(405, "method_not_allowed",
                                   f"Use {' or '.join(methods)} here.")
                if any("\x00" in v for values in request.GET.lists() for v in values[1]):
                    raise ApiError(400, "invalid", "Text may not contain NUL characters.")
                if authenticate:
                    authenticate_request(request, scopes)
                key = request.headers.get("Idempotency-Key", "").strip()
                if idempotent and request.method == "POST" and key:
                    status, body = _once(request, key, lambda: view(request, *args, **kwargs))
                elif atomic and request.method != "GET":
                    with transaction.atomic():
                        status, body = view(request, *args, **kwargs)
                else:
                    status, body = view(request, *args, **kwargs)
            except ApiError as error:
                return JsonResponse(error_body(flavour, error), status=error.status)
            except ValidationError as invalid:
                error = _validation_error(invalid)
                return JsonResponse(error_body(flavour, error), status=400)
            except TransitionError as refused:
                error = _transition_error(refused, flavour)
                return JsonResponse(error_body(flavour, error), status=error.status)
            except DataError:
                # A value the database cannot store (PostgreSQL refuses NUL in text, say):
                # bad input, not an outage.
                error = ApiError(400, "invalid", "A value in the request cannot be stored.")
                return JsonResponse(error_body(flavour, error), status=400)
            except DatabaseError:
                error = ApiError(503, "unavailable", "Lockbox cannot reach its database; "
                                 "try again shortly.")
                # `unavailable` adds what a caller must assume, e.g. {"allowed": False}.
                return JsonResponse({**(unavailable or {}), **error_body(flavour, error)},
                                    status=503)
            return JsonResponse(body, status=status, safe=False)

        wrapper.lockbox_api = True
        return wrapper

    return decorate


def bearer(request):
    """The raw bearer value of the Authorization header, or ApiError(401)."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401, "unauthenticated", tokens.MALFORMED)
    return raw.strip()


def require_scopes(token_scopes, scopes):
    missing = [s for s in scopes if s not in token_scopes]
    if missing:
        raise ApiError(403, "insufficient_scope", f"This token lacks the {missing[0]} scope.")


def authenticate_request(request, scopes=()):
    """Set request.api_token from the bearer token, or raise ApiError(401/403)."""
    raw = bearer(request)
    now = clock.now()
    token, problem = tokens.authenticate(raw, now)
    if token is None:
        raise ApiError(401, "unauthenticated", problem)
    require_scopes(token.scopes, scopes)
    tokens.touch(token, now)
    request.api_token = token
    return token


class _Raced(Exception):
    pass


def _once(request, key, run):
    if len(key) > 200:
        raise ApiError(400, "invalid", "An Idempotency-Key is at most 200 characters.")
    fingerprint = hashlib.sha256(request.method.encode() + b" " + request.path.encode()
                                 + b"\n" + request.body).hexdigest()
    stored = IdempotentResponse.objects.filter(token=request.api_token, key=key).first()
    if stored is None:
        try:
            with transaction.atomic():
                status, body = run()
                if status < 500:
                    try:
                        with transaction.atomic():
                            IdempotentResponse.objects.create(
                                token=request.api_token, key=key, fingerprint=fingerprint,
                                status=status, body=body, created_at=clock.now())
                    except IntegrityError:
                        raise _Raced from None
                return status, body
        except _Raced:
            # The same key raced us and won: undo our work, and answer with its answer.
            stored = IdempotentResponse.objects.get(token=request.api_token, key=key)
    if stored.fingerprint != fingerprint:
        raise ApiError(422, "idempotency_key_reused",
                       "This Idempotency-Key was used for a different request.")
    return stored.status, stored.body
