"""On PostgreSQL: the chain heads and the table of signing keys guard themselves too.

- audit_chainhead: a head starts at 0 on an empty chain, and may then only move forward, to the
  chain's newest event, naming its hash (record_events inserts the events, then moves the head,
  in one transaction). It can be neither deleted nor truncated. So a head cannot be rewound to
  hide a cut, nor pointed at a forged event.
- audit_signingkey: append-only, except that a key may be marked retired (retired_at from empty
  to a time; nothing else changes).

Like the events' and checkpoints' triggers, these bind every role; the runtime role cannot drop
them because it owns none of these tables (manage.py db_roles). Bulk loads (bench_seed) insert
the events before the heads, so they pass; the test flush runs as a replica, which fires none.
"""

from django.db import migrations

GENESIS = "0" * 64

FORWARD = f"""
CREATE FUNCTION audit_head_moves_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.chain <> OLD.chain OR NEW.seq < OLD.seq
                             OR (NEW.seq = OLD.seq AND NEW.hash <> OLD.hash)) THEN
        RAISE EXCEPTION 'audit chain heads only move forward: % from % to % is refused',
            OLD.chain, OLD.seq, NEW.seq USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.seq = 0 THEN
        -- A chain's first head. Two first appends may race to insert it (ON CONFLICT decides).
        -- The events are looked at before the head, in two statements: the winner commits its
        -- events and the head together, so once its events are seen its head is seen as well.
        IF NEW.hash = '{GENESIS}' THEN
            IF NOT EXISTS (SELECT 1 FROM audit_auditevent WHERE chain = NEW.chain) THEN
                RETURN NEW;
            END IF;
            IF TG_OP = 'INSERT' AND EXISTS (
                    SELECT 1 FROM audit_chainhead WHERE chain = NEW.chain) THEN
                RETURN NEW;
            END IF;
        END IF;
    ELSIF TG_OP = 'INSERT' AND EXISTS (SELECT 1 FROM audit_chainhead WHERE chain = NEW.chain) THEN
        -- The chain's head exists: the primary key refuses this row.
        RETURN NEW;
    ELSIF EXISTS (SELECT 1 FROM audit_auditevent
                  WHERE chain = NEW.chain AND seq = NEW.seq AND hash = NEW.hash)
          AND NOT EXISTS (SELECT 1 FROM audit_auditevent
                          WHERE chain = NEW.chain AND seq > NEW.seq) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'an audit chain head must name its chain''s newest event: % at % is refused',
        NEW.chain, NEW.seq USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_chainhead_moves_forward
    BEFORE INSERT OR UPDATE ON audit_chainhead
    FOR EACH ROW EXECUTE FUNCTION audit_head_moves_forward();
CREATE TRIGGER audit_chainhead_refuse_delete
    BEFORE DELETE ON audit_chainhead
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_chainhead_refuse_truncate
    BEFORE TRUNCATE ON audit_chainhead
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

CREATE FUNCTION audit_key_only_retires() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.key_id = OLD.key_id AND NEW.public_key = OLD.public_key
       AND NEW.first_used_at = OLD.first_used_at
       AND OLD.retired_at IS NULL AND NEW.retired_at IS NOT NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'signing keys are append-only; a key may only be marked retired: % refused',
        OLD.key_id USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_signingkey_only_retires
    BEFORE UPDATE ON audit_signingkey
    FOR EACH ROW EXECUTE FUNCTION audit_key_only_retires();
CREATE TRIGGER audit_signingkey_refuse_delete
    BEFORE DELETE ON audit_signingkey
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_signingkey_refuse_truncate
    BEFORE TRUNCATE ON audit_signingkey
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_signingkey_refuse_truncate ON audit_signingkey;
DROP TRIGGER IF EXISTS audit_signingkey_refuse_delete ON audit_signingkey;
DROP TRIGGER IF EXISTS audit_signingkey_only_retires ON audit_signingkey;
DROP FUNCTION IF EXISTS audit_key_only_retires();
DROP TRIGGER IF EXISTS audit_chainhead_refuse_truncate ON audit_chainhead;
DROP TRIGGER IF EXISTS audit_chainhead_refuse_delete ON audit_chainhead;
DROP TRIGGER IF EXISTS audit_chainhead_moves_forward ON audit_chainhead;
DROP FUNCTION IF EXISTS audit_head_moves_forward();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0010_checkpoint_links")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
