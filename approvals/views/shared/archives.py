"""A chain's archives on both sites: the paginated list, and the two files of each to download.

The caller's guard has already scoped the chain to the person (a tenant they belong to, or the
provider's auditors), and every lookup here is by that chain, so an archive of another chain is
a 404.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from audit.archives import archive_file, manifest_text
from audit.models import Archive
from audit.selectors import archives_of

PAGE_SIZE = 25


def archives_page(request: HttpRequest, chain: str) -> dict[str, Any]:
    page = Paginator(archives_of(chain), PAGE_SIZE).get_page(request.GET.get("page"))
    return {"archives": page}


def download(chain: str, first_seq: int, kind: str, filename: str) -> HttpResponseBase:
    """`kind` "jsonl" (the events) or "manifest" (its signed manifest)."""
    archive = Archive.objects.filter(chain=chain, first_seq=first_seq).first()
    if archive is None or kind not in ("jsonl", "manifest"):
        raise Http404("No such archive.")
    stem = f"{filename}-{archive.first_seq:012d}-{archive.last_seq:012d}"
    if kind == "manifest":
        response = HttpResponse(manifest_text(archive),
                                content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{stem}.manifest.json"'
        return response
    path = archive_file(archive)
    if not path.is_file():
        raise Http404("The archive's file is missing from the archive storage; tell the "
                      "provider (its manifest is still here).")
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"{stem}.jsonl",
                        content_type="application/x-ndjson")
