"""LOCKBOX_SITE chooses the site a process serves; the customer site routes no internal URL."""

import pytest


@pytest.fixture
def site(serve_site):
    return serve_site


INTERNAL_URLS = ["/internal/admin/", "/internal/admin/login/",
                 "/internal/admin/approvals/accessrequest/", "/internal/admin/audit/auditevent/"]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_customer_site_routes_no_internal_url(site, client, url, db):
    site("customer")
    assert client.get(url).status_code == 404


CUSTOMER_URLS = ["/", "/t/tenant-a/", "/t/tenant-a/history/", "/t/tenant-a/audit/",
                 "/t/tenant-a/settings/", "/t/tenant-a/audit/export.csv"]


@pytest.mark.parametrize("url", CUSTOMER_URLS)
def test_the_internal_site_routes_no_customer_url(site, client, url, db):
    site("internal")
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("name", ["internal", "all"])
def test_the_internal_site_routes_the_admin(site, client, name, db):
    site(name)
    assert client.get("/internal/admin/login/").status_code == 200


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
    policy = client.get("/internal/admin/login/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
