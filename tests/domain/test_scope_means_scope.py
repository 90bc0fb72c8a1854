"""A grant's scope means its scope: identifiers that are not canonical are refused when a
request is made (form and API), are a "no" at every access check, and are flagged, never
counted as covered, when the data plane reports activity."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from approvals import access_cache, resources
from approvals import transitions as t
from approvals.access import check_access
from approvals.models import AccessRequest
from approvals.notifications import delivery
from audit.models import AuditEvent
from audit.verification import verify_chain
from tests import factories
from tests.api_helpers import Api, make_token
from tests.clients import signed_in

ALICE = "exchange/mailbox/alice@fabrikam.example"
TRAVERSAL = f"{ALICE}/../bob@fabrikam.example"

# Each reaches outside alice's mailbox for some backend, and each was "allowed" under a grant
# for f"{ALICE}/*" when scopes matched by raw prefix.
ESCAPES = [
    TRAVERSAL,
    f"{ALICE}/./inbox",
    f"{ALICE}/inbox/..",
    f"{ALICE}//inbox",
    f"{ALICE}/..\\bob@fabrikam.example",
    f"{ALICE}/..%2Fbob@fabrikam.example",
    f"{ALICE}/%2e%2e/bob@fabrikam.example",
    f"{ALICE}/..;/bob@fabrikam.example",
    f"{ALICE}/inbox\x1b/../../bob@fabrikam.example",
    f"{ALICE}/\uff0e\uff0e/bob@fabrikam.example",
    f"{ALICE}/\u202einbox",
]

# (scope item as typed, words of the refusal a person reads).
BAD_SCOPES = [
    ("exchange/../../etc", "segment made of dots"),
    (f"{ALICE}/./inbox", "segment made of dots"),
    ("exchange//mailbox", "empty segment"),
    ("/exchange/mailbox", "empty segment"),
    ("exchange/mailbox/", "empty segment"),
    ("exchange\\mailbox", "backslash"),
    ("exchange/a%2Fb", "percent-encoded separator"),
    ("exchange/a%5cb", "percent-encoded separator"),
    ("exchange/%2e%2e/etc", "percent-encoded dot"),
    ("exchange/alice%40x", "takes no escapes"),
    ("exchange/a\x01b", "control character (U+0001)"),
    ("exchange/a\x7fb", "control character (U+007F)"),
    ("exchange/a\x9bb", "control character (U+009B)"),
    ("exchange/a\u202eb", "invisible formatting character (U+202E RIGHT-TO-LEFT OVERRIDE)"),
    ("exchange\uff0fmailbox", "U+FF0F FULLWIDTH SOLIDUS"),
    ("exchange/\uff4dailbox", "U+FF4D FULLWIDTH LATIN SMALL LETTER M is a variant of"),
    ("exchange/..;/etc", "servers cut path parameters there"),
    ("exchange/a?b", "servers end the path there"),
    ("/*", "needs the resource it covers before it"),
]


def _grant(engineer, manager, approver, tenant, now, scope):
    req = factories.submit(engineer=engineer, tenant=tenant, now=now, scope=scope)
    t.internal_approve(access_request=req, actor=manager, now=now + timedelta(minutes=1))
    return t.customer_approve(access_request=req, actor=approver, now=now + timedelta(minutes=2))


@pytest.fixture
def alice_grant(engineer, manager, approver_a, tenant_a):
    """Everything in alice's mailbox, approved ten minutes ago for an hour (real clock)."""
    return _grant(engineer, manager, approver_a, tenant_a, timezone.now() - timedelta(minutes=10),
                  [f"{ALICE}/*"])


# --- Every access check -------------------------------------------------------------------------

@pytest.mark.parametrize("resource", [*ESCAPES, f"{ALICE}/inbox\x00/../../bob@fabrikam.example"])
def test_check_access_says_no_to_a_way_out_of_the_scope(alice_grant, engineer, tenant_a,
                                                        resource):
    answer = check_access(engineer=engineer, tenant=tenant_a, resource=resource)
    assert not answer.allowed
    assert answer.reason == resources.problem(resource)
    assert "is not a resource identifier" in answer.reason
    assert check_access(engineer=engineer, tenant=tenant_a, resource=f"{ALICE}/inbox").allowed


