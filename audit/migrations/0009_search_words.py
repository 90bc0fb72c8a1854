"""On PostgreSQL: the words of the audit log, so that a word typed in a search can be widened
to the words it starts before the full-text index is asked.

A search word matches every word it starts ("mail" finds "mailbox"). Asked as a prefix
("mailbox:*"), the GIN index reads the postings of every word with that prefix into memory
before it can combine them with the other words: on a 5,000,000-event log "mailbox" alone is
4,000,000 postings, 140 ms, even when the other word of the search matches two events
(bench/README.md). Widened first to the words themselves ("mailbox" | "mailboxes"), the index
steps through the rarest word's postings and skips through the others.

audit_searchword holds each word of the log's search vectors once (a word two transactions
add at the same moment may be there twice, which is harmless; nothing waits on a unique
index). A statement-level trigger adds the words of every statement's new events in the same
transaction, so a committed event's words are always there. Like the full-text index it is
derived from the events and can be rebuilt from them.
"""

from django.db import migrations

FORWARD = """
CREATE TABLE audit_searchword (word text NOT NULL);
CREATE INDEX audit_searchword_idx ON audit_searchword (word text_pattern_ops);

CREATE FUNCTION audit_note_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_searchword (word)
    SELECT DISTINCT w FROM new_events, unnest(tsvector_to_array(new_events.search)) AS w
    WHERE NOT EXISTS (SELECT 1 FROM audit_searchword s WHERE s.word = w);
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_event_note_search_words
    AFTER INSERT ON audit_auditevent REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_note_search_words();

INSERT INTO audit_searchword (word)
SELECT DISTINCT w FROM audit_auditevent, unnest(tsvector_to_array(search)) AS w;
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_event_note_search_words ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_note_search_words();
DROP TABLE IF EXISTS audit_searchword;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("audit", "0008_search_index_by_chain")]
    operations = [migrations.RunPython(forwards, backwards)]
