"""On PostgreSQL: index the search vector together with the chain (btree_gin).

A tenant's free-text search asked the index for every event in every chain with the words,
then read each one from the table to keep its own: on a 5,000,000-event log, a search for
"mailbox user12" in the biggest tenant read 50,000 table pages to keep 10,828 rows
(bench/README.md). With the chain in the index, only the tenant's own rows are read. The
provider's search across every chain uses the same index (a GIN index serves any subset of
its columns). btree_gin ships with PostgreSQL and is a trusted extension: the database's owner
may create it.
"""

from django.db import migrations

FORWARD = """
CREATE EXTENSION IF NOT EXISTS btree_gin;
DROP INDEX IF EXISTS audit_event_search_idx;
CREATE INDEX audit_event_search_idx ON audit_auditevent USING gin (chain, search);
"""

BACKWARD = """
DROP INDEX IF EXISTS audit_event_search_idx;
CREATE INDEX audit_event_search_idx ON audit_auditevent USING gin (search);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("audit", "0007_stored_search_vector")]
    operations = [migrations.RunPython(forwards, backwards)]
