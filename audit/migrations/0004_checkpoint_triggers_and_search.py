"""On PostgreSQL: checkpoints are append-only too, and the audit gets a full-text index.

The search text is the action, the actor and the event's data with separators turned into
spaces, so "exchange/mailbox/ceo@acme.test" is found by "mailbox" or "ceo".
"""

from django.db import migrations

FORWARD = """
CREATE TRIGGER audit_checkpoint_refuse_update_delete
    BEFORE UPDATE OR DELETE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoint_refuse_truncate
    BEFORE TRUNCATE ON audit_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

CREATE OR REPLACE FUNCTION audit_search_vector(action text, actor text, data jsonb)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_tsvector('simple', translate(lower(action || ' ' || actor || ' ' || data::text),
                                           '/@._-:",{}[]\\', '              '))
$$;
CREATE INDEX audit_event_search_idx ON audit_auditevent
    USING gin (audit_search_vector(action, actor_email, data));
"""

BACKWARD = """
DROP INDEX IF EXISTS audit_event_search_idx;
DROP FUNCTION IF EXISTS audit_search_vector(text, text, jsonb);
DROP TRIGGER IF EXISTS audit_checkpoint_refuse_truncate ON audit_checkpoint;
DROP TRIGGER IF EXISTS audit_checkpoint_refuse_update_delete ON audit_checkpoint;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_signing_and_checkpoints")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]
