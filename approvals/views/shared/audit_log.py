"""The audit log's search page and export, as both sites show them: each site chooses the chain
(one tenant's, or any the provider auditor names) and the page around it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, StreamingHttpResponse

from audit import export, selectors
from audit.models import AuditEvent
from lockbox_portal import clock

FORMATS = {
    "csv": (export.csv_lines, "text/csv; charset=utf-8"),
    "jsonl": (export.jsonl_lines, "application/x-ndjson; charset=utf-8"),
}


def _cursor(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


def results_page(request: HttpRequest, found: Any) -> dict[str, Any]:
    """The page of `found` that the URL's cursors ask for, and the query to page on with."""
    events, older, newer = selectors.keyset_page(
        found, before=_cursor(request, "before"), after=_cursor(request, "after"))
    query = request.GET.copy()
    for key in ("before", "after"):
        query.pop(key, None)
    return {"events": events, "older": older, "newer": newer, "query": query.urlencode()}


def download(fmt: str, rows: Callable[[], QuerySet[AuditEvent]],
             name: str) -> StreamingHttpResponse:
    """Stream the events `rows()` finds as a file `<name>-<today>.<fmt>`; an unknown format is
    a 404 before anything is searched."""
    if fmt not in FORMATS:
        raise Http404
    lines, content_type = FORMATS[fmt]
    response = StreamingHttpResponse(lines(rows()), content_type=content_type)
    filename = f"{name}-{clock.now().date().isoformat()}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
