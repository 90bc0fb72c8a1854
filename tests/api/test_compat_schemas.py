"""The Google and Azure surfaces each have an OpenAPI document of their own; schemathesis runs
every operation of each against a live server with real tokens: no 5xx, and every answer
(status, content type, body) as documented."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from approvals import transitions as t
from approvals.models import ProviderRole, TenantRole
from tests import factories
from tests.api_helpers import make_token

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import positive_data_acceptance  # noqa: E402

EXAMPLES = 40  # per operation and generation mode


@pytest.fixture
def world(transactional_db):
    tenant = factories.tenant("acme")
    boss = factories.person("boss@acme.test", tenant=tenant,
                            tenant_roles=[TenantRole.ADMIN, TenantRole.APPROVER])
    engineer = factories.person("erin@provider.test", provider_role=ProviderRole.ENGINEER)
    manager = factories.person("maya@provider.test", provider_role=ProviderRole.INTERNAL_APPROVER)
    ids = []
    for i in range(12):
        req = factories.submit(engineer=engineer, tenant=tenant,
                               now=timezone.now() - timedelta(minutes=i),
                               scope=["exchange/mailbox/ann@acme.test", "sharepoint/sites/x/*"],
                               requested_duration=timedelta(minutes=30 + 15 * i))
        t.internal_approve(access_request=req, actor=manager)
        if i % 4 == 1:
            t.customer_approve(access_request=req, actor=boss)
        elif i % 4 == 2:
            t.customer_reject(access_request=req, actor=boss, comment="No.")
        ids.append(str(req.pk))
    _, raw = make_token(boss, "tenant_decide", tenant=tenant)
    return {"ids": ids, "headers": {"Authorization": f"Bearer {raw}"}}


REAL = {"organization": "acme", "subscriptionId": "acme", "tenantId": "acme"}
IDS = ("approvalRequest", "requestId")


def _strategy(operation, mode, ids):
    """Cases with generated path parameters and, as often, with the tenant's own name and one
    of its real requests, so the fuzzing reaches past the 404s."""
    names = [p.name for p in operation.path_parameters]
    if not names:
        return operation.as_strategy(mode)

    def real(rid):
        fixed = {name: rid if name in IDS else REAL[name] for name in names}
        return operation.as_strategy(mode, path_parameters=fixed)

    with_real = st.sampled_from(ids).flatmap(real)
    # Negative cases keep real path parameters: a '/' generated into one would reach
    # another route, not this operation.
    return with_real if mode == GenerationMode.NEGATIVE else st.one_of(
        operation.as_strategy(mode), with_real)


def exercise(operation, world, tally):
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @given(case=_strategy(operation, mode, world["ids"]))
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def run(case):
            # Schema-valid input may still break a business rule (an expireTime in the past,
            # a request no longer pending), so "valid data is accepted" is not asked; all
            # else is: no 5xx, and every status, content type and body as documented.
            response = case.call_and_validate(headers=world["headers"],
                                              excluded_checks=[positive_data_acceptance])
            tally["cases"] += 1
            tally["5xx"] += response.status_code >= 500

        try:
            run()
        except Unsatisfiable:
            # Nothing in this operation can be made invalid once its path is fixed (a GET
            # with only free-text parameters): there is no negative case to send.
            tally["without negative cases"] += 1


def check_surface(url, world, expected_operations):
    schema = schemathesis.openapi.from_url(url)
    # The cases carry a real token, so the bearer header is not fuzzed (tests of each surface
    # check its 401s); query parameters a surface does not know are ignored, as Azure
    # Resource Manager does, so adding some proves nothing.
    schema.config.generation.update(with_security_parameters=False,
                                    allow_extra_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert sorted(op.label for op in operations) == sorted(expected_operations)
    tally = Counter()
    for operation in operations:
        exercise(operation, world, tally)
    print(f"\n{url}: {dict(tally)}")
    assert tally["5xx"] == 0
    assert tally["cases"] >= EXAMPLES * len(operations)
    return tally


def test_the_google_surface_keeps_to_its_schema(live_server, world):
    org = "/v1/organizations/{organization}"
    request = f"{org}/approvalRequests/{{approvalRequest}}"
    check_surface(f"{live_server.url}/api/openapi/google-access-approval-v1.json", world, [
        f"GET {org}/approvalRequests", f"GET {request}", f"POST {request}:approve",
        f"POST {request}:dismiss", f"POST {request}:invalidate",
        f"GET {org}/accessApprovalSettings", f"PATCH {org}/accessApprovalSettings"])


def test_the_azure_surface_keeps_to_its_schema(live_server, world):
    provider = "/providers/Microsoft.CustomerLockbox"
    requests = "/subscriptions/{subscriptionId}/providers/Microsoft.CustomerLockbox/requests"
    check_surface(f"{live_server.url}/api/openapi/azure-customer-lockbox.json", world, [
        f"GET {provider}/operations", f"GET {requests}", f"GET {requests}/{{requestId}}",
        f"POST {requests}/{{requestId}}/updateApproval",
        f"GET {provider}/tenantOptedIn/{{tenantId}}", f"POST {provider}/enableLockbox",
        f"POST {provider}/disableLockbox"])


def test_each_document_is_served_on_the_customer_site_only(client, serve_site):
    for url in ("/api/openapi/google-access-approval-v1.json",
                "/api/openapi/azure-customer-lockbox.json"):
        assert client.get(url).json()["openapi"].startswith("3.")
    serve_site("internal")
    assert client.get("/api/openapi/azure-customer-lockbox.json").status_code == 404
