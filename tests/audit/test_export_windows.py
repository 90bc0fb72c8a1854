"""On PostgreSQL an export is COPYed window by window of each chain's sequence (audit.export
WINDOW), so that every statement is read in index order and streams: one statement over a chain
holding a fifth of 20,000,000 events was planned as a scan and sort of the whole table, sent
nothing for longer than a block may take, and the download failed. The windows must add up to
exactly what one statement gave: every matching event, once, in chain and sequence order."""

import csv
import io
import json

import pytest

from audit import export
from audit.selectors import search_events
from audit.services import record_event, record_events

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _events(chain, n, action="test.step"):
    record_events(chain=chain, events=[{"action": action, "data": {"i": i, "word": f"w{i % 3}"}}
                                       for i in range(n)])


def _jsonl(rows):
    return [json.loads(line) for line in b"".join(
        chunk if isinstance(chunk, bytes) else chunk.encode()
        for chunk in export.jsonl_lines(rows)).decode().splitlines()]


def _csv(rows):
    text = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode()
                    for chunk in export.csv_lines(rows)).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def chains(monkeypatch):
    monkeypatch.setattr(export, "WINDOW", 4)
    _events("test:b", 11)
    _events("test:a", 9)
    record_event(chain="test:a", action="test.other", data={"word": "w1"})
    _events("test:c", 4)
    return {"test:a": 10, "test:b": 11, "test:c": 4}


def test_a_chain_is_exported_whole_across_windows_in_order(chains):
    for lines in (_jsonl(search_events("test:a")), _csv(search_events("test:a"))):
        assert [(e["chain"], int(e["seq"])) for e in lines] == [("test:a", s)
                                                                for s in range(1, 11)]


def test_every_chain_comes_in_chain_order_when_the_search_spans_chains(chains):
    lines = _jsonl(search_events(None))
    assert [(e["chain"], e["seq"]) for e in lines] == [
        (chain, seq) for chain in sorted(chains) for seq in range(1, chains[chain] + 1)]


def test_filters_and_free_text_hold_in_every_window(chains):
    found = _jsonl(search_events("test:b", text="w1"))
    assert [e["seq"] for e in found] == [2, 5, 8, 11]
    other = _csv(search_events(None, action="test.other"))
    assert [(e["chain"], e["seq"]) for e in other] == [("test:a", "10")]
    assert _jsonl(search_events("test:a", text="zzyzx")) == []


@pytest.mark.django_db(transaction=True)
def test_a_download_ends_at_the_head_it_began_with(chains):
    import threading

    from django.db import connections

    lines = export.jsonl_lines(search_events("test:c"))
    first = next(lines)  # the COPY of the first window is open on this connection

    def append():  # on another connection, as another request would
        _events("test:c", 3)
        connections.close_all()

    writer = threading.Thread(target=append)
    writer.start()
    writer.join()
    rest = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in lines)
    seqs = [json.loads(line)["seq"] for line in (first + rest).decode().splitlines()]
    assert seqs == [1, 2, 3, 4]
    assert [e["seq"] for e in _jsonl(search_events("test:c"))] == list(range(1, 8))


def test_the_chain_a_search_is_held_to_is_found_in_its_conditions():
    from audit.models import AuditEvent

    assert export._held_chain(AuditEvent.objects.filter(chain="x")) == "x"
    assert export._held_chain(AuditEvent.objects.filter(chain__range=("x", "x"))) == "x"
    assert export._held_chain(AuditEvent.objects.filter(chain__range=("x", "y"))) is None
    assert export._held_chain(AuditEvent.objects.all()) is None
    assert export._held_chain(AuditEvent.objects.exclude(chain="x")) is None


def _settings():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('enable_sort'),"
                       " current_setting('enable_bitmapscan'), current_setting('jit')")
        return cursor.fetchone()


def test_the_planner_is_itself_again_after_an_export_ends_or_is_dropped(chains):
    before = _settings()
    _jsonl(search_events("test:a"))
    assert _settings() == before
    lines = export.csv_lines(search_events("test:b"))
    next(lines), next(lines)  # the header, then the first window's first block
    lines.close()  # the person closed the download
    assert _settings() == before
