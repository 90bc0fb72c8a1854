"""The archives of a tenant's old audit events: listed and downloaded by its admins and
compliance readers in the portal, and by the provider's auditors on the internal site."""

import json
from datetime import timedelta

import pytest

from audit.archives import archive_due
from audit.services import record_event
from lockbox_portal import clock
from tests import factories
from tests.clients import signed_in

YEARS_AGO = timedelta(days=9 * 366)


@pytest.fixture
def tenant_a(db, settings, tmp_path):
    """Tenant A, created nine years ago, with five events eight years old."""
    settings.LOCKBOX_ARCHIVE_DIR = str(tmp_path)
    tenant = factories.tenant("tenant-a", now=clock.now() - YEARS_AGO)
    for n in range(5):
        record_event(chain=tenant.audit_chain, action="test.happened", data={"n": n},
                     now=clock.now() - timedelta(days=8 * 366))
    return tenant


@pytest.fixture
def archived(tenant_a, admin_a, reader_a, approver_a, approver_b):
    archive_due()
    return tenant_a


def _body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_a_tenant_admin_lists_and_downloads_the_archives(archived, admin_a):
    client = signed_in(admin_a)
    audit_page = client.get("/t/tenant-a/audit/").content.decode()
    assert "archives of older events" in audit_page and "The log verifies" in audit_page
    assert "Events 1 to 6 have left the database as signed archives" in audit_page
    html = client.get("/t/tenant-a/audit/archives/").content.decode()
    assert "1 to 6" in html and "7 years" in html and "No legal hold is on" in html
    lines = _body(client.get("/t/tenant-a/audit/archives/1.jsonl")).decode().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    response = client.get("/t/tenant-a/audit/archives/1.manifest.json")
    assert "lockbox-archive-tenant-a-000000000001-000000000006.manifest.json" in \
        response["Content-Disposition"]
    manifest = json.loads(response.content)
    assert manifest["chain"] == "tenant:tenant-a" and manifest["last_seq"] == 6
    assert manifest["signature"]["alg"] == "Ed25519"
    assert client.get("/t/tenant-a/audit/archives/7.jsonl").status_code == 404


def test_a_compliance_reader_may_download_but_an_approver_may_not(archived, reader_a,
                                                                  approver_a):
    assert signed_in(reader_a).get("/t/tenant-a/audit/archives/1.manifest.json") \
        .status_code == 200
    approver = signed_in(approver_a)
    assert approver.get("/t/tenant-a/audit/archives/1.jsonl").status_code == 403
    assert "archives of older events" not in approver.get("/t/tenant-a/audit/").content.decode()


def test_another_tenants_people_never_reach_the_archives(archived, approver_b):
    assert signed_in(approver_b).get("/t/tenant-a/audit/archives/1.jsonl").status_code == 404
    assert signed_in(approver_b).get("/t/tenant-b/audit/archives/1.jsonl").status_code == 403


def test_a_missing_file_says_so(archived, admin_a, tmp_path):
    (tmp_path / "tenant" / "tenant-a" / "000000000001-000000000006.jsonl").unlink()
    response = signed_in(admin_a).get("/t/tenant-a/audit/archives/1.jsonl")
    assert response.status_code == 404


def test_a_provider_auditor_downloads_any_tenants_archives(archived, auditor, engineer):
    client = signed_in(auditor)
    assert "archives of older events" in client.get("/internal/audit/").content.decode()
    assert "Tenant A" in client.get("/internal/audit/archives/").content.decode()
    html = client.get("/internal/audit/archives/tenant-a/").content.decode()
    assert "1 to 6" in html
    manifest = json.loads(client.get("/internal/audit/archives/tenant-a/1.manifest.json")
                          .content)
    assert manifest["head_hash"] and manifest["count"] == 6
    assert client.get("/internal/audit/archives/nope/").status_code == 404
    assert signed_in(engineer).get("/internal/audit/archives/tenant-a/1.jsonl") \
        .status_code == 403


# --- Retention and legal hold ----------------------------------------------------------------

def _changes(action):
    from audit.models import AuditEvent

    return list(AuditEvent.objects.filter(chain="tenant:tenant-a", action=action)
                .values_list("actor_email", "data"))


