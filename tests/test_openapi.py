"""The served OpenAPI schema, and schemathesis against a live server: no 5xx, no violations."""

import pytest
from hypothesis import HealthCheck, settings

from approvals import transitions as t
from approvals.models import ProviderRole, TenantRole
from tests import factories
from tests.api_helpers import make_token

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import positive_data_acceptance  # noqa: E402


def test_the_schema_is_served_and_describes_every_native_endpoint(client, db):
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {
        "/api/v1/access/check", "/api/v1/activity", "/api/v1/requests",
        "/api/v1/requests/{id}", "/api/v1/requests/{id}/cancel",
        "/api/v1/tenants/{tenant}/audit/events"}
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]


@pytest.fixture
def api_tokens(transactional_db):
    tenant = factories.tenant("acme")
    admin = factories.person("boss@acme.test", tenant=tenant, tenant_roles=[TenantRole.ADMIN])
    engineer = factories.person("erin@provider.test", provider_role=ProviderRole.ENGINEER)
    manager = factories.person("maya@provider.test", provider_role=ProviderRole.INTERNAL_APPROVER)
    req = factories.submit(engineer=engineer, tenant=tenant, now=None)
    t.internal_approve(request=req, actor=manager)
    return {
        "data_plane": make_token(manager, "data_plane")[1],
        "support": make_token(engineer, "support")[1],
        "tenant": make_token(admin, "tenant_read", tenant=tenant)[1],
    }


TOKEN_FOR = {"/api/v1/access/check": "data_plane", "/api/v1/activity": "data_plane",
             "/api/v1/tenants/{tenant}/audit/events": "tenant"}


def test_the_api_keeps_to_its_schema(live_server, api_tokens):
    """Every operation, with generated valid and invalid input: no 5xx, and every answer
    (status, content type, body) is one the schema documents."""
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7  # six paths, one with GET and POST
    for operation in operations:
        token = api_tokens[TOKEN_FOR.get(operation.path, "support")]
        headers = {"Authorization": f"Bearer {token}"}
        exercise(operation, headers)


def exercise(operation, headers):
    from hypothesis import given

    @given(case=operation.as_strategy())
    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def run(case):
        # Schema-valid input may still break a business rule (an unknown tenant, a duration
        # over that tenant's maximum), so "valid data is accepted" is not asked; everything
        # else is: no 5xx, and every status, content type and body as documented.
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    run()