def test_the_traversal_of_the_issue_is_denied_with_the_rule_it_breaks(alice_grant, engineer,
                                                                       tenant_a):
    answer = check_access(engineer=engineer, tenant=tenant_a, resource=TRAVERSAL)
    assert not answer.allowed and answer.request_id is None
    assert "a segment made of dots, such as '.' or '..'" in answer.reason


@pytest.mark.parametrize("resource", ESCAPES)
def test_the_access_check_api_says_no_to_a_way_out_of_the_scope(alice_grant, manager,
                                                                 resource):
    api = Api(make_token(manager, "data_plane")[1])
    response = api.post("/api/v1/access/check", {
        "engineer": "engineer@provider.test", "tenant": "tenant-a", "resource": resource})
    assert response.status_code == 200
    body = response.json()
    assert body["allowed"] is False and body["request_id"] is None
    assert "is not a resource identifier" in body["reason"]


def test_a_yes_kept_for_reuse_does_not_open_a_way_out(alice_grant, manager, settings,
                                                      monkeypatch):
    # The hot path may reuse what it read for a yes; the traversal must still be judged anew.
    settings.LOCKBOX_ACCESS_CACHE = 60
    monkeypatch.setattr(access_cache, "_answers", {})
    api = Api(make_token(manager, "data_plane")[1])

    def ask(resource):
        return api.post("/api/v1/access/check", {
            "engineer": "engineer@provider.test", "tenant": "tenant-a",
            "resource": resource}).json()

    assert ask(f"{ALICE}/inbox")["allowed"] is True
    assert access_cache._answers, "the yes is kept for reuse"
    assert ask(TRAVERSAL)["allowed"] is False
    assert ask(f"{ALICE}/inbox")["allowed"] is True


def test_a_scope_saved_before_the_grammar_covers_only_canonical_resources(engineer, manager,
                                                                         approver_a, tenant_a):
    """What an existing database may hold: such a grant keeps working for the canonical
    resources it covers segment by segment, and for nothing else."""
    grant = _grant(engineer, manager, approver_a, tenant_a,
                   timezone.now() - timedelta(minutes=10), [f"{ALICE}/*"])
    AccessRequest.objects.filter(pk=grant.pk).update(
        scope=["/legacy/root/*", f"{ALICE}/*", "files//share/*", "exchange/../*"])

    def ask(resource):
        return check_access(engineer=engineer, tenant=tenant_a, resource=resource).allowed

    assert ask(f"{ALICE}/inbox")
    assert not ask("/legacy/root/x")
    assert not ask("files//share/x")
    assert not ask("exchange/../etc")
    assert not ask("exchange/mailbox/bob@fabrikam.example")


# --- Submission: the form and the API ------------------------------------------------------------

FORM = {"tenant": "tenant-a", "case_reference": "CASE-9", "reason_type":
        "customer_initiated_support", "justification": "Mailbox rules broken; read them.",
        "access_level": "read_only", "duration": "60", "touches_customer_content": "on"}


@pytest.mark.parametrize("scope,words", BAD_SCOPES)
def test_the_request_form_refuses_each_bad_identifier_and_says_why(engineer, tenant_a, scope,
                                                                   words):
    events = AuditEvent.objects.count()
    page = signed_in(engineer).post("/internal/requests/new/?tenant=tenant-a",
                                    {**FORM, "scope": f"exchange/mailbox/a@a.test\n{scope}"})
    assert page.status_code == 400
    html = page.content.decode()
    assert "is not a resource identifier" in html and words in html
    assert not AccessRequest.objects.exists()
    assert AuditEvent.objects.count() == events


NEW = {"tenant": "tenant-a", "case_reference": "CASE-API", "justification": "Broken rules.",
       "reason_type": "customer_initiated_support", "duration_minutes": 60}


