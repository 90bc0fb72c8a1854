"""On PostgreSQL: the word-noting trigger (migration 0009) looks up each new word once.

It asked, for every word of every new event, whether the word table had it, and only then
took the distinct ones: an activity batch of 500 events is about 19,000 words but 550 distinct
ones, and the planner, not knowing how many rows a statement brings, often answered with a hash
join that read the whole word table, which only grows (one seq scan per append). Now the words
are made distinct first, and each is looked up in the word index: 46–78 ms of a 500-event
append became 17–37 ms on the same machine (bench/README.md, "Ingest"). The words the table
ends up holding are the same: every distinct word of the statement's events that it lacked.

The join method is pinned for this function alone (hash and merge joins off, no JIT, which
a wrong estimate could also switch on for a 500-row statement).
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_note_search_words() RETURNS trigger LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off AS $$
BEGIN
    INSERT INTO audit_searchword (word)
    SELECT n.w FROM (SELECT DISTINCT unnest(tsvector_to_array(search)) AS w FROM new_events) n
    WHERE NOT EXISTS (SELECT 1 FROM audit_searchword s WHERE s.word = n.w);
    RETURN NULL;
END
$$;
"""

# Migration 0009's definition, as it was (CREATE OR REPLACE keeps no SET clause it omits).
BACKWARD = """
CREATE OR REPLACE FUNCTION audit_note_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_searchword (word)
    SELECT DISTINCT w FROM new_events, unnest(tsvector_to_array(new_events.search)) AS w
    WHERE NOT EXISTS (SELECT 1 FROM audit_searchword s WHERE s.word = w);
    RETURN NULL;
END
$$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("audit", "0013_search_vector_without_translate")]
    operations = [migrations.RunPython(forwards, backwards)]
