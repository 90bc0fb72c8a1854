"""Hostile text in every field that reaches an e-mail: the text part shows it as typed, the
HTML part shows it literally (escaped once) with nothing injected, and subjects carry no HTML
entities.

Every kind of message in approvals.notifications.emails.BUILDERS is produced through the
services that send it in production, then delivered and parsed.
"""

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from approvals import activity, attestations, tenants
from approvals import transitions as t
from approvals.models import ReasonType, TenantRole
from approvals.notifications import delivery, reminders
from approvals.notifications.emails import BUILDERS
from approvals.notifications.models import Channel, OutboxMessage, WebhookEndpoint
from approvals.notifications.webhooks.endpoints import create_endpoint, disable_after_failures
from tests import factories

LONG_WORD = "Supercalifragilistic" * 20
TENANT = 'Evil <script>alert("t")</script> "Co" &amp; <b>'
CASE = '<img src=x onerror=alert(1)>"><&amp;'
JUSTIFICATION = (
    "Read <img src=x onerror=alert(1)> and <script>alert(2)</script> then \"><b>bold</b>\n"
    "Literal &amp; and &lt; stay as typed; see https://evil.example/a?b=\"><svg/onload=alert(3)>\n"
    f"{LONG_WORD}"
)
# Resource identifiers cannot hold < > " ; ? or '//' (approvals/resources.py); these are the
# most HTML-minded ones the grammar lets through.
SCOPE = ["exchange/x'onmouseover=alert(4)", "sharepoint/sites/a&amp=b(5)&lt",
         "files/o'brien&co@evil.example/*"]
COMMENT = "No: <a href=https://evil.example/>click</a>\n\"><iframe src=//evil.example>"
SUMMARY = "I read <b>only</b> the rules; <script>alert(7)</script>"
OBJECTION = "Not true \"><img src=z onerror=alert(8)> &amp; more"
OPERATION = "read <u>rules</u>"
RESOURCE = "exchange/<script>alert(9)</script>"
ENGINEER = '"><script>alert(6)</script>@x.test'
FAILURE = 'HTTP 500: <html><body onload="alert(10)">down</body></html>'
HOOK = 'https://hooks.example.com/in?a="><img src=q onerror=alert(11)>'

REQUEST_FACTS = [TENANT, CASE, JUSTIFICATION, *SCOPE]
SHOWN = {  # what each kind of message must show, as typed
    "awaiting_internal": REQUEST_FACTS,
    "awaiting_customer": REQUEST_FACTS,
    "reminder": REQUEST_FACTS,
    "decided": [*REQUEST_FACTS, COMMENT],
    "access_started": REQUEST_FACTS,
    "access_ended": REQUEST_FACTS,
    "revoked": [*REQUEST_FACTS, COMMENT],
    "expired": REQUEST_FACTS,
    "invitation": [TENANT],
    "webhook_disabled": [TENANT, HOOK, FAILURE],
    "out_of_scope": [TENANT, OPERATION, RESOURCE, ENGINEER],
    "attestation_disputed": [TENANT, CASE, SUMMARY, OBJECTION],
}
HTML_TAGS = {"html", "head", "meta", "title", "body", "div", "p", "br", "a"}
HTML_ATTRIBUTES = {"lang", "charset", "style", "href", "rel"}


class Parsed(HTMLParser):
    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.links, self.text = [], [], [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]
        if tag == "a":
            self.links.append(dict(attrs)["href"])

    def handle_data(self, data):
        self.text.append(data)


def _submit(engineer, tenant, now, case=CASE):
    return t.submit_request(requester=engineer, tenant=tenant, now=now, case_reference=case,
                            justification=JUSTIFICATION,
                            reason_type=ReasonType.CUSTOMER_INITIATED_SUPPORT, scope=SCOPE,
                            access_level="read_only", requested_duration=timedelta(hours=1))