# (A lone surrogate never reaches the grammar through the API: no JSON body may hold one, since
# neither database can store it; tests/api/test_api_bad_input.py covers that.)
@pytest.mark.parametrize("scope,words", BAD_SCOPES)
def test_the_requests_api_refuses_each_bad_identifier_and_says_why(engineer, tenant_a, scope,
                                                                   words):
    api = Api(make_token(engineer, "support")[1])
    events = AuditEvent.objects.count()
    response = api.post("/api/v1/requests",
                        {**NEW, "scope": ["exchange/mailbox/a@a.test", scope]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "is not a resource identifier" in error["message"] and words in error["message"]
    assert not AccessRequest.objects.exists()
    assert AuditEvent.objects.count() == events


def test_a_canonical_scope_is_kept_exactly_as_typed(engineer, tenant_a):
    page = signed_in(engineer).post("/internal/requests/new/?tenant=tenant-a", {
        **FORM, "scope": " sharepoint/sites/Vertrieb-München/* \r\narn:aws:s3:::bucket-1\r\n"})
    assert page.status_code == 302
    assert AccessRequest.objects.get().scope == ["sharepoint/sites/Vertrieb-München/*",
                                                 "arn:aws:s3:::bucket-1"]


# --- Activity reports ---------------------------------------------------------------------------

def _action(resource, at):
    return {"resource": resource, "operation": "read", "at": at.isoformat()}


def test_activity_on_a_bad_identifier_is_recorded_flagged_and_never_covered(
        alice_grant, manager, approver_a, auditor):
    api = Api(make_token(manager, "data_plane")[1])
    at = timezone.now() - timedelta(minutes=1)
    response = api.post("/api/v1/activity", {
        "tenant": "tenant-a", "engineer": "engineer@provider.test",
        "actions": [_action(f"{ALICE}/inbox", at), *(_action(r, at) for r in ESCAPES)]})
    assert response.status_code == 200
    body = response.json()
    assert (body["recorded"], body["out_of_scope"]) == (1 + len(ESCAPES), len(ESCAPES))
    covered, *flagged = body["results"]
    assert covered["in_scope"] is True
    for result, resource in zip(flagged, ESCAPES, strict=True):
        assert result["in_scope"] is False
        assert result["request_id"] == str(alice_grant.pk)  # shown on the grant's page
        assert result["problem"] == f"{resources.problem(resource)} No grant covers it."

    events = AuditEvent.objects.filter(action="activity.out_of_scope").order_by("seq")
    assert [e.data["resource"] for e in events] == [resources.visible(r) for r in ESCAPES]
    assert events[8].data["resource"] == f"{ALICE}/inbox\\u001b/../../bob@fabrikam.example"
    assert verify_chain("tenant:tenant-a").ok
    page = signed_in(approver_a).get(f"/t/tenant-a/requests/{alice_grant.pk}/").content.decode()
    assert f"{len(ESCAPES)} actions outside the grant." in page
    delivery.retry_due()
    told = {m.to[0] for m in mail.outbox if "outside any grant" in m.subject}
    assert {"approver@a.test", "auditor@provider.test"} <= told


def test_a_bad_identifier_with_no_grant_open_is_still_flagged(engineer, tenant_a, manager):
    api = Api(make_token(manager, "data_plane")[1])
    body = api.post("/api/v1/activity", {
        "tenant": "tenant-a", "engineer": "engineer@provider.test",
        "actions": [_action("exchange/\u200b/../x", timezone.now())]}).json()
    (result,) = body["results"]
    assert result["in_scope"] is False and result["request_id"] is None
    assert "invisible formatting character (U+200B" in result["problem"]
    event = AuditEvent.objects.get(action="activity.out_of_scope")
    assert event.data["resource"] == "exchange/\\u200b/../x"


# --- What Lockbox seeds itself ------------------------------------------------------------------

def _canonical_everywhere(*, covered=True):
    scopes = dict(AccessRequest.objects.values_list("pk", "scope"))
    assert scopes and all(resources.problem(item, pattern=True) == ""
                          for scope in scopes.values() for item in scope)
    reported = AuditEvent.objects.filter(action__startswith="activity.")
    assert reported and all(resources.problem(e.data["resource"]) == "" for e in reported)
    for event in reported.filter(action="activity.recorded") if covered else ():
        assert resources.covered_by_any(scopes[event.request_id], event.data["resource"])


def test_the_demo_asks_only_for_canonical_scopes(settings, db):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    _canonical_everywhere()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_benchmark_data_has_only_canonical_scopes():
    call_command("bench_seed", tenants=2, requests=20, events=300, stdout=StringIO())
    # Its activity picks mailboxes at random, inside a grant's time but not its scope: it
    # feeds the search benchmarks, so only the form of its identifiers is held here.
    _canonical_everywhere(covered=False)
