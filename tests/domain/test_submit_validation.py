"""Bad input to a new request: a clear error naming the field, and nothing written."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from approvals.models import AccessRequest, Transition
from audit.models import AuditEvent
from tests.factories import submit

BAD = [
    ("requested_duration", {"requested_duration": timedelta(0)}, "longer than zero"),
    ("requested_duration", {"requested_duration": timedelta(hours=-1)}, "longer than zero"),
    ("requested_duration", {"requested_duration": timedelta(hours=4, seconds=1)}, "at most 4 h"),
    ("requested_duration", {"requested_duration": 3600}, "length of time"),
    ("justification", {"justification": ""}, "justification is required"),
    ("justification", {"justification": "   \n "}, "justification is required"),
    ("justification", {"justification": "x" * 4001}, "at most 4000"),
    ("case_reference", {"case_reference": ""}, "case reference is required"),
    ("reason_type", {"reason_type": "curiosity"}, "Unknown reason type"),
    ("access_level", {"access_level": "admin"}, "Unknown access level"),
    ("scope", {"scope": []}, "at least one resource"),
    ("scope", {"scope": ["", "  "]}, "at least one resource"),
    ("scope", {"scope": ["has space"]}, "not a resource identifier"),
    ("scope", {"scope": ["a/*/b"]}, "not a resource identifier"),
    ("scope", {"scope": "not-a-list-but-text"}, None),
    ("scope", {"scope": 42}, "must be a list"),
]


@pytest.mark.parametrize("field,overrides,message", BAD, ids=[f"{b[0]}-{i}" for i, b in
                                                                enumerate(BAD)])
def test_it_refuses_bad_input_and_writes_nothing(field, overrides, message, engineer, tenant_a,
                                                 now):
    events = AuditEvent.objects.count()
    if message is None:  # text is accepted and split into identifiers
        req = submit(engineer=engineer, tenant=tenant_a, now=now, **overrides)
        assert req.scope == ["not-a-list-but-text"]
        return
    with pytest.raises(ValidationError) as refused:
        submit(engineer=engineer, tenant=tenant_a, now=now, **overrides)
    assert field in refused.value.message_dict
    assert message in refused.value.message_dict[field][0]
    assert AccessRequest.objects.count() == 0
    assert Transition.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_it_names_every_bad_field_at_once(engineer, tenant_a, now):
    with pytest.raises(ValidationError) as refused:
        submit(engineer=engineer, tenant=tenant_a, now=now, justification="", scope=[],
               reason_type="nope")
    assert set(refused.value.message_dict) == {"justification", "scope", "reason_type"}


def test_it_refuses_an_unknown_tenant(engineer, now, db):
    with pytest.raises(ValidationError) as refused:
        submit(engineer=engineer, tenant="no-such-tenant", now=now)
    assert refused.value.message_dict == {"tenant": ["There is no tenant 'no-such-tenant'."]}
    assert AccessRequest.objects.count() == 0


def test_it_accepts_a_tenant_by_slug_and_normalises(engineer, tenant_a, now):
    req = submit(engineer=engineer, tenant="tenant-a", now=now, case_reference="  CASE-9 ",
                 scope="exchange/a, exchange/b\nexchange/a\n")
    assert req.tenant == tenant_a
    assert req.case_reference == "CASE-9"
    assert req.scope == ["exchange/a", "exchange/b"]
    assert req.access_level == "read_only"


def test_read_only_is_the_default(engineer, tenant_a, now):
    from approvals import transitions as t

    req = t.submit_request(requester=engineer, tenant=tenant_a, case_reference="C-1",
                           justification="needed", reason_type="customer_initiated_support",
                           scope=["x/y"], requested_duration=timedelta(hours=1), now=now)
    assert req.access_level == "read_only"