@pytest.fixture
def every_message(engineer, manager, auditor, settings):
    """One delivered e-mail of every kind, each built from hostile text: {kind: message}."""
    settings.LOCKBOX_WEBHOOK_ALLOW_PRIVATE = True  # no DNS here; the hook is never called
    tenant = tenants.create_tenant(slug="evil", name=TENANT,
                                   customer_approval_window=timedelta(hours=1))
    approver = factories.person("approver@evil.test", tenant=tenant,
                                tenant_roles=[TenantRole.APPROVER, TenantRole.ADMIN])
    now = timezone.now()
    start = now - timedelta(hours=3)
    minutes = lambda n: start + timedelta(minutes=n)  # noqa: E731

    granted = _submit(engineer, tenant, start)
    t.internal_approve(access_request=granted, actor=manager, comment=COMMENT, now=start)
    assert reminders.reminders_due(minutes(50))  # past 75% of the customer's hour
    t.customer_approve(access_request=granted, actor=approver, comment=COMMENT, now=minutes(55))
    t.release(access_request=granted, actor=engineer, now=minutes(60))
    attestation = attestations.file(access_request=granted, actor=engineer, summary=SUMMARY,
                                    now=minutes(70))
    attestations.answer(attestation=attestation, actor=approver, acknowledge=False,
                        comment=OBJECTION, now=minutes(80))

    revoked = _submit(engineer, tenant, now, case=CASE + "2")
    t.internal_approve(access_request=revoked, actor=manager, now=now)
    t.customer_approve(access_request=revoked, actor=approver, now=now)
    t.revoke(access_request=revoked, actor=approver, comment=COMMENT, now=now)

    rejected = _submit(engineer, tenant, now, case=CASE + "3")
    t.internal_approve(access_request=rejected, actor=manager, now=now)
    t.customer_reject(access_request=rejected, actor=approver, comment=COMMENT, now=now)

    lapsed = _submit(engineer, tenant, now - timedelta(hours=30), case=CASE + "4")
    t.expire(access_request=lapsed, now=now)

    tenants.invite_member(tenant=tenant, email="new@evil.test", roles=[TenantRole.APPROVER],
                          actor=approver)
    activity.record_batch(tenant_slug="evil", engineer_email=ENGINEER, now=now, actions=[
        {"resource": RESOURCE, "operation": OPERATION, "at": now.isoformat()}])
    endpoint = create_endpoint(tenant=tenant, actor=approver, url=HOOK,
                               event_types=["request.approved"])
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        disable_after_failures(locked, FAILURE)

    messages = {}
    for row in OutboxMessage.objects.filter(channel=Channel.EMAIL).order_by("id"):
        mail.outbox.clear()
        delivery.deliver(row.pk)
        messages.setdefault(row.kind, mail.outbox[-1])
    return messages


def test_every_kind_of_email_is_covered(every_message):
    assert set(every_message) == set(BUILDERS)


def test_the_text_part_shows_what_was_typed(every_message):
    for kind, message in every_message.items():
        for value in SHOWN[kind]:
            assert value in message.body, (kind, value)


def test_the_html_part_shows_it_literally_and_injects_nothing(every_message):
    for kind, message in every_message.items():
        html, mimetype = message.alternatives[0]
        assert mimetype == "text/html"
        parsed = Parsed(html)
        assert set(parsed.tags) <= HTML_TAGS, (kind, set(parsed.tags) - HTML_TAGS)
        assert set(parsed.attributes) <= HTML_ATTRIBUTES, (kind, parsed.attributes)
        for href in parsed.links:
            assert href.startswith(("http://", "https://", "mailto:")), (kind, href)
            assert not set('"<> ') & set(href), (kind, href)
        shown = "".join(parsed.text)
        for value in SHOWN[kind]:
            for line in value.splitlines():
                assert line in shown, (kind, line)


def test_subjects_are_one_line_without_html_entities(every_message):
    for kind, message in every_message.items():
        assert "\n" not in message.subject
        for entity in ("&lt;", "&gt;", "&quot;", "&#x27;", "&#39;", "&amp;amp;"):
            assert entity not in message.subject, (kind, message.subject)


def test_a_subject_shows_the_tenants_name_as_typed(every_message):
    assert every_message["awaiting_customer"].subject == (
        f"[Lockbox] Approve or reject: access to {TENANT}'s data ({CASE})")
