"""The access check may reuse a yes for LOCKBOX_ACCESS_CACHE seconds (approvals.access_cache), and
whatever takes access away waits that long after committing, so no answer from before it is
ever given afterwards. The process's clock is a fake here: `time.sleep` moves it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import access_cache, access_query, tokens
from approvals import transitions as t
from tests import factories
from tests.api_helpers import Api, make_token

RESOURCE = "exchange/mailbox/user@example.test"
LEASE = 1.0


class FakeClock:
    def __init__(self):
        self.at = 1000.0

    def monotonic(self):
        return self.at

    def sleep(self, seconds):
        self.at += seconds


@pytest.fixture
def clock(monkeypatch, settings):
    settings.LOCKBOX_ACCESS_CACHE = LEASE
    fake = FakeClock()
    monkeypatch.setattr(access_cache.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(access_cache.time, "sleep", fake.sleep)
    monkeypatch.setattr(access_cache, "_answers", {})
    return fake


@pytest.fixture
def lookups(monkeypatch):
    """How many times the check asked the database."""
    calls = []
    real = access_query._token_and_grants

    def counting(**params):
        calls.append(params)
        return real(**params)

    monkeypatch.setattr(access_query, "_token_and_grants", counting)
    return calls


@pytest.fixture
def data_plane(manager):
    token, raw = make_token(manager, "data_plane")
    api = Api(raw)
    api.token = token
    return api


def _grant(engineer, manager2, approver_a, tenant_a, resource=RESOURCE):
    now = timezone.now()
    req = factories.submit(engineer=engineer, tenant=tenant_a, scope=[resource],
                           now=now - timedelta(minutes=10))
    t.internal_approve(access_request=req, actor=manager2, now=now - timedelta(minutes=9))
    t.customer_approve(access_request=req, actor=approver_a, now=now - timedelta(minutes=8))
    return req


def _allowed(api, resource=RESOURCE):
    response = api.post("/api/v1/access/check", {
        "engineer": "engineer@provider.test", "tenant": "tenant-a", "resource": resource})
    assert response.status_code == 200, response.content
    return response.json()["allowed"]


def test_a_yes_is_reused_within_the_lease_and_asked_again_after(
        clock, lookups, data_plane, engineer, manager2, approver_a, tenant_a):
    _grant(engineer, manager2, approver_a, tenant_a)
    assert _allowed(data_plane) and _allowed(data_plane) and _allowed(data_plane)
    assert len(lookups) == 1
    clock.at += LEASE
    assert _allowed(data_plane)
    assert len(lookups) == 2


def test_a_no_is_never_reused_so_a_new_approval_works_at_once(
        clock, lookups, data_plane, engineer, manager2, approver_a, tenant_a):
    _grant(engineer, manager2, approver_a, tenant_a)
    other = "exchange/mailbox/other@example.test"
    assert _allowed(data_plane) and not _allowed(data_plane, other)
    _grant(engineer, manager2, approver_a, tenant_a, resource=other)
    assert _allowed(data_plane, other)  # no waiting for the reused answer to lapse
    assert len(lookups) == 3


def test_a_wrong_secret_with_a_known_prefix_is_refused_even_when_an_answer_is_kept(
        clock, data_plane, engineer, manager2, approver_a, tenant_a):
    _grant(engineer, manager2, approver_a, tenant_a)
    assert _allowed(data_plane)
    forged = Api(f"lbx_{data_plane.token.prefix}_{'A' * 43}")
    response = forged.post("/api/v1/access/check", {
        "engineer": "engineer@provider.test", "tenant": "tenant-a", "resource": RESOURCE})
    assert response.status_code == 401


def test_a_grant_ending_is_honoured_by_the_next_check_even_from_a_kept_answer(
        clock, lookups, data_plane, engineer, manager2, approver_a, tenant_a, monkeypatch):
    from lockbox_portal import clock as wall

    grant = _grant(engineer, manager2, approver_a, tenant_a)
    grant.refresh_from_db()
    monkeypatch.setattr(wall, "now", lambda: grant.access_ends_at - timedelta(seconds=1))
    assert _allowed(data_plane)
    monkeypatch.setattr(wall, "now", lambda: grant.access_ends_at)
    assert not _allowed(data_plane)


def _taking_away(django_capture_on_commit_callbacks, clock, change):
    """Run `change` and its after-commit work; return how long it waited."""
    before = clock.at
    with django_capture_on_commit_callbacks(execute=True):
        change()
    return clock.at - before


def test_a_revocation_waits_out_the_lease_so_the_next_check_says_no(
        clock, lookups, data_plane, engineer, manager2, approver_a, tenant_a,
        django_capture_on_commit_callbacks):
    grant = _grant(engineer, manager2, approver_a, tenant_a)
    assert _allowed(data_plane)
    waited = _taking_away(django_capture_on_commit_callbacks, clock,
                          lambda: t.revoke(access_request=grant, actor=approver_a))
    assert waited == LEASE
    assert not _allowed(data_plane)


def test_a_release_waits_out_the_lease_too(
        clock, data_plane, engineer, manager2, approver_a, tenant_a,
        django_capture_on_commit_callbacks):
    grant = _grant(engineer, manager2, approver_a, tenant_a)
    assert _allowed(data_plane)
    _taking_away(django_capture_on_commit_callbacks, clock,
                 lambda: t.release(access_request=grant, actor=engineer))
    assert not _allowed(data_plane)


def test_a_revoked_token_is_refused_by_the_next_check(
        clock, data_plane, manager, engineer, manager2, approver_a, tenant_a,
        django_capture_on_commit_callbacks):
    _grant(engineer, manager2, approver_a, tenant_a)
    assert _allowed(data_plane)
    waited = _taking_away(django_capture_on_commit_callbacks, clock,
                          lambda: tokens.revoke_token(token=data_plane.token, actor=manager))
    assert waited == LEASE
    response = data_plane.post("/api/v1/access/check", {
        "engineer": "engineer@provider.test", "tenant": "tenant-a", "resource": RESOURCE})
    assert response.status_code == 401


def test_a_switched_off_owner_is_refused_by_the_next_check(
        clock, data_plane, manager, engineer, manager2, approver_a, tenant_a,
        django_capture_on_commit_callbacks):
    _grant(engineer, manager2, approver_a, tenant_a)
    assert _allowed(data_plane)

    def switch_off():
        manager.is_active = False
        manager.save()  # as the admin does

    assert _taking_away(django_capture_on_commit_callbacks, clock, switch_off) == LEASE
    response = data_plane.post("/api/v1/access/check", {
        "engineer": "engineer@provider.test", "tenant": "tenant-a", "resource": RESOURCE})
    assert response.status_code == 401


def test_saving_someone_already_switched_off_takes_nothing_away_and_waits_for_nothing(
        clock, manager, django_capture_on_commit_callbacks):
    manager.is_active = False
    manager.save()

    def rename():
        manager.first_name = "Renamed"
        manager.save()  # as the admin does, every field written

    with django_capture_on_commit_callbacks() as waits:
        rename()
    assert waits == []
    assert _taking_away(django_capture_on_commit_callbacks, clock, rename) == 0


def test_switching_someone_on_again_waits_for_nothing(
        clock, manager, django_capture_on_commit_callbacks):
    manager.is_active = False
    manager.save()

    def switch_on():
        manager.is_active = True
        manager.save()

    assert _taking_away(django_capture_on_commit_callbacks, clock, switch_on) == 0


def test_one_wait_covers_every_change_in_a_transaction(
        clock, engineer, manager2, approver_a, tenant_a, django_capture_on_commit_callbacks):
    from django.db import transaction

    grants = [_grant(engineer, manager2, approver_a, tenant_a) for _ in range(3)]

    def revoke_all():
        with transaction.atomic():
            for grant in grants:
                t.revoke(access_request=grant, actor=approver_a)

    assert _taking_away(django_capture_on_commit_callbacks, clock, revoke_all) == LEASE


def test_nothing_waits_when_answers_are_not_kept(
        settings, engineer, manager2, approver_a, tenant_a, django_capture_on_commit_callbacks,
        monkeypatch):
    settings.LOCKBOX_ACCESS_CACHE = 0
    slept = []
    monkeypatch.setattr(access_cache.time, "sleep", slept.append)
    grant = _grant(engineer, manager2, approver_a, tenant_a)
    with django_capture_on_commit_callbacks(execute=True):
        t.revoke(access_request=grant, actor=approver_a)
    assert slept == []
