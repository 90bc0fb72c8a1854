"""JSON evidence documents (receipts, keys, checkpoints) as files to download."""

import json

from django.http import HttpResponse


def json_download(body, filename):
    response = HttpResponse(json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                            content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
