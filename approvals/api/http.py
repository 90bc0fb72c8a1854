"""The shared machinery of every API view: tokens, JSON in and out, errors, idempotency.

Each API has its own error shape (native, Google, Azure); `ApiError` carries the facts and
`api_view` renders them in the right one. Nothing raised inside a view becomes a 500: domain
refusals map to 403/404/409, bad input to 400/413/422, an unreachable database to 503.

Who is asking is settled before what they sent is read: the token first, then the body's size,
then its JSON, bounded in size and depth so no input can exhaust memory or the stack.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from functools import wraps
from typing import Any, NoReturn, TypeVar, cast

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, ValidationError
from django.db import DatabaseError, DataError, IntegrityError, models, transaction
from django.http import Http404, HttpRequest, JsonResponse, UnreadablePostError
from django.views.decorators.csrf import csrf_exempt

from approvals import tokens
from approvals.api.models import ApiToken, IdempotentResponse
from approvals.errors import AlreadyDecided, IllegalTransition, NotPermitted, TransitionError
from lockbox_portal import clock
from lockbox_portal.logs import context as log_context
from lockbox_portal.security.headers import mark_api_view

M = TypeVar("M", bound=models.Model)
# What an API view returns: the HTTP status and the JSON body (api_view renders it).
ViewResult = tuple[int, Any]
ApiView = Callable[..., ViewResult]


class ApiRequest(HttpRequest):
    """A request that api_view (or the view itself, with authenticate=False) has authenticated:
    never instantiated, only the type API views take."""

    api_token: ApiToken

MAX_BODY = 1024 * 1024
# Every documented body nests three levels at most; 32 leaves room for clients' own extras while
# keeping whatever walks the data later (validation, the audit's encoding) far from Python's
# recursion limit.
MAX_DEPTH = 32
DRAIN_MAX = 32 * 1024 * 1024
REALM = 'Bearer realm="lockbox"'
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
    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers or {}


def error_body(flavour: str, error: ApiError) -> dict[str, Any]:
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
        body: dict[str, Any] = {"code": code, "message": error.message,
                                "additionalInfo": details.get("additionalInfo", [])}
        if details.get("target"):
            body["target"] = details["target"]
        return {"error": body}
    body = {"error": {"code": error.code, "message": error.message}}
    if error.details:
        body["error"]["details"] = error.details
    return body


def json_body(request: HttpRequest, *, allow_empty: bool = False) -> dict[str, Any]:
    """The request's JSON object, or ApiError(400/413).

    At most MAX_BODY bytes (refused from Content-Length before anything is read) and MAX_DEPTH
    levels; no NaN or Infinity, which JSON does not have; no NUL in any text.
    """
    body = _body(request)
    if not body:
        if allow_empty:
            return {}
        raise ApiError(400, "invalid_json", "Send a JSON object as the body.")
    try:
        data = json.loads(body, parse_constant=_no_constant)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    _check_values(data)
    return data


def check_size(request: HttpRequest) -> None:
    """ApiError(413) when the declared body is over MAX_BODY, before a byte of it is read."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "invalid", "Content-Length is not a number.") from None
    if declared > MAX_BODY:
        raise _too_large()


def _body(request: HttpRequest) -> bytes:
    check_size(request)
    try:
        body = request.body
    except RequestDataTooBig:
        raise _too_large() from None
    if len(body) > MAX_BODY:
        raise _too_large()
    return body


def _too_large() -> ApiError:
    return ApiError(413, "too_large", f"The body is larger than {MAX_BODY} bytes.")


