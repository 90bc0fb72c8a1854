"""The outbox: rows written with the change, delivered once, retried, and reported."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from approvals import transitions as t
from approvals.errors import TransitionError
from approvals.models import State
from approvals.notifications import delivery, recipients, reminders, selectors
from approvals.notifications.models import DeliveryAttempt, OutboxMessage, Status
from tests import factories

MINUTE = timedelta(minutes=1)


@pytest.fixture
def submitted(engineer, manager, manager2, tenant_a):
    return factories.submit(engineer=engineer, tenant=tenant_a, now=timezone.now())


def _rows(**filters):
    return list(OutboxMessage.objects.filter(**filters).order_by("recipient")
                .values_list("kind", "recipient"))


def test_a_submitted_request_tells_every_manager_but_the_requester(submitted, engineer):
    assert _rows(request=submitted) == [("awaiting_internal", "manager2@provider.test"),
                                        ("awaiting_internal", "manager@provider.test")]


def test_the_customer_step_tells_approvers_and_notification_addresses(
        submitted, manager, approver_a, approver_a2, tenant_a):
    tenant_a.notification_emails = ["security@a.test"]
    tenant_a.save()
    t.internal_approve(access_request=submitted, actor=manager)
    assert _rows(request=submitted, kind="awaiting_customer") == [
        ("awaiting_customer", "approver2@a.test"), ("awaiting_customer", "approver@a.test"),
        ("awaiting_customer", "security@a.test")]


def test_a_grant_tells_the_engineer_and_the_customer(submitted, manager, approver_a):
    t.internal_approve(access_request=submitted, actor=manager)
    t.customer_approve(access_request=submitted, actor=approver_a)
    assert _rows(request=submitted, kind="access_started") == [
        ("access_started", "engineer@provider.test")]
    assert _rows(request=submitted, kind="decided") == [("decided", "approver@a.test")]


def test_a_refused_move_writes_no_row(submitted, approver_b):
    before = OutboxMessage.objects.count()
    with pytest.raises(TransitionError):
        t.customer_approve(access_request=submitted, actor=approver_b)
    assert OutboxMessage.objects.count() == before


def test_the_same_event_is_queued_once(submitted):
    from audit.models import AuditEvent

    event = AuditEvent.objects.get(request_id=submitted.pk, action="request.submitted")
    recipients.request_event(submitted, event)
    recipients.request_event(submitted, event)
    assert OutboxMessage.objects.filter(request=submitted).count() == 2


def test_rows_are_handed_to_workers_only_after_commit(submitted, manager, approver_a,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        t.internal_approve(access_request=submitted, actor=manager)
    assert not mail.outbox
    for after_commit in callbacks:  # the handoff (and the decision's metric)
        after_commit()
    assert mail.outbox


def test_delivery_sends_once_and_records_it(submitted):
    row = OutboxMessage.objects.filter(request=submitted).first()
    assert delivery.deliver(row.pk) == Status.SENT
    assert delivery.deliver(row.pk) is None  # already sent: nobody claims it again
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 1)
    assert len(mail.outbox) == 1
    assert DeliveryAttempt.objects.get(message=row).ok


def test_a_failed_delivery_is_retried_with_backoff_then_given_up(submitted, monkeypatch):
    from approvals.notifications import emails

    def broken(message):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(emails, "send_outbox_email", broken)
    row = OutboxMessage.objects.filter(request=submitted).first()
    now = timezone.now()
    assert delivery.deliver(row.pk, now=now) == Status.RETRYING
    row.refresh_from_db()
    assert row.next_attempt_at == now + timedelta(seconds=30)
    assert "mail server down" in row.last_error
    assert delivery.deliver(row.pk, now=now) is None  # not due yet
    waits = []
    for _ in range(7):
        now = row.next_attempt_at
        status = delivery.deliver(row.pk, now=now)
        row.refresh_from_db()
        waits.append(row.next_attempt_at - now)
    assert status == Status.FAILED and row.attempts == 8
    assert waits[:3] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]


def test_a_broker_that_is_down_loses_nothing(submitted, manager, approver_a, monkeypatch,
                                             django_capture_on_commit_callbacks):
    from approvals.notifications import tasks

    def down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.deliver, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        t.internal_approve(access_request=submitted, actor=manager)  # commits despite the broker
    submitted.refresh_from_db()
    assert submitted.state == State.PENDING_CUSTOMER
    queued = OutboxMessage.objects.filter(request=submitted, kind="awaiting_customer")
    assert {row.status for row in queued} == {Status.QUEUED}
    result = delivery.retry_due()
    assert result["sent"] == queued.count() + 2  # and the two submission e-mails
    assert delivery.retry_due()["due"] == 0
    assert len(mail.outbox) == result["sent"]


def test_a_delivery_whose_worker_died_is_taken_up_after_the_lease(submitted, settings):
    row = OutboxMessage.objects.filter(request=submitted).first()
    now = timezone.now()
    OutboxMessage.objects.filter(pk=row.pk).update(status=Status.SENDING, claimed_at=now,
                                                   attempts=1)
    assert delivery.retry_due(now=now + MINUTE)["due"] == 1  # the other row only
    settings.LOCKBOX_OUTBOX_LEASE = timedelta(minutes=5)
    delivery.retry_due(now=now + 6 * MINUTE)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 2)
    assert [m.to for m in mail.outbox].count([row.recipient]) == 1


def test_a_row_claimed_late_in_a_long_batch_is_not_taken_from_its_worker(submitted, settings,
                                                                         monkeypatch):
    """retry_due gives every row of its batch the time the batch began; the lease of a row sent
    late in a slow batch still runs from its own claim, so no other worker sends it again while
    the first is still at it."""
    settings.LOCKBOX_OUTBOX_LEASE = timedelta(seconds=30)
    factories.submit(engineer=submitted.requester, tenant=submitted.tenant, now=timezone.now())
    rows = list(OutboxMessage.objects.all())
    assert len(rows) >= 2
    began = timezone.now()
    OutboxMessage.objects.filter(pk__in=[r.pk for r in rows]).update(next_attempt_at=began)
    seen = []

    def slow_last_send(message):
        seen.append(message.pk)
        if len(seen) == 1:
            # The batch's first send is slow: 50 s pass before the next row is claimed.
            later = timezone.now() + timedelta(seconds=50)
            monkeypatch.setattr("lockbox_portal.clock.now", lambda: later)
        if len(seen) == len(rows):
            # Another worker's retry_due, a minute after this batch began, in the middle of
            # the last row's send: that row was claimed 10 s ago, so it is not abandoned.
            assert delivery.retry_due(now=began + MINUTE)["due"] == 0
        return None

    monkeypatch.setattr(delivery, "_send", slow_last_send)
    assert delivery.retry_due(now=began)["sent"] == len(rows)
    assert sorted(seen) == sorted(r.pk for r in rows)  # each sent once


# --- E-mail contents ------------------------------------------------------------------------------

def _sent_to(address):
    return next(m for m in mail.outbox if m.to == [address])


def test_the_customer_email_links_to_the_request_in_the_portal(submitted, manager, approver_a,
                                                               django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        t.internal_approve(access_request=submitted, actor=manager)
    message = _sent_to("approver@a.test")
    assert message.subject == ("[Lockbox] Approve or reject: access to Tenant A's data "
                               "(CASE-1)")
    link = f"http://127.0.0.1:8000/t/tenant-a/requests/{submitted.pk}/"
    assert link in message.body
    assert "1 of your approvers approves" in message.body
    assert "exchange/mailbox/user@example.test" in message.body
    html = message.alternatives[0][0]
    assert f'href="{link}"' in html
    assert message.extra_headers["Message-ID"].endswith("@lockbox>")


def test_provider_emails_link_to_the_internal_site(submitted, settings):
    settings.LOCKBOX_INTERNAL_URL = "https://lockbox.internal.example"
    delivery.retry_due()
    message = _sent_to("manager@provider.test")
    assert f"https://lockbox.internal.example/internal/requests/{submitted.pk}/" in message.body


def test_emails_carry_no_secrets(submitted, manager, approver_a, tenant_a, admin_a, settings):
    from approvals.notifications.webhooks.endpoints import create_endpoint

    settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE = True  # no DNS here; the address is never called

    endpoint = create_endpoint(tenant=tenant_a, actor=admin_a, url="https://hooks.example.com",
                               event_types=["request.approved"])
    t.internal_approve(access_request=submitted, actor=manager)
    t.customer_approve(access_request=submitted, actor=approver_a)
    delivery.retry_due()
    for message in mail.outbox:
        text = message.body + message.alternatives[0][0]
        assert endpoint.secret not in text
        assert "password" not in text.lower()


def test_the_engineer_is_told_when_access_starts_and_ends(submitted, manager, approver_a,
                                                          engineer):
    t.internal_approve(access_request=submitted, actor=manager)
    t.customer_approve(access_request=submitted, actor=approver_a)
    t.release(access_request=submitted, actor=engineer, comment="Done.")
    delivery.retry_due()
    subjects = [m.subject for m in mail.outbox if m.to == ["engineer@provider.test"]]
    assert any("Your access to Tenant A is open until" in s for s in subjects)
    assert any(s.startswith("[Lockbox] Access ended") for s in subjects)
    ended = next(m for m in mail.outbox if m.to == ["approver@a.test"]
             and "Access ended" in m.subject)
    assert "gave back the access" in ended.body


def test_approvers_are_told_of_a_revocation_and_an_expiry(submitted, manager, approver_a,
                                                         approver_a2, tenant_a, engineer):
    t.internal_approve(access_request=submitted, actor=manager)
    t.customer_approve(access_request=submitted, actor=approver_a)
    t.revoke(access_request=submitted, actor=approver_a, comment="Enough.")
    tenant_a.customer_approval_window = timedelta(hours=1)
    tenant_a.save()
    lapsed = factories.submit(engineer=engineer, tenant=tenant_a,
                              now=timezone.now() - timedelta(hours=3))
    t.internal_approve(access_request=lapsed, actor=manager,
                       now=timezone.now() - timedelta(hours=3))
    t.expire(access_request=lapsed, now=timezone.now())
    delivery.retry_due()
    to_a2 = [m.subject for m in mail.outbox if m.to == ["approver2@a.test"]]
    assert any("Access revoked" in s for s in to_a2)
    assert any("expired without a decision" in s for s in to_a2)


# --- Reminders and who is asked -------------------------------------------------------------------

def test_a_reminder_goes_at_75_percent_of_the_window_once(submitted, manager, approver_a,
                                                          approver_a2):
    start = timezone.now()
    t.internal_approve(access_request=submitted, actor=manager, now=start)
    assert reminders.reminders_due(start + timedelta(hours=8, minutes=59)) == 0
    assert reminders.reminders_due(start + timedelta(hours=9)) == 2
    assert reminders.reminders_due(start + timedelta(hours=9, minutes=5)) == 2
    assert _rows(request=submitted, kind="reminder") == [("reminder", "approver2@a.test"),
                                                         ("reminder", "approver@a.test")]


def test_who_is_asked_shows_each_persons_notification(submitted, manager, approver_a,
                                                      approver_a2, monkeypatch):
    now = timezone.now()
    t.internal_approve(access_request=submitted, actor=manager, now=now)
    rows = {r.recipient: r for r in OutboxMessage.objects.filter(kind="awaiting_customer")}
    delivery.deliver(rows["approver@a.test"].pk)
    OutboxMessage.objects.filter(pk=rows["approver2@a.test"].pk).update(
        status=Status.FAILED, last_error="550 mailbox unavailable")
    submitted.refresh_from_db()
    asked = {p.email: (status, detail) for p, status, detail in
             selectors.who_is_asked(submitted, now + MINUTE)}
    assert asked["approver@a.test"][0] == "sent"
    assert asked["approver2@a.test"] == ("failed", "550 mailbox unavailable")
