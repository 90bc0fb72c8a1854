"""The replication harness (tests/replication.py) the replica and cluster tests stand on."""

import time

import pytest

from tests.replication import PostgresPair, needs_pg_binaries

pytestmark = [pytest.mark.postgres, needs_pg_binaries]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    with PostgresPair(tmp_path_factory.mktemp("pair")) as started:
        started.primary_sql("CREATE TABLE note (id serial PRIMARY KEY, body text)")
        yield started


def _bodies(pair):
    return [body for (body,) in pair.replica_sql("SELECT body FROM note ORDER BY id")]


def test_a_row_written_on_the_primary_appears_on_the_replica(pair):
    pair.primary_sql("INSERT INTO note (body) VALUES ('streamed')")

    pair.wait_caught_up()

    assert "streamed" in _bodies(pair)
    assert pair.replica_sql("SELECT pg_is_in_recovery()") == [(True,)]


def test_while_replay_is_paused_the_replica_shows_nothing_new(pair):
    pair.pause_replay()
    try:
        pair.primary_sql("INSERT INTO note (body) VALUES ('held back')")
        time.sleep(1.2)

        assert "held back" not in _bodies(pair)
        assert pair.lag_seconds() >= 1
    finally:
        pair.resume_replay()

    pair.wait_caught_up()
    assert "held back" in _bodies(pair)
    assert pair.lag_seconds() == 0


def test_the_replica_refuses_writes(pair):
    with pytest.raises(Exception, match="read-only transaction"):
        pair.replica_sql("INSERT INTO note (body) VALUES ('nope')")
