"""Background work with a real broker and real worker processes (PostgreSQL and redis-server).

Each test starts its own redis-server on a free port, so it can stop and restart the broker,
and `celery worker` processes that share the test database; e-mail goes to files.
"""

import json
import os
import shutil
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from approvals import transitions as t
from approvals.access import check_access
from approvals.models import ProviderRole, State, TenantRole
from approvals.notifications.models import OutboxMessage, Status
from approvals.notifications.webhooks import endpoints
from audit.models import AuditEvent
from lockbox_portal.celery import app
from tests import factories
from tests.processes import Broker, Mailbox, Workers, database_url
from tests.processes import wait_for as _wait_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(shutil.which("redis-server") is None,
                       reason="needs redis-server to start and stop a broker of its own"),
]


class SuiteWorkers(Workers):
    """Workers on the test's broker and database, with the test settings; e-mail to files."""

    def __init__(self, broker, tmp):
        self.mailbox = Mailbox(tmp / "mail")
        super().__init__({
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.test",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(self.mailbox.folder),
            "LOCKBOX_WEBHOOK_ALLOW_PRIVATE": "true",
            "LOCKBOX_OUTBOX_LEASE_SECONDS": "2",
        }, tmp)

    def mails_to(self, address):
        return self.mailbox.to(address)


@pytest.fixture
def broker(tmp_path, monkeypatch):
    running = Broker(tmp_path)
    running.start()
    before = (app.conf.broker_url, app.conf.task_always_eager)
    # This process sends its tasks to the test's own broker too. Celery reads the variable
    # before its own setting, so both change.
    monkeypatch.setenv("CELERY_BROKER_URL", running.url)
    app.conf.broker_url, app.conf.task_always_eager = running.url, False
    app._pool = None
    app.amqp._producer_pool = None
    yield running
    app.conf.broker_url, app.conf.task_always_eager = before
    app._pool = None
    app.amqp._producer_pool = None
    if running.process.poll() is None:
        running.process.terminate()
        running.process.wait(10)


@pytest.fixture
def workers(broker, tmp_path, transactional_db):
    pool = SuiteWorkers(broker, tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
def cast(transactional_db):
    tenant = factories.tenant("acme", required_approvals=1)
    return {
        "tenant": tenant,
        "engineer": factories.person("erin@provider.test", provider_role=ProviderRole.ENGINEER),
        "manager": factories.person("maya@provider.test",
                                    provider_role=ProviderRole.INTERNAL_APPROVER),
        "approver": factories.person("ada@acme.test", tenant=tenant,
                                     tenant_roles=[TenantRole.APPROVER]),
        "admin": factories.person("root@acme.test", tenant=tenant,
                                  tenant_roles=[TenantRole.ADMIN]),
    }


def test_a_submitted_request_is_mailed_by_a_worker(workers, cast):
    workers.start()
    req = factories.submit(engineer=cast["engineer"], tenant=cast["tenant"],
                           now=timezone.now(), case_reference="CASE-W1")
    _wait_for(lambda: workers.mails_to("maya@provider.test"), 30, "the manager's e-mail")
    time.sleep(1)
    mails = workers.mails_to("maya@provider.test")
    assert len(mails) == 1
    assert "CASE-W1" in mails[0]["Subject"]
    row = OutboxMessage.objects.get(request=req)
    assert (row.status, row.attempts) == (Status.SENT, 1)


def test_an_approval_while_the_broker_is_down_is_mailed_once_it_is_back(workers, broker, cast):
    workers.start()
    req = factories.submit(engineer=cast["engineer"], tenant=cast["tenant"],
                           now=timezone.now())
    _wait_for(lambda: workers.mails_to("maya@provider.test"), 30, "the submission e-mail")

    broker.stop()
    # Commits although nothing is queued.
    t.internal_approve(access_request=req, actor=cast["manager"])
    req.refresh_from_db()
    assert req.state == State.PENDING_CUSTOMER
    row = OutboxMessage.objects.get(request=req, kind="awaiting_customer")
    assert row.status == Status.QUEUED

    broker.start()
    app._pool = None
    app.amqp._producer_pool = None
    from approvals.notifications.tasks import retry_outbox

    retry_outbox.delay()  # what beat sends every minute
    _wait_for(lambda: workers.mails_to("ada@acme.test"), 90, "the approver's e-mail")
    retry_outbox.delay()
    time.sleep(2)
    assert len(workers.mails_to("ada@acme.test")) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 1)


class HoldingReceiver:
    """Holds the first delivery open until told to let go; counts each distinct delivery it
    accepted, as a receiver that honours Lockbox-Delivery does."""

    def __init__(self):
        self.raw = 0
        self.accepted = {}
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.raw += 1
                if receiver.raw == 1:
                    receiver.release.wait(30)
                    return  # the sender is gone; answer nothing
                receiver.accepted.setdefault(self.headers["Lockbox-Delivery"], json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_worker_killed_mid_delivery_loses_nothing_and_repeats_nothing(workers, cast,
                                                                        settings):
    settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE = True
    receiver = HoldingReceiver()
    endpoints.create_endpoint(tenant=cast["tenant"], actor=cast["admin"], url=receiver.url,
                             event_types=["request.internal_approved"])
    first = workers.start()
    req = factories.submit(engineer=cast["engineer"], tenant=cast["tenant"],
                           now=timezone.now())
    t.internal_approve(access_request=req, actor=cast["manager"])
    _wait_for(lambda: receiver.raw == 1, 30, "the first delivery to reach the receiver")

    workers.kill(first)  # in the middle of the POST
    receiver.release.set()
    row = OutboxMessage.objects.get(channel="webhook")
    assert row.status == Status.SENDING

    workers.start()
    time.sleep(2.5)  # the lease (2 s in this test) runs out
    from approvals.notifications.tasks import retry_outbox

    retry_outbox.delay()
    _wait_for(lambda: receiver.accepted, 60, "the delivery to be made again")
    retry_outbox.delay()
    time.sleep(2)
    assert list(receiver.accepted) == [row.key]
    assert receiver.raw == 2
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 2)


def test_an_ended_grant_is_denied_with_no_worker_and_completed_by_the_next_sweep(workers,
                                                                                 cast):
    now = timezone.now()
    req = factories.submit(engineer=cast["engineer"], tenant=cast["tenant"],
                           now=now - timedelta(hours=3))
    t.internal_approve(access_request=req, actor=cast["manager"], now=now - timedelta(hours=3))
    t.customer_approve(access_request=req, actor=cast["approver"], now=now - timedelta(hours=2))
    req.refresh_from_db()
    assert req.state == State.APPROVED and req.access_ends_at < now
    assert not check_access(engineer=cast["engineer"], tenant=cast["tenant"],
                            resource=req.scope[0])

    workers.start()
    from approvals.tasks import sweep

    sweep.delay()
    _wait_for(lambda: AuditEvent.objects.filter(request_id=req.pk,
                                                action="request.completed").exists(),
              30, "the sweep to complete the grant")
    req.refresh_from_db()
    assert req.state == State.COMPLETED
    # Other mail to the engineer (the approval) may arrive first; wait for this one.
    _wait_for(lambda: any("Access ended" in m["Subject"]
                          for m in workers.mails_to("erin@provider.test")),
              30, "the engineer's 'Access ended' e-mail")
