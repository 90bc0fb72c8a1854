"""JSON evidence documents (receipts, keys, checkpoints) as files to download."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse


def json_download(body: dict[str, Any], filename: str) -> HttpResponse:
    response = HttpResponse(json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                            content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
