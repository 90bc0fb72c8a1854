"""The served OpenAPI schema, and schemathesis against a live server: no 5xx, no violations."""

from datetime import timedelta

import pytest

from approvals import transitions as t
from approvals.models import ProviderRole, TenantRole
from tests import factories
from tests.api_helpers import make_token

schemathesis = pytest.importorskip("schemathesis")
from tests.fuzz_helpers import bearer, load, run  # noqa: E402

# Random cases per operation, after its examples and coverage cases: about 1,900 calls in all,
# about two minutes on PostgreSQL on a busy two-CPU machine.
EXAMPLES = 200


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
def native_api(transactional_db):
    """The people, grant and tokens of the schema's examples (the demo's names), so that
    valid input reaches real data: a grant for the engineer, requests to read and cancel, a
    tenant whose maximum is the schema's (7 days), so every valid duration is accepted."""
    tenant = factories.tenant("contoso", max_access_duration=timedelta(days=7))
    admin = factories.person("admin@contoso.example", tenant=tenant,
                             tenant_roles=[TenantRole.ADMIN])
    approver = factories.person("approver@contoso.example", tenant=tenant,
                                tenant_roles=[TenantRole.APPROVER])
    engineer = factories.person("engineer1@provider.example",
                                provider_role=ProviderRole.ENGINEER)
    manager = factories.person("manager1@provider.example",
                               provider_role=ProviderRole.INTERNAL_APPROVER)
    resource = "exchange/mailbox/j.smith@contoso.example/statistics"
    granted = factories.submit(engineer=engineer, tenant=tenant, now=None, scope=[resource])
    t.internal_approve(access_request=granted, actor=manager)
    t.customer_approve(access_request=granted, actor=approver)
    pending = [factories.submit(engineer=engineer, tenant=tenant, now=None) for _ in range(3)]
    return {
        "data_plane": bearer(make_token(manager, "data_plane")[1]),
        "support": bearer(make_token(engineer, "support")[1]),
        "tenant": bearer(make_token(admin, "tenant_read", tenant=tenant)[1]),
        "dictionaries": {"tenants": {"values": ["contoso"]},
                         "engineers": {"values": [engineer.email]},
                         "resources": {"values": [resource]},
                         "requests": {"values": [str(r.pk) for r in [granted, *pending]]}},
    }


def _half(dictionary):
    return {"dictionary": dictionary, "probability": 0.5}


def test_the_native_api_keeps_to_its_schema(live_server, native_api, capsys):
    """Every operation, with the schema's examples, its coverage cases and random valid and
    invalid input, under every schemathesis check: no 5xx, every status, content type, header
    and body as documented, invalid input refused and valid input accepted."""
    world = native_api
    real = {"body.tenant": _half("tenants"), "body.engineer": _half("engineers"),
            "body.resource": _half("resources"), "body.actions[*].resource": _half("resources"),
            "path.tenant": _half("tenants"), "path.id": _half("requests")}
    # Valid by the schema yet refused by a rule no schema states: an Idempotency-Key sent again
    # with another body (422), a cursor Lockbox never gave out, activity from the future (400).
    accepted = ["2xx", "401", "403", "404", "409"]
    idempotent = {"positive_data_acceptance": {"expected-statuses": [*accepted, "422"]}}
    beyond = {"positive_data_acceptance": {"expected-statuses": [*accepted, "400", "422"]}}
    operations = {
        "/api/v1/access/check": {"headers": world["data_plane"]},
        "/api/v1/activity": {"headers": world["data_plane"], "checks": beyond},
        "/api/v1/requests": {"headers": world["support"], "checks": beyond},
        "/api/v1/requests/{id}": {"headers": world["support"]},
        "/api/v1/requests/{id}/cancel": {"headers": world["support"], "checks": idempotent},
        "/api/v1/tenants/{tenant}/audit/events": {"headers": world["tenant"]},
    }
    schema = load(f"{live_server.url}/api/v1/openapi.json", operations=operations,
                  parameters=real, dictionaries=world["dictionaries"], examples=EXAMPLES)
    tally = run(schema)
    with capsys.disabled():
        print(f"\nschemathesis, native API: {tally.summary()}")
    assert not tally.failures, "\n\n".join(tally.failures)
    assert tally.server_errors == 0
    assert len(tally.calls) == 7  # six paths, one with GET and POST
    assert all(n >= EXAMPLES for n in tally.calls.values())
    assert tally.statuses[200] and tally.statuses[201]
