"""The compliance dashboard's charts, tables and CSV files, for one tenant or for all of them
(None). Every chart's numbers are also a table and a CSV file."""

from __future__ import annotations

import csv
from datetime import datetime
from typing import Any

from django.http import Http404, HttpResponse

from approvals import compliance
from approvals.models import Tenant
from approvals.views.shared.charts import bar_chart

CHARTS = {
    "outcomes": ("Requests per week, by outcome", "Week of", compliance.requests_by_week),
    "decision-times": ("Time from reaching the customer to their decision", "Time taken",
                       lambda now, tenant: compliance.decision_times(now, tenant)[:2]),
    "out-of-scope": ("Actions outside any grant, per week", "Week of",
                     lambda now, tenant: compliance.out_of_scope_by_week(
                         now, tenant.audit_chain if tenant else None)),
    "attestations": ("Close-out summaries still open", "State",
                     compliance.open_attestations),
}


def _charts(now: datetime, tenant: Tenant | None) -> list[dict[str, Any]]:
    charts = []
    for name, (title, first_column, data) in CHARTS.items():
        labels, series = data(now, tenant)
        charts.append({"name": name, "title": title, "svg": bar_chart(title, labels, series),
                       "headers": [first_column, *[s for s, _ in series]],
                       "rows": compliance.table_rows(labels, series)})
    return charts


def csv_download(name: str, now: datetime, tenant: Tenant | None) -> HttpResponse:
    if name not in CHARTS:
        raise Http404
    _, first_column, data = CHARTS[name]
    labels, series = data(now, tenant)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="lockbox-{name}-{tenant.slug if tenant else "all"}.csv"')
    writer = csv.writer(response)
    writer.writerow([first_column, *[s for s, _ in series]])
    writer.writerows(compliance.table_rows(labels, series))
    return response


def dashboard_context(now: datetime, tenant: Tenant | None) -> dict[str, Any]:
    return {"charts": _charts(now, tenant), "active": compliance.active_now(now, tenant),
            "median_minutes": compliance.decision_times(now, tenant)[2], "now": now}
