"""What load balancers and orchestrators ask: /healthz (alive) and /readyz (ready for traffic).

- /healthz: this process answers HTTP. It asks no dependency, so a database or broker outage
  never gets every app server restarted at once; 200 whenever it answers at all.
- /readyz: this process can do its work now: the database answers, the broker answers, the
  signing key loads, and the database has every migration this code has. 200 with each check
  named, or 503 naming the one that failed. The database checks share the access check's
  deadline (LOCKBOX_ACCESS_CHECK_TIMEOUT_MS) and the broker check has a socket timeout as long,
  run side by side, so it answers within about that time whatever a dependency does.

Both are routed on both sites and never cached.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from kombu import Connection

from audit.signing import active_key
from lockbox_portal.db import limits
from lockbox_portal.security.headers import mark_api_view

_known_migrations: set[tuple[str, str]] | None = None


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: this process answers. Nothing behind it is asked."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready: database, broker, signing key, migrations; 503 when any is not."""
    timeout = settings.LOCKBOX_ACCESS_CHECK_TIMEOUT
    pool = ThreadPoolExecutor(max_workers=1)
    broker = pool.submit(_broker, settings.CELERY_BROKER_URL, timeout)
    pool.shutdown(wait=False)  # its socket timeout ends the thread; nobody waits for it here
    checks = {"signing_key": _signing_key()}
    with limits.within(timeout):
        checks["database"] = _database()
        checks["migrations"] = _migrations() if checks["database"] == "ok" else "unknown"
    try:
        checks["broker"] = broker.result(timeout=timeout + 0.5)
    except FutureTimeout:
        checks["broker"] = "no answer in time"
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ok" if ready else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if ready else 503)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "unreachable"
    return "ok"


def _migrations() -> str:
    """Every migration this code ships is applied. The code's own list is read from disk once
    per process (it cannot change while the process runs); the applied list each time."""
    global _known_migrations
    try:
        if _known_migrations is None:
            _known_migrations = set(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)
        applied = set(MigrationRecorder(connection).applied_migrations())
    except DatabaseError:
        return "unreachable"
    missing = _known_migrations - applied
    return "ok" if not missing else f"{len(missing)} not applied"


def _signing_key() -> str:
    try:
        active_key()
    except Exception as problem:  # ImproperlyConfigured, an unreadable file: say which, no key
        return f"not loadable: {type(problem).__name__}"
    return "ok"


def _broker(url: str, timeout: float) -> str:
    """Connect and, for Redis, PING, each wait bounded by `timeout`. Never names the URL
    (it may carry a password)."""
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout,
               "max_retries": 0}
    try:
        with Connection(url, connect_timeout=timeout, transport_options=options) as broker:
            broker.ensure_connection(max_retries=0, timeout=timeout)  # 0: try once
            broker.channel().close()  # opening a channel PINGs a Redis broker
    except Exception as problem:  # every way a broker can fail is "not ready"
        return f"unreachable: {type(problem).__name__}"
    return "ok"


@mark_api_view
@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    """The floor the access check is measured against (bench/): a JSON answer through the same
    middleware and server, with no work behind it (CSRF-exempt like the API views). Routed only
    when LOCKBOX_BENCH_BASELINE.

    It reads the body, as every API view does: a server that answers with the body unread
    closes the connection (gunicorn does), and the ingest benchmark's bodies are 500 actions
    long, so the floor would be a reconnection per request, not the same work minus the view."""
    request.body  # noqa: B018 - read for the connection's sake, see above
    return JsonResponse({"allowed": False, "reason": "baseline"})
