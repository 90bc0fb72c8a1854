"""On PostgreSQL: keep each event's search vector in a stored column and index that.

Indexing the expression (migration 0004) made every candidate row recompute to_tsvector when
PostgreSQL rechecked it: a search for common words read tens of thousands of rows and spent
about a second doing so on a 5,000,000-event log (bench/README.md). A stored column is computed
once, when the event is written.
"""

from django.db import migrations

FORWARD = """
DROP INDEX IF EXISTS audit_event_search_idx;
ALTER TABLE audit_auditevent ADD COLUMN search tsvector
    GENERATED ALWAYS AS (audit_search_vector(action, actor_email, data)) STORED;
CREATE INDEX audit_event_search_idx ON audit_auditevent USING gin (search);
"""

BACKWARD = """
DROP INDEX IF EXISTS audit_event_search_idx;
ALTER TABLE audit_auditevent DROP COLUMN IF EXISTS search;
CREATE INDEX audit_event_search_idx ON audit_auditevent
    USING gin (audit_search_vector(action, actor_email, data));
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_action_indexes")]
    operations = [migrations.RunPython(forwards, backwards)]
