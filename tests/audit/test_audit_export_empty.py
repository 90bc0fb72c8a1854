"""Exporting a search that matches nothing gives a well-formed, empty file in both formats, on
both sites (on PostgreSQL an empty search once aborted the CSV stream and made JSON Lines a 500)."""

import pytest

from tests.clients import signed_in

NOTHING = {"q": "zzyzxnothingmatchesthis"}


def _download(client, url, params):
    response = client.get(url, params)
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("params", [NOTHING, {"action": "membership.granted",
                                              "q": "zzyzxnothing"}])
def test_a_customer_export_of_nothing_is_a_header_or_an_empty_file(reader_a, params):
    client = signed_in(reader_a)
    csv_body = _download(client, "/t/tenant-a/audit/export.csv", params)
    assert csv_body.splitlines() == [
        "chain,seq,occurred_at,action,actor_id,actor_email,request_id,data,prev_hash,hash"]
    assert _download(client, "/t/tenant-a/audit/export.jsonl", params) == ""


def test_the_auditors_export_of_nothing_is_a_header_or_an_empty_file(auditor, tenant_a):
    client = signed_in(auditor)
    csv_body = _download(client, "/internal/audit/export.csv", NOTHING)
    assert csv_body.splitlines()[1:] == [] and csv_body.startswith("chain,seq,")
    assert _download(client, "/internal/audit/export.jsonl", NOTHING) == ""


def test_an_export_that_matches_something_still_holds_it(reader_a):
    body = _download(signed_in(reader_a), "/t/tenant-a/audit/export.jsonl",
                     {"q": "reader"})
    assert '"membership.granted"' in body
