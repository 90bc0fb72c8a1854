"""On PostgreSQL: events leave the database only once a signed archive covers them.

- audit_auditevent: UPDATE and TRUNCATE stay refused; DELETE is allowed only for an event whose
  seq is at or below its chain's archived-through mark (audit_archivemark).
- audit_archivemark: only moves forward, and only to the last_seq of an archive that starts
  right after the old mark (so the archive row must exist first: audit.archives inserts it, then
  moves the mark, in one transaction). It can be neither deleted nor truncated.
- audit_archive: append-only, except deleted_at (empty to a time, once). A new archive must
  continue the chain's archives without a gap and end on an event that exists with its head
  hash, so a mark can never be moved past events no archive holds.

The signature of an archive's manifest cannot be checked in SQL: verify_audit checks it, and
reports a mark that no validly signed archive reaches.
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER IF EXISTS audit_event_refuse_update_delete ON audit_auditevent;
CREATE TRIGGER audit_event_refuse_update
    BEFORE UPDATE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();

CREATE FUNCTION audit_delete_only_archived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_archivemark m
               WHERE m.chain = OLD.chain AND OLD.seq <= m.through_seq) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % #% is not covered by a signed archive',
        OLD.chain, OLD.seq USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_event_delete_only_archived
    BEFORE DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_delete_only_archived();

CREATE FUNCTION audit_mark_follows_archive() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_seq bigint := 0;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.chain <> OLD.chain THEN
            RAISE EXCEPTION 'an archive mark cannot change chain'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        old_seq := OLD.through_seq;
    END IF;
    IF NEW.through_seq = old_seq AND TG_OP = 'INSERT' AND old_seq = 0 THEN
        RETURN NEW;
    END IF;
    IF NEW.through_seq > old_seq AND EXISTS (
            SELECT 1 FROM audit_archive a WHERE a.chain = NEW.chain
            AND a.first_seq = old_seq + 1 AND a.last_seq = NEW.through_seq) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'an archive mark moves only forward, to the end of an archive that follows '
        'it: % from % to % is refused', NEW.chain, old_seq, NEW.through_seq
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_archivemark_follows_archive
    BEFORE INSERT OR UPDATE ON audit_archivemark
    FOR EACH ROW EXECUTE FUNCTION audit_mark_follows_archive();
CREATE TRIGGER audit_archivemark_refuse_delete
    BEFORE DELETE ON audit_archivemark
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_archivemark_refuse_truncate
    BEFORE TRUNCATE ON audit_archivemark
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

CREATE FUNCTION audit_archive_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
           AND (to_jsonb(NEW) - 'deleted_at') = (to_jsonb(OLD) - 'deleted_at') THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'archives are append-only; only deleted_at may be set, once: % refused',
            OLD.id USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.last_seq >= NEW.first_seq
       AND NEW.first_seq = 1 + COALESCE((SELECT max(last_seq) FROM audit_archive
                                         WHERE chain = NEW.chain), 0)
       AND EXISTS (SELECT 1 FROM audit_auditevent
                   WHERE chain = NEW.chain AND seq = NEW.last_seq AND hash = NEW.head_hash) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'an archive must continue its chain''s archives and end on a stored event: '
        '% % to % refused', NEW.chain, NEW.first_seq, NEW.last_seq
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_archive_guard
    BEFORE INSERT OR UPDATE ON audit_archive
    FOR EACH ROW EXECUTE FUNCTION audit_archive_guard();
CREATE TRIGGER audit_archive_refuse_delete
    BEFORE DELETE ON audit_archive
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_archive_refuse_truncate
    BEFORE TRUNCATE ON audit_archive
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_archive_refuse_truncate ON audit_archive;
DROP TRIGGER IF EXISTS audit_archive_refuse_delete ON audit_archive;
DROP TRIGGER IF EXISTS audit_archive_guard ON audit_archive;
DROP FUNCTION IF EXISTS audit_archive_guard();
DROP TRIGGER IF EXISTS audit_archivemark_refuse_truncate ON audit_archivemark;
DROP TRIGGER IF EXISTS audit_archivemark_refuse_delete ON audit_archivemark;
DROP TRIGGER IF EXISTS audit_archivemark_follows_archive ON audit_archivemark;
DROP FUNCTION IF EXISTS audit_mark_follows_archive();
DROP TRIGGER IF EXISTS audit_event_delete_only_archived ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_delete_only_archived();
DROP TRIGGER IF EXISTS audit_event_refuse_update ON audit_auditevent;
CREATE TRIGGER audit_event_refuse_update_delete
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0015_archives")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
