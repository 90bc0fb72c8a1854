"""Error pages, in JSON under the API prefixes so API clients always get the documented shape."""

from django.http import JsonResponse
from django.views.defaults import page_not_found, server_error

API_PREFIXES = ("/api/", "/v1/", "/subscriptions/", "/providers/")


def not_found(request, exception):
    if request.path.startswith(API_PREFIXES):
        return JsonResponse({"error": {"code": "not_found",
                                       "message": "There is nothing at this address."}},
                            status=404)
    return page_not_found(request, exception)


def server_failure(request):
    if request.path.startswith(API_PREFIXES):
        return JsonResponse({"error": {"code": "internal",
                                       "message": "Lockbox failed to answer. Try again; a POST "
                                                  "repeated with the same Idempotency-Key is "
                                                  "safe."}}, status=500)
    return server_error(request)
