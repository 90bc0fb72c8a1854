from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from lockbox_portal.db import limits
from lockbox_portal.security.headers import mark_api_view


@require_GET
@limits.deadline("LOCKBOX_ACCESS_CHECK_TIMEOUT")
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when this process can reach its database, 503 when not, within
    the access check's time limit whatever the database does."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})


@mark_api_view
@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    """The floor the access check is measured against (bench/): a JSON answer through the same
    middleware and server, with no work behind it (CSRF-exempt like the API views). Routed only
    when LOCKBOX_BENCH_BASELINE."""
    return JsonResponse({"allowed": False, "reason": "baseline"})
