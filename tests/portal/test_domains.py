"""E-mail domains a tenant proves it owns with a DNS TXT record, checked against a real DNS
server on loopback (tests/dns_server.py): claiming, checking, the daily recheck and lapse,
removing, and what another tenant can and cannot do."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from approvals import domains
from approvals.errors import NotPermitted
from approvals.models import DomainClaim, TenantRole
from audit.models import AuditEvent
from tests import factories
from tests.clients import signed_in
from tests.dns_server import SilentServer, TxtZone

Outcome = domains.Outcome


@pytest.fixture
def zone(settings):
    with TxtZone() as served:
        settings.LOCKBOX_DNS_NAMESERVERS = [served.address]
        yield served


@pytest.fixture
def admin_b(tenant_b):
    return factories.person("admin@b.test", tenant=tenant_b, tenant_roles=[TenantRole.ADMIN])


def publish(zone, claim):
    zone.txt.setdefault(domains.record_name(claim), []).append(domains.record_value(claim))


def events(tenant, action):
    return list(AuditEvent.objects.filter(chain=tenant.audit_chain, action=action)
                .order_by("seq"))


# --- What counts as a domain ---------------------------------------------------------------------

@pytest.mark.parametrize("typed,stored", [
    ("example.com", "example.com"),
    ("  Example.COM. ", "example.com"),
    ("@example.com", "example.com"),
    ("mail.eu.example.co.uk", "mail.eu.example.co.uk"),
    ("bücher.de", "xn--bcher-kva.de"),
    ("a-b.example", "a-b.example"),
])
def test_a_domain_is_stored_in_one_form(typed, stored):
    assert domains.normalize(typed) == stored


@pytest.mark.parametrize("typed", [
    "", "   ", "com", "localhost", "10.0.0.1", "example..com", "-a.example.com",
    "a-.example.com", "https://example.com", "admin@example.com", "exa mple.com",
    "example.com/path", "exam\x00ple.com", "_dmarc.example.com", "a" * 64 + ".com",
    ("a" * 60 + ".") * 4 + "com", "*.example.com", "example.123",
])
def test_what_is_not_a_domain_is_refused(typed):
    with pytest.raises(ValidationError) as refused:
        domains.normalize(typed)
    assert "domain" in refused.value.message_dict


# --- Claiming and checking -----------------------------------------------------------------------

def test_a_domain_is_verified_once_its_record_is_published(zone, tenant_a, admin_a, now):
    claim = domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="Example.com", now=now)
    assert claim.domain == "example.com" and not claim.is_verified
    assert domains.record_name(claim) == "_lockbox-challenge.example.com"
    assert domains.record_value(claim).startswith("lockbox-domain-verification=")

    outcome, said = domains.check_domain(claim=claim, actor=admin_a, now=now)
    assert outcome is Outcome.NOT_FOUND and "not verified yet" in said
    claim.refresh_from_db()
    assert not claim.is_verified and claim.last_result == "not_found"
    assert zone.asked == ["_lockbox-challenge.example.com"]

    publish(zone, claim)
    outcome, said = domains.check_domain(claim=claim, actor=admin_a, now=now + timedelta(hours=1))
    assert outcome is Outcome.VERIFIED and said == "example.com is verified."
    claim.refresh_from_db()
    assert claim.verified_at == now + timedelta(hours=1) and claim.last_problem == ""

    [claimed] = events(tenant_a, "domain.claimed")
    [verified] = events(tenant_a, "domain.verified")
    assert claimed.actor_email == verified.actor_email == "admin@a.test"
    assert verified.data == {"domain": "example.com", "record": "_lockbox-challenge.example.com"}


def test_only_this_claims_value_proves_it(zone, tenant_a, admin_a, now):
    claim = domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.com", now=now)
    zone.txt["_lockbox-challenge.example.com"] = [
        "lockbox-domain-verification=someone-elses-value", "v=spf1 -all",
        domains.record_value(claim) + "x"]
    assert domains.check_domain(claim=claim, actor=admin_a, now=now)[0] is Outcome.NOT_FOUND
    # On another name it proves nothing either.
    zone.txt["example.com"] = [domains.record_value(claim)]
    assert domains.check_domain(claim=claim, actor=admin_a, now=now)[0] is Outcome.NOT_FOUND
    assert not events(tenant_a, "domain.verified")


def test_a_long_record_in_several_pieces_is_read_whole(zone, tenant_a, admin_a, now):
    claim = domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.com", now=now)
    value = domains.record_value(claim)
    zone.txt[domains.record_name(claim)] = [[value[:20], value[20:]]]
    assert domains.check_domain(claim=claim, actor=admin_a, now=now)[0] is Outcome.VERIFIED


def test_dns_that_fails_changes_nothing_and_says_so(zone, tenant_a, admin_a, now):
    claim = domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.com", now=now)
    zone.failing = True
    outcome, said = domains.check_domain(claim=claim, actor=admin_a, now=now)
    assert outcome is Outcome.UNAVAILABLE
    assert said == "Nothing changed for example.com. Could not check: DNS answered with an " \
                   "error (SERVFAIL or refused)."
    claim.refresh_from_db()
    assert claim.last_result == "unavailable" and not claim.is_verified


def test_dns_that_never_answers_ends_within_the_timeout(settings, tenant_a, admin_a, now):
    settings.LOCKBOX_DNS_TIMEOUT = 0.3
    claim = domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.com", now=now)
    with SilentServer() as address:
        settings.LOCKBOX_DNS_NAMESERVERS = [address]
        outcome, said = domains.check_domain(claim=claim, actor=admin_a, now=now)
    assert outcome is Outcome.UNAVAILABLE
    assert "DNS did not answer within 0.3 s." in said


@pytest.mark.parametrize("item", ["dns.example.com", "127.0.0.1:0", "127.0.0.1:99999",
                                  "[::1]x", "1.2.3.4:53:53"])
def test_a_nameserver_setting_that_is_not_an_address_is_a_configuration_error(
        settings, tenant_a, admin_a, now, item):
    from django.core.exceptions import ImproperlyConfigured

    settings.LOCKBOX_DNS_NAMESERVERS = [item]
    claim = domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.com", now=now)
    with pytest.raises(ImproperlyConfigured):
        domains.check_domain(claim=claim, actor=admin_a, now=now)


def test_claims_are_refused_twice_and_beyond_the_limit(tenant_a, admin_a, now, monkeypatch):
    domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.com", now=now)
    with pytest.raises(ValidationError, match="already on this list"):
        domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="EXAMPLE.com.", now=now)
    monkeypatch.setattr(domains, "MAX_DOMAINS", 2)
    domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.org", now=now)
    with pytest.raises(ValidationError, match="at most 2 domains"):
        domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.net", now=now)
    assert DomainClaim.objects.filter(tenant=tenant_a).count() == 2


def test_only_the_tenants_admins_claim_check_and_remove(zone, tenant_a, admin_a, approver_a,
                                                        admin_b, now):
    for person in (approver_a, admin_b):
        with pytest.raises(NotPermitted):
            domains.claim_domain(tenant=tenant_a, actor=person, domain="example.com", now=now)
    claim = domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.com", now=now)
    for person in (approver_a, admin_b):
        with pytest.raises(NotPermitted):
            domains.check_domain(claim=claim, actor=person, now=now)
        with pytest.raises(NotPermitted):
            domains.remove_domain(claim=claim, actor=person, now=now)
    assert zone.asked == []


# --- Two tenants, one domain ---------------------------------------------------------------------

def test_no_tenant_can_take_a_domain_another_has_verified(zone, tenant_a, admin_a, tenant_b,
                                                          admin_b, now):
    # Both may claim it while neither has proved it; the first proof wins.
    mine = domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.com", now=now)
    theirs = domains.claim_domain(tenant=tenant_b, actor=admin_b, domain="example.com", now=now)
    publish(zone, mine)
    publish(zone, theirs)  # whoever runs the DNS published both: still only one tenant wins
    assert domains.check_domain(claim=mine, actor=admin_a, now=now)[0] is Outcome.VERIFIED
    outcome, said = domains.check_domain(claim=theirs, actor=admin_b, now=now)
    assert outcome is Outcome.TAKEN and "Another organisation has already verified" in said
    theirs.refresh_from_db()
    assert not theirs.is_verified and theirs.last_result == "taken"
    assert not events(tenant_b, "domain.verified")
    tenant_c = factories.tenant("tenant-c")
    admin_c = factories.person("admin@c.test", tenant=tenant_c, tenant_roles=[TenantRole.ADMIN])
    with pytest.raises(ValidationError, match="Another organisation"):
        domains.claim_domain(tenant=tenant_c, actor=admin_c, domain="example.com", now=now)

    # Once tenant A lets it go, tenant B's proof counts.
    domains.remove_domain(claim=mine, actor=admin_a, now=now)
    assert domains.check_domain(claim=theirs, actor=admin_b, now=now)[0] is Outcome.VERIFIED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_tenants_checking_at_the_same_moment_verify_it_once(zone, now):
    tenants, claims = [], []
    for letter in "abcdef":
        tenant = factories.tenant(f"race-{letter}")
        admin = factories.person(f"admin@{letter}.race", tenant=tenant,
                                 tenant_roles=[TenantRole.ADMIN])
        claim = domains.claim_domain(tenant=tenant, actor=admin, domain="example.com", now=now)
        publish(zone, claim)
        tenants.append(tenant)
        claims.append((claim, admin))
    barrier = threading.Barrier(len(claims))
    outcomes = []

    def check(claim, admin):
        try:
            barrier.wait()
            outcomes.append(domains.check_domain(claim=claim, actor=admin, now=now)[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=check, args=pair) for pair in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.value for o in outcomes) == ["taken"] * 5 + ["verified"]
    assert DomainClaim.objects.filter(domain="example.com", verified_at__isnull=False).count() == 1
    assert sum(len(events(t, "domain.verified")) for t in tenants) == 1


# --- The daily recheck ---------------------------------------------------------------------------

def test_a_domain_whose_record_stays_gone_stops_being_verified(zone, tenant_a, admin_a, now):
    claim = domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.com", now=now)
    publish(zone, claim)
    domains.check_domain(claim=claim, actor=admin_a, now=now)
    day = timedelta(days=1)

    # Checked again only once a day has passed.
    assert domains.recheck_due(now=now + timedelta(hours=23)) == {}
    assert domains.recheck_due(now=now + day + timedelta(minutes=1)) == {"still": 1}

    zone.txt.clear()
    assert domains.recheck_due(now=now + 3 * day) == {"missing": 1}
    claim.refresh_from_db()
    assert claim.is_verified and claim.record_missing
    # DNS that cannot be asked is not the record missing: nothing lapses on it.
    zone.failing = True
    assert domains.recheck_due(now=now + 9 * day) == {"unavailable": 1}
    claim.refresh_from_db()
    assert claim.is_verified
    zone.failing = False
    assert domains.recheck_due(now=now + 10 * day + timedelta(minutes=1)) == {"lapsed": 1}
    claim.refresh_from_db()
    assert not claim.is_verified
    [lapsed] = events(tenant_a, "domain.lapsed")
    assert lapsed.actor_email == "" and lapsed.data["domain"] == "example.com"
    assert lapsed.data["last_seen"] == (now + day + timedelta(minutes=1)).isoformat()
    # Lapsed domains are not rechecked by the job; the admin checks them again by hand.
    assert domains.recheck_due(now=now + 20 * day) == {}


def test_the_recheck_takes_a_bounded_batch_oldest_first(zone, tenant_a, admin_a, now,
                                                        monkeypatch):
    claims = []
    for i in range(3):
        claim = domains.claim_domain(tenant=tenant_a, actor=admin_a, domain=f"d{i}.example",
                                     now=now)
        publish(zone, claim)
        domains.check_domain(claim=claim, actor=admin_a, now=now + timedelta(minutes=3 - i))
        claims.append(claim)
    monkeypatch.setattr(domains, "RECHECK_BATCH", 2)
    zone.asked.clear()
    assert domains.recheck_due(now=now + timedelta(days=2)) == {"still": 2}
    assert zone.asked == ["_lockbox-challenge.d2.example", "_lockbox-challenge.d1.example"]


# --- The settings page ---------------------------------------------------------------------------

@pytest.fixture
def admin_client(admin_a):
    return signed_in(admin_a)


def test_an_admin_adds_checks_and_removes_a_domain_from_the_page(zone, admin_client, tenant_a):
    page = admin_client.get("/t/tenant-a/settings/domains/")
    assert page.status_code == 200 and "No domains yet." in page.content.decode()

    added = admin_client.post("/t/tenant-a/settings/domains/",
                              {"domain": "Example.com", "code": admin_client.codes[0]})
    assert added.status_code == 302
    claim = DomainClaim.objects.get(tenant=tenant_a)
    page = admin_client.get("/t/tenant-a/settings/domains/").content.decode()
    assert "example.com added. Publish its DNS record below" in page
    assert "_lockbox-challenge.example.com" in page and domains.record_value(claim) in page
    assert "Not verified yet" in page

    publish(zone, claim)
    assert admin_client.get(f"/t/tenant-a/settings/domains/{claim.pk}/check/").status_code == 405
    checked = admin_client.post(f"/t/tenant-a/settings/domains/{claim.pk}/check/", follow=True)
    assert "example.com is verified." in checked.content.decode()
    assert ">Verified</span>" in checked.content.decode()

    confirm = admin_client.get(f"/t/tenant-a/settings/domains/{claim.pk}/remove/")
    assert "Remove example.com from Tenant A?" in confirm.content.decode()
    assert "another organisation could then prove it is theirs" in confirm.content.decode()
    assert DomainClaim.objects.filter(pk=claim.pk).exists()  # a GET removes nothing
    refused = admin_client.post(f"/t/tenant-a/settings/domains/{claim.pk}/remove/",
                                {"code": "000000"})
    assert refused.status_code == 400 and DomainClaim.objects.filter(pk=claim.pk).exists()
    removed = admin_client.post(f"/t/tenant-a/settings/domains/{claim.pk}/remove/",
                                {"code": admin_client.codes[1]}, follow=True)
    assert "example.com was removed from Tenant A." in removed.content.decode()
    assert not DomainClaim.objects.filter(pk=claim.pk).exists()
    [event] = events(tenant_a, "domain.removed")
    assert event.data == {"domain": "example.com", "was_verified": True}


def test_adding_needs_a_step_up_and_a_real_domain(admin_client, tenant_a):
    page = admin_client.post("/t/tenant-a/settings/domains/", {"domain": "example.com"})
    assert page.status_code == 400
    bad = admin_client.post("/t/tenant-a/settings/domains/",
                            {"domain": "https://example.com", "code": admin_client.codes[0]})
    assert bad.status_code == 400
    assert "Enter a domain name such as example.com" in bad.content.decode()
    assert not DomainClaim.objects.exists()
    assert not events(tenant_a, "domain.claimed")


def test_another_tenants_domain_is_not_found(zone, tenant_a, admin_a, tenant_b, admin_b, now):
    claim = domains.claim_domain(tenant=tenant_a, actor=admin_a, domain="example.com", now=now)
    other = signed_in(admin_b)
    # Tenant B's admin, under tenant B's own pages, naming tenant A's claim.
    assert other.post(f"/t/tenant-b/settings/domains/{claim.pk}/check/").status_code == 404
    assert other.get(f"/t/tenant-b/settings/domains/{claim.pk}/remove/").status_code == 404
    assert other.post(f"/t/tenant-b/settings/domains/{claim.pk}/remove/",
                      {"code": other.codes[0]}).status_code == 404
    # And under tenant A's, which they are not a member of.
    assert other.get("/t/tenant-a/settings/domains/").status_code == 404
    assert other.post(f"/t/tenant-a/settings/domains/{claim.pk}/check/").status_code == 404
    assert "_lockbox-challenge.example.com" not in \
        other.get("/t/tenant-b/settings/domains/").content.decode()
    assert DomainClaim.objects.filter(pk=claim.pk).exists() and zone.asked == []
