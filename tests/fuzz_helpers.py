"""Schemathesis against a live server: one way to fuzz every API surface's OpenAPI document.

    schema = load(f"{live_server.url}/api/v1/openapi.json", examples=200,
                  operations={"/api/v1/requests": {"headers": bearer(raw_token)},
                              "/api/v1/requests/{id}": {"headers": bearer(raw_token)}},
                  dictionaries={"requests": {"values": [str(known.pk)]}},
                  parameters={"path.id": {"dictionary": "requests", "probability": 0.5}})
    tally = run(schema)
    assert not tally.failures and tally.server_errors == 0

`load` configures schemathesis as a schemathesis.toml would: per operation path its headers (a
bearer token) and checks; real values mixed into the generated ones, so that valid input also
reaches the code behind the 404 (a known id, a tenant that exists). `run` tests every operation
as `st run` does: the document's examples, the coverage phase (each boundary, each missing or
mistyped field, each undocumented method), then random valid and invalid input, with every
check schemathesis has; it goes on past a failing operation and returns what it sent and what
came back. It drives schemathesis's own test builder (the one `schema.parametrize()` uses),
which is internal: requirements-dev.txt pins the version it was written against.
"""

from collections import Counter
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test


def bearer(raw):
    return {"Authorization": f"Bearer {raw}"}


def load(url, *, operations, examples, parameters=None, dictionaries=None):
    """The OpenAPI document at `url`, configured as by a schemathesis.toml: `operations` maps
    a path to its section ("headers", "parameters", "checks"); `parameters` and
    `dictionaries` are the project's (real values mixed into generated ones, e.g.
    {"body.tenant": {"dictionary": "tenants", "probability": 0.5}})."""
    config = SchemathesisConfig.from_dict({
        "dictionaries": dictionaries or {},
        "parameters": parameters or {},
        "generation": {"mode": "all", "max-examples": examples},
        # 413 refuses invalid input as well as 400 does (a batch over its maxItems, say).
        "checks": {"negative_data_rejection": {"expected-statuses": [
            *NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]}},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
        "operations": [{"include-path": path, **section}
                       for path, section in operations.items()],
    })
    return schemathesis.openapi.from_url(url, config=config)


@dataclass
class Tally:
    """What a run sent and got back: calls per operation, answers per status."""

    calls: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)

    @property
    def total(self):
        return sum(self.calls.values())

    @property
    def server_errors(self):
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self):
        lines = [f"{self.total} cases, {self.server_errors} answered 5xx; statuses "
                 + ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))]
        lines += [f"  {label}: {n}" for label, n in sorted(self.calls.items())]
        return "\n".join(lines)


def run(schema, tally=None):
    """Every operation of `schema`, every phase and check; failures are collected, not raised."""
    tally = tally or Tally()

    def exercise(case):
        # The configured headers go in as the CLI's do, so the checks know the token was ours
        # (ignored_auth then retries without it and with a wrong one, and expects a 401).
        headers = schema.config.headers_for(operation=case.operation)
        response = case.call(headers=headers)
        tally.calls[case.operation.label] += 1
        tally.statuses[response.status_code] += 1
        case.validate_response(response, headers=headers)

    feedback = FeedbackSources()
    quiet = settings(deadline=None, suppress_health_check=list(HealthCheck))
    for result in schema.get_all_operations():
        operation = result.ok()
        test = build_operation_test(config=schema.config, operation=operation, test_func=exercise,
                                    given_kwargs={}, feedback=feedback, explicit_settings=quiet)
        try:
            test()
        except (Exception, FailureGroup) as failure:  # every failing operation, not the first
            tally.failures.append(f"{operation.label}: {str(failure)[:3000]}")
    return tally
