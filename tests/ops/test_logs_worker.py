"""A real Celery worker logs JSON lines naming the task, carrying the request id of the work
that queued it (sent as a message header), and no webhook secret."""

import json

from django.utils import timezone

from approvals.notifications.webhooks import endpoints
from lockbox_portal.logs import context
from tests import factories
from tests.ops.test_worker_postgres import SuiteWorkers, broker, cast, pytestmark  # noqa: F401
from tests.processes import free_port, wait_for


def test_a_worker_names_the_task_and_the_request_that_queued_it(broker, cast, tmp_path,  # noqa: F811
                                                               settings):
    settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE = True
    closed = f"http://127.0.0.1:{free_port()}/hook?secret=worker-query-secret"
    endpoints.create_endpoint(tenant=cast["tenant"], actor=cast["admin"], url=closed,
                              event_types=endpoints.EVENT_TYPES)
    workers = SuiteWorkers(broker, tmp_path)
    workers.env["LOCKBOX_LOG_FORMAT"] = "json"
    try:
        workers.start()
        token = context.begin(request_id="from-web-1")
        try:
            req = factories.submit(engineer=cast["engineer"], tenant=cast["tenant"],
                                   now=timezone.now(), case_reference="CASE-L1")
        finally:
            context.end(token)

        def failures():
            return [line for line in map(json.loads, filter(
                lambda raw: raw.startswith("{"), workers.log.read_text().splitlines()))
                if line["logger"] == "approvals.notifications.delivery"]

        wait_for(failures, 30, "the worker to log the failed webhook")
    finally:
        workers.stop_all()
    for failure in failures():
        assert failure["task_name"] == "notifications.deliver" and failure["task_id"]
        assert failure["request_id"] == "from-web-1"
        assert (failure["tenant"], failure["access_request"]) == ("acme", req.reference)
    assert "worker-query-secret" not in workers.log.read_text()
