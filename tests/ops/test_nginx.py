"""deploy/nginx/lockbox.conf in front of real gunicorns: TLS, HTTP redirected, the client's
address reaching the app the way it trusts it, request size limits, no internal URL on the
customer site, static files from disk with cache headers."""

import http.client
import json
import os
import re
import ssl
import uuid
from pathlib import Path

import pytest

from tests.processes import (
    NGINX,
    Gunicorn,
    Nginx,
    collect_static,
    database_url,
    needs_redis,
    production_env,
    redis_server,
)

# django_db: so the test database is created when this module runs alone.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db, needs_redis]


@pytest.fixture(scope="module")
def nginx_binary():
    if not NGINX.exists():
        if os.environ.get("LOCKBOX_REQUIRE_BROWSER") == "1":  # CI: .ci/run installs it
            pytest.fail(f"{NGINX} is absent")
        pytest.skip(f"{NGINX} is absent (apt-get install -y nginx)")


@pytest.fixture(scope="module")
def front(tmp_path_factory, django_db_setup, django_db_blocker, nginx_binary):
    """One gunicorn per site (listed twice in each upstream) behind nginx, on the test
    database (read only: sign-ins that fail), for the whole module."""
    tmp_path = tmp_path_factory.mktemp("nginx")
    servers = []
    with django_db_blocker.unblock(), redis_server(tmp_path) as redis_url:
        env = collect_static(production_env(
            DATABASE_URL=database_url(), CACHE_URL=redis_url,
            ALLOWED_HOSTS=f"{Nginx.CUSTOMER_HOST},{Nginx.INTERNAL_HOST}"), tmp_path)
        https = {"X-Forwarded-Proto": "https", "Host": Nginx.CUSTOMER_HOST}
        try:
            for site in ("customer", "internal"):
                servers.append(Gunicorn({**env, "LOCKBOX_SITE": site}, tmp_path,
                                        ready_headers={**https}))
            apps = [f"127.0.0.1:{server.port}" for server in servers]
            proxy = Nginx(tmp_path, customer_apps=[apps[0]] * 2, internal_apps=[apps[1]] * 2,
                          static_root=env["STATIC_ROOT"])
            proxy.static_root = Path(env["STATIC_ROOT"])
            try:
                yield proxy
            finally:
                proxy.stop()
        finally:
            for server in servers:
                server.stop()


class Client:
    """HTTPS to nginx from a chosen loopback address, trusting the test's certificate."""

    def __init__(self, proxy, site, source="127.0.0.1"):
        self.proxy, self.source = proxy, source
        self.port = proxy.ports[site]
        self.host = f"{proxy.CUSTOMER_HOST if site == 'customer' else proxy.INTERNAL_HOST}" \
                    f":{self.port}"
        self.context = ssl.create_default_context(cafile=str(proxy.cert))
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=15,
                                                 context=self.context,
                                                 source_address=(self.source, 0))
        sent = {"Host": self.host, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        connection.close()
        return response, text

    def sign_in(self, email, password, headers=None):
        """A failed or refused sign-in through the login form: "wrong" or "refused"."""
        _, form = self.request("GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
        body = f"login={email}&password={password}&csrfmiddlewaretoken={token}"
        response, text = self.request(
            "POST", "/accounts/login/", body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Origin": f"https://{self.host}", **(headers or {})})
        if response.status == 429 or "Too many failed login attempts" in text:
            return "refused"
        assert "are not correct" in text, (response.status, text[:500])
        return "wrong"


def test_https_answers_and_plain_http_is_redirected_to_it(front):
    for site in ("customer", "internal"):
        response, body = Client(front, site).request("GET", "/healthz")
        assert response.status == 200 and json.loads(body)["status"] == "ok"
    connection = http.client.HTTPConnection("127.0.0.1", front.ports["customer_http"],
                                            timeout=10)
    connection.request("GET", "/t/acme/?page=2", headers={"Host": front.CUSTOMER_HOST})
    redirect = connection.getresponse()
    assert redirect.status == 301
    assert redirect.headers["Location"] == f"{front.customer_url}/t/acme/?page=2"


def test_the_app_counts_sign_in_failures_per_client_address_nginx_saw(front):
    """Sign-in limits count per client (10 failures a minute): the client is the address that
    connected to nginx, which nginx appends to X-Forwarded-For; one client using up its limit
    leaves another alone, and a forged X-Forwarded-For does not escape it."""
    attacker = Client(front, "customer", source="127.0.0.5")
    outcomes = [attacker.sign_in(f"{uuid.uuid4().hex[:10]}@nowhere.test", "guess-guess")
                for _ in range(11)]
    assert outcomes == ["wrong"] * 10 + ["refused"]
    forged = attacker.sign_in("x@nowhere.test", "guess-guess",
                              headers={"X-Forwarded-For": "198.51.100.23"})
    assert forged == "refused"
    other = Client(front, "customer", source="127.0.0.6")
    assert other.sign_in("y@nowhere.test", "guess-guess") == "wrong"


def test_a_body_over_the_limit_is_refused_by_nginx(front):
    connection = http.client.HTTPSConnection("127.0.0.1", front.ports["customer"], timeout=10,
                                             context=Client(front, "customer").context)
    connection.putrequest("POST", "/api/v1/requests", skip_host=True)
    connection.putheader("Host", front.CUSTOMER_HOST)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(2 * 1024 * 1024))
    connection.endheaders()  # nginx answers from the declared length, before any body
    response = connection.getresponse()
    assert response.status == 413
    assert "413 Request Entity Too Large" in response.read().decode()


def test_the_customer_server_routes_no_internal_url_and_no_metrics(front):
    customer, internal = Client(front, "customer"), Client(front, "internal")
    for path in ("/internal/", "/internal", "/internal/admin/", "/internal/queue/", "/metrics"):
        response, body = customer.request("GET", path)
        # nginx's own page: the app was never asked.
        assert response.status == 404 and "<center>nginx</center>" in body, path
    response, _ = internal.request("GET", "/internal/")
    assert response.status == 302 and "/accounts/login/" in response.headers["Location"]


def test_static_files_come_from_nginx_with_cache_headers(front):
    static_root = front.static_root
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    original, hashed = next((k, v) for k, v in manifest.items() if k.endswith(".css"))
    client = Client(front, "customer")
    response, body = client.request("GET", f"/static/{hashed}")
    assert response.status == 200
    assert body == (static_root / hashed).read_text()
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Content-Type"].startswith("text/css")
    response, _ = client.request("GET", f"/static/{original}")
    assert response.headers["Cache-Control"] == "public, max-age=300"
    response, _ = client.request("GET", "/static/no-such-file.css")
    assert response.status == 404


def test_the_access_log_has_a_request_id_and_no_query_string(front):
    response, _ = Client(front, "customer").request("GET", "/healthz?invite=secret-key-123")
    assert response.status == 200
    line = [line for line in front.access_log("customer").splitlines() if "/healthz" in line][-1]
    assert re.search(r"request_id=[0-9a-f]{32}", line)
    assert "secret-key-123" not in front.access_log("customer")
