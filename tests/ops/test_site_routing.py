"""LOCKBOX_SITE chooses the site a process serves; the customer site routes no internal URL."""

import pytest


@pytest.fixture
def site(serve_site):
    return serve_site


ID = "6f1c2a9e-0d4b-4c8e-9a51-2b7d3e4f5a61"
INTERNAL_URLS = [
    "/internal/", "/internal/requests/new/", "/internal/requests/mine/",
    f"/internal/requests/{ID}/", f"/internal/requests/{ID}/notes/",
    *[f"/internal/requests/{ID}/{verb}/" for verb in
      ("approve", "reject", "revoke", "cancel", "release")],
    "/internal/queue/", "/internal/audit/", "/internal/audit/export.csv",
    "/internal/audit/export.jsonl", "/internal/admin/", "/internal/admin/login/",
    "/internal/admin/approvals/accessrequest/", "/internal/admin/audit/auditevent/",
    "/api/v1/access/check", "/api/v1/activity", "/api/v1/requests", f"/api/v1/requests/{ID}",
    f"/api/v1/requests/{ID}/cancel",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_customer_site_routes_no_internal_url(site, url, auditor, engineer, manager):
    # Even for provider staff, signed in with a second factor: the route does not exist.
    from tests.clients import signed_in

    site("customer")
    for person in (auditor, engineer, manager):
        assert signed_in(person).get(url).status_code == 404


def test_the_customer_site_resolves_no_internal_name(site, db):
    from django.urls import NoReverseMatch, reverse

    site("customer")
    for name in ("internal:home", "internal:queue", "admin:index"):
        with pytest.raises(NoReverseMatch):
            reverse(name)


CUSTOMER_URLS = [
    "/t/tenant-a/", f"/t/tenant-a/requests/{ID}/",
    *[f"/t/tenant-a/requests/{ID}/{verb}/" for verb in ("approve", "reject", "revoke")],
    "/t/tenant-a/history/", "/t/tenant-a/audit/", "/t/tenant-a/audit/export.csv",
    "/t/tenant-a/audit/export.jsonl", "/t/tenant-a/settings/", "/t/tenant-a/settings/members/",
    "/t/tenant-a/settings/members/1/", "/t/tenant-a/settings/members/1/remove/",
    "/t/tenant-a/settings/notifications/",
    "/api/v1/tenants/tenant-a/audit/events", "/v1/organizations/tenant-a/approvalRequests",
    "/v1/organizations/tenant-a/accessApprovalSettings",
    "/subscriptions/tenant-a/providers/Microsoft.CustomerLockbox/requests",
    "/providers/Microsoft.CustomerLockbox/tenantOptedIn/tenant-a",
]


def test_the_internal_sites_front_door_is_its_own(site, client, db):
    site("internal")
    assert client.get("/")["Location"] == "/internal/"


@pytest.mark.parametrize("url", CUSTOMER_URLS)
def test_the_internal_site_routes_no_customer_url(site, url, admin_a, approver_a):
    from tests.clients import signed_in

    site("internal")
    for person in (admin_a, approver_a):
        assert signed_in(person).get(url).status_code == 404


@pytest.mark.parametrize("name", ["internal", "all"])
def test_the_internal_site_routes_the_admin(site, client, name, db):
    site(name)
    assert client.get("/internal/admin/login/")["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", ["customer", "internal", "all"])
def test_every_site_answers_health_checks(site, client, name, db):
    site(name)
    response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


def test_unknown_pages_get_a_plain_404(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_responses_carry_a_strict_content_security_policy(client, db):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("name,paths", [
    ("customer", {"/api/v1/tenants/{tenant}/audit/events"}),
    ("internal", {"/api/v1/access/check", "/api/v1/activity", "/api/v1/requests",
                  "/api/v1/requests/{id}", "/api/v1/requests/{id}/cancel"}),
])
def test_each_site_describes_only_its_own_api(site, client, name, paths, db):
    site(name)
    assert set(client.get("/api/v1/openapi.json").json()["paths"]) == paths