def test_a_tenant_admin_sets_the_retention_and_a_legal_hold_with_a_fresh_code(tenant_a,
                                                                                admin_a):
    client = signed_in(admin_a)
    form = client.get("/t/tenant-a/settings/retention/").content.decode()
    assert 'value="7"' in form and "Audit retention" in form
    refused = client.post("/t/tenant-a/settings/retention/",
                          {"audit_retention_years": "3", "legal_hold": "on"})
    assert refused.status_code == 400
    tenant_a.refresh_from_db()
    assert tenant_a.audit_retention_years == 7 and not tenant_a.legal_hold
    response = client.post("/t/tenant-a/settings/retention/", {
        "audit_retention_years": "3", "legal_hold": "on", "code": client.codes[0]})
    assert response.status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.audit_retention_years == 3 and tenant_a.legal_hold
    assert _changes("tenant.retention_changed") == [
        ("admin@a.test", {"audit_retention_years": {"old": 7, "new": 3}})]
    assert _changes("tenant.legal_hold_changed") == [
        ("admin@a.test", {"legal_hold": {"old": False, "new": True}})]
    # Under the hold, eight-year-old events stay in the database.
    assert archive_due().archives == 0


def test_the_retention_is_bounded_and_only_for_admins(tenant_a, admin_a, approver_a):
    client = signed_in(admin_a)
    page = client.post("/t/tenant-a/settings/retention/",
                       {"audit_retention_years": "11", "code": client.codes[0]})
    assert page.status_code == 400 and "less than or equal to 10" in page.content.decode()
    assert signed_in(approver_a).get("/t/tenant-a/settings/retention/").status_code == 403


def test_a_provider_auditor_places_a_legal_hold_with_a_fresh_code(tenant_a, auditor, engineer):
    client = signed_in(auditor)
    assert client.post("/internal/audit/archives/tenant-a/", {"legal_hold": "on"}) \
        .status_code == 400
    response = client.post("/internal/audit/archives/tenant-a/",
                           {"legal_hold": "on", "code": client.codes[0]})
    assert response.status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.provider_legal_hold and not tenant_a.legal_hold and tenant_a.on_legal_hold
    assert _changes("tenant.legal_hold_changed") == [
        ("auditor@provider.test", {"provider_legal_hold": {"old": False, "new": True}})]
    assert signed_in(engineer).post("/internal/audit/archives/tenant-a/", {
        "legal_hold": ""}).status_code == 403


def test_a_tenant_admin_cannot_lift_the_providers_hold(tenant_a, admin_a, auditor):
    from approvals.tenants import set_audit_retention, set_provider_legal_hold

    set_provider_legal_hold(tenant=tenant_a, actor=auditor, on=True)
    set_audit_retention(tenant=tenant_a, actor=admin_a, years=1, legal_hold=True)
    set_audit_retention(tenant=tenant_a, actor=admin_a, years=1, legal_hold=False)
    tenant_a.refresh_from_db()
    assert tenant_a.provider_legal_hold and tenant_a.on_legal_hold
    page = signed_in(admin_a).get("/t/tenant-a/settings/retention/").content.decode()
    assert "The provider's auditors have placed a legal hold" in page
    page = signed_in(admin_a).get("/t/tenant-a/audit/archives/").content.decode()
    assert "held by the provider; only the provider's auditors can lift it" in page


def test_nobody_else_may_place_a_legal_hold(tenant_a, admin_a, approver_a, engineer):
    from approvals.errors import NotPermitted
    from approvals.tenants import set_audit_retention, set_provider_legal_hold

    for person in (admin_a, approver_a, engineer):
        with pytest.raises(NotPermitted):
            set_provider_legal_hold(tenant=tenant_a, actor=person, on=True)
    with pytest.raises(NotPermitted):
        set_audit_retention(tenant=tenant_a, actor=approver_a, years=1, legal_hold=False)
    tenant_a.refresh_from_db()
    assert not tenant_a.legal_hold and tenant_a.audit_retention_years == 7


def test_the_auditors_list_of_tenants_comes_in_pages(tenant_a, auditor):
    for n in range(30):
        factories.tenant(f"zz-tenant-{n:02d}")
    client = signed_in(auditor)
    first = client.get("/internal/audit/archives/").content.decode()
    assert "Page 1 of 2" in first and "tenant-a" in first and "zz-tenant-29" not in first
    last = client.get("/internal/audit/archives/?page=2").content.decode()
    assert "zz-tenant-29" in last and "tenant-a" not in last
    assert "Page 1 of 2" in client.get("/internal/audit/archives/?page=x").content.decode()
