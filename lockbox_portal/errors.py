"""Error pages, in JSON under the API prefixes so API clients always get the documented shape."""

from django.http import JsonResponse
from django.views.defaults import bad_request as html_bad_request
from django.views.defaults import page_not_found, server_error

from approvals.api.http import ApiError, error_at

API_PREFIXES = ("/api/", "/v1/", "/subscriptions/", "/providers/")


def not_found(request, exception):
    if request.path.startswith(API_PREFIXES):
        return JsonResponse({"error": {"code": "not_found",
                                       "message": "There is nothing at this address."}},
                            status=404)
    return page_not_found(request, exception)


def bad_request(request, exception):
    """Django refuses some requests before any view runs (a Host header that is not one of
    ALLOWED_HOSTS, a malformed multipart body): API clients still get their JSON error."""
    if request.path.startswith(API_PREFIXES):
        return error_at(request, ApiError(400, "invalid", "The request is malformed (for "
                                                          "example, its Host header names "
                                                          "another site)."))
    return html_bad_request(request, exception)


def server_failure(request):
    if request.path.startswith(API_PREFIXES):
        return JsonResponse({"error": {"code": "internal",
                                       "message": "Lockbox failed to answer. Try again; a POST "
                                                  "repeated with the same Idempotency-Key is "
                                                  "safe."}}, status=500)
    return server_error(request)