def _too_deep() -> ApiError:
    return ApiError(400, "invalid_json", f"The body nests deeper than {MAX_DEPTH} levels.")


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _check_values(data: dict[str, Any]) -> None:
    """Depth and text, walked with a list rather than recursion, so depth cannot hurt here."""
    # Only containers are queued; the texts in each are checked as it is read (an activity
    # batch holds 500 objects of five texts each).
    pending: list[tuple[dict[str, Any] | list[Any], int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        for item in ([*value.keys(), *value.values()] if isinstance(value, dict) else value):
            if isinstance(item, str):
                if _UNSTORABLE.search(item):
                    _check_text(item)
            elif isinstance(item, dict | list):
                pending.append((item, depth + 1))


# JSON may spell a lone UTF-16 surrogate ("\ud800"), which no database can store in UTF-8;
# and PostgreSQL stores no NUL in text.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check_text(value: str) -> None:
    if "\x00" in value:
        raise ApiError(400, "invalid", "Text may not contain NUL characters.")
    if _UNSTORABLE.search(value):
        raise ApiError(400, "invalid", "Text may not contain unpaired UTF-16 surrogates.")


def parse_time(value: object, field: str) -> datetime:
    """A time sent from outside ("2026-03-02T09:00:00Z") in UTC, or ApiError(400) naming the
    field.

    Never a crash for a well-shaped impossible one (February 30th, 25 o'clock) nor for one that
    exists only in its own zone (0001-01-01T00:00+05:00 is before year 1 in UTC, and SQLite
    would overflow converting it); never a time without its offset, which would silently mean
    the server's zone.
    """
    moment = clock.parse_instant(value)
    if moment is not None:
        return moment.astimezone(UTC)
    raise ApiError(400, "invalid", f"{field}: a real moment in RFC 3339 with its offset, "
                                   "such as 2026-03-02T09:00:00Z.")


def by_id(rows: models.QuerySet[M], raw_id: object) -> M | None:
    """The row of `rows` whose primary key is the UUID `raw_id`; None when there is none or
    `raw_id` is not a UUID at all (the Google and Azure routes take any id)."""
    try:
        return rows.filter(pk=uuid.UUID(str(raw_id))).first()
    except ValueError:
        return None


def only_fields(data: dict[str, Any], allowed: Collection[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown field {unknown[0]!r}.",
                       {"allowed": sorted(allowed)})


JSON_TYPES = {str: "a string", bool: "true or false", int: "a whole number", list: "a list",
              dict: "an object"}


def require_types(data: dict[str, Any], fields: dict[str, type],
                  required: Collection[str] = ()) -> None:
    """ApiError(400) for the first field in `fields` (name: Python type) that is missing though
    required, or is not of its JSON type; what its value may be beyond that, the domain says.
    A whole float for an int field is replaced by the int in `data`.

    A number is not a string and true is not 1: nothing is coerced, so what is stored is what
    was sent.
    """
    for field, kind in fields.items():
        if field not in data:
            if field in required:
                raise ApiError(400, "invalid", f"{field} is required.",
                               {field: [f"{field} is required."]})
            continue
        value = data[field]
        if kind is int and isinstance(value, float) and value.is_integer():
            # JSON has one kind of number, and JSON Schema's integer takes 60.0 as 60.
            data[field] = value = int(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            message = f"{field}: {JSON_TYPES[kind]}."
            raise ApiError(400, "invalid", message, {field: [message]})


def _validation_error(invalid: ValidationError) -> ApiError:
    details = invalid.message_dict if hasattr(invalid, "error_dict") else None
    first = next(iter(details.values()))[0] if details else invalid.messages[0]
    return ApiError(400, "invalid", first, details)


def _transition_error(refused: TransitionError, flavour: str = "native") -> ApiError:
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


def api_view(*, methods: Sequence[str], scopes: Iterable[str] = (), flavour: str = "native",
             idempotent: bool = False, unavailable: dict[str, Any] | None = None,
             authenticate: bool = True,
             atomic: bool = True) -> Callable[[ApiView], Callable[..., JsonResponse]]:
    """Authenticate the bearer token, check its scopes, run the view, render errors.

    In this order: the method (405), the token (401/403), the declared body size (413), the
    query; the view parses the body. With `authenticate=False` the view reads the token itself
    (the access check does, to ask the database once for the token and the grants together),
    checks its scopes, and must settle the token before it answers anything about the input.

    A call that may change something (any method but GET) runs in one transaction whose commit
    is the last thing before the answer: the answer is built before the commit, so a change that
    committed is never reported as failed because the database went away afterwards, and one
    that did not commit is never reported as done. `atomic=False` is for read-only POSTs on the
    hot path (the access check), which need no transaction.

    With `idempotent`, a POST carrying an Idempotency-Key runs once per token and key: the
    work and the stored answer commit together, and a replay gets the first answer again.
    """

    def decorate(view: ApiView) -> Callable[..., JsonResponse]:
        @mark_api_view
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            try:
                if request.method not in methods:
                    raise ApiError(405, "method_not_allowed", f"Use {' or '.join(methods)} here.",
                                   headers={"Allow": ", ".join(methods)})
                if authenticate:
                    authenticate_request(request, scopes)
                    check_size(request)
                    _check_query(request)
                key = request.headers.get("Idempotency-Key", "").strip()
                if idempotent and request.method == "POST" and key:
                    # An idempotent view is authenticated, so the request carries its token.
                    status, body = _once(cast(ApiRequest, request), key,
                                         lambda: view(request, *args, **kwargs))
                elif atomic and request.method != "GET":
                    with transaction.atomic():
                        status, body = view(request, *args, **kwargs)
                else:
                    status, body = view(request, *args, **kwargs)
            except ApiError as error:
                return _error_response(request, flavour, error)
            except ValidationError as invalid:
                return _error_response(request, flavour, _validation_error(invalid))
            except TransitionError as refused:
                return _error_response(request, flavour, _transition_error(refused, flavour))
            except Http404:
                return _error_response(request, flavour, ApiError(404, "not_found", "Not found."))
            except RequestDataTooBig:
                return _error_response(request, flavour, _too_large())
            except SuspiciousOperation:
                # Django's own limits on what a request may hold (too many query fields, say).
                malformed = ApiError(400, "invalid",
                                     "The request is malformed or too large to read.")
                return _error_response(request, flavour, malformed)
            except DataError:
                # A value the database cannot store (PostgreSQL refuses NUL in text, say):
                # bad input, not an outage.
                unstorable = ApiError(400, "invalid", "A value in the request cannot be stored.")
                return _error_response(request, flavour, unstorable)
            except DatabaseError:
                outage = ApiError(503, "unavailable", "Lockbox cannot reach its database; "
                                  "try again shortly.")
                # `unavailable` adds what a caller must assume, e.g. {"allowed": False}.
                return _error_response(request, flavour, outage, extra=unavailable)
            return JsonResponse(body, status=status, safe=False)

        return wrapper

    return decorate


# Which error shape an address that no route matched answers in, by its first segment.
FLAVOUR_BY_PREFIX = {"api": "native", "v1": "google", "subscriptions": "azure",
                     "providers": "azure"}


@mark_api_view
@csrf_exempt
def not_routed(request: HttpRequest, prefix: str) -> JsonResponse:
    """An address under an API prefix that no route matches: the API's JSON 404, any method."""
    error = ApiError(404, "not_found", "There is nothing at this address.")
    return _error_response(request, FLAVOUR_BY_PREFIX[prefix], error)


def error_at(request: HttpRequest, error: ApiError) -> JsonResponse:
    """An error answered outside any API view (Django's own 400 for a Host this server does not
    serve, say), in the dialect of the API prefix the address is under."""
    prefix = request.path.split("/", 2)[1]
    return _error_response(request, FLAVOUR_BY_PREFIX.get(prefix, "native"), error)


def _error_response(request: HttpRequest, flavour: str, error: ApiError,
                    extra: dict[str, Any] | None = None) -> JsonResponse:
    _drain(request)
    response = JsonResponse({**(extra or {}), **error_body(flavour, error)}, status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    if error.status == 401 and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = challenge()
    return response


def _drain(request: HttpRequest) -> None:
    """Read what is left of the body, and drop it, before an early answer (401, 413...).

    A server that closes the connection with the body unread (gunicorn's sync workers do) cuts
    the client off while it is still sending: it sees a broken pipe, never the answer. Up to
    DRAIN_MAX that costs a read; beyond, the client is not worth the time.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if not 0 < declared <= DRAIN_MAX:
        return
    try:
        while request.read(64 * 1024):
            pass
    except UnreadablePostError:
        pass  # the client went away: nobody is left to answer


def _check_query(request: HttpRequest) -> None:
    if any("\x00" in v for values in request.GET.lists() for v in values[1]):
        raise ApiError(400, "invalid", "Text may not contain NUL characters.")


def challenge(error: str = "", description: str = "", scope: str = "") -> str:
    """A WWW-Authenticate value as RFC 6750 section 3 writes it: the realm alone when no token
    came, with error="invalid_token" when one came and was refused."""
    parts = [REALM]
    for name, value in (("error", error), ("error_description", description), ("scope", scope)):
        # A quoted value holds printable ASCII but the double quote and the backslash.
        value = "".join(c for c in value if " " <= c <= "~" and c not in '"\\')
        if value:
            parts.append(f'{name}="{value}"')
    return ", ".join(parts)


def bearer(request: HttpRequest) -> str:
    """The raw bearer value of the Authorization header, or ApiError(401)."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401, "unauthenticated", tokens.MALFORMED,
                       headers={"WWW-Authenticate": challenge()})
    return raw.strip()


def refused(problem: str) -> ApiError:
    """The ApiError(401) for a bearer token that was sent and is not usable."""
    return ApiError(401, "unauthenticated", problem,
                    headers={"WWW-Authenticate": challenge("invalid_token", problem)})


def require_scopes(token_scopes: Collection[str], scopes: Iterable[str]) -> None:
    missing = [s for s in scopes if s not in token_scopes]
    if missing:
        raise ApiError(403, "insufficient_scope", f"This token lacks the {missing[0]} scope.",
                       headers={"WWW-Authenticate": challenge("insufficient_scope",
                                                              scope=missing[0])})


def authenticate_request(request: HttpRequest, scopes: Iterable[str] = ()) -> ApiToken:
    """Set request.api_token from the bearer token, or raise ApiError(401/403)."""
    raw = bearer(request)
    now = clock.now()
    token, problem = tokens.authenticate(raw, now)
    if token is None:
        raise refused(problem)
    require_scopes(token.scopes, scopes)
    tokens.touch(token, now)
    cast(ApiRequest, request).api_token = token
    log_context.bind(user_id=token.owner_id, tenant=token.tenant.slug if token.tenant else None)
    return token


class _Raced(Exception):
    pass


def _once(request: ApiRequest, key: str, run: Callable[[], ViewResult]) -> ViewResult:
    """Run a POST once per token and Idempotency-Key (see api_view)."""
    if len(key) > 200:
        raise ApiError(400, "invalid", "An Idempotency-Key is at most 200 characters.")
    # The query is part of the request: a key reused with another query (another api-version,
    # say) is another request, never a replay of the first one's answer.
    method = cast(str, request.method)  # "POST": only POSTs come here
    fingerprint = hashlib.sha256(method.encode() + b" " + request.get_full_path().encode()
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
