"""Database connections in processes forked by multiprocessing's "fork" pools.

A forked child inherits every open socket of its parent, and what `connections.close_all()`
closed in the parent need not be what the child sees: Django keeps connections thread-local,
or context-local while an asyncio loop runs in the thread, and asyncio forgets a running loop
across a fork. (Playwright's sync API leaves a loop running in the test thread, so a test's
connection lives in context storage while the thread-local one, opened earlier, stays open;
the child then finds that one.) Using an inherited connection interleaves the child's messages
with another process's on one socket; closing it sends the server a goodbye that ends the
parent's session too. So a child neither uses nor closes what it inherited.
"""

from django.db import connections

# Kept referenced so they are never finalized (finalizing would close them).
_inherited: list[object] = []


def forget_inherited_connections() -> None:
    """Pool initializer: leave inherited connections untouched; the next query in this process
    opens its own."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited.append(conn.connection)
            conn.connection = None
