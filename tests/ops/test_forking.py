"""Worker processes forked from a process with an open database connection (verify_audit
--jobs, bench_seed) must each talk to PostgreSQL on their own connection, and leave the
parent's session working."""

from multiprocessing import get_context

import pytest
from django.db import connection

from lockbox_portal.forking import forget_inherited_connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _backend(_):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_forked_workers_open_their_own_connections_and_the_parent_keeps_its_own():
    parent = _backend(None)
    with get_context("fork").Pool(2, initializer=forget_inherited_connections) as pool:
        children = pool.map(_backend, range(4), chunksize=1)
    assert parent not in children
    assert _backend(None) == parent  # the parent's session was not ended by a child
