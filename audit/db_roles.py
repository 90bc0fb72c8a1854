"""Two database roles on PostgreSQL: an owner that runs migrations, and the runtime role the app
connects as, which owns nothing.

Whoever owns a table can `ALTER TABLE … DISABLE TRIGGER` and rewrite it, so the role in
DATABASE_URL (whose password every app server holds) must own none of the audit's tables.
The owner (DATABASE_OWNER_URL) creates every table; `manage.py migrate` then re-applies the
runtime role's grants (grant_runtime), so tables created by later migrations are covered the
moment they exist:

- every table outside the audit: SELECT, INSERT, UPDATE, DELETE (never TRUNCATE, TRIGGER,
  REFERENCES); django_migrations: SELECT only;
- the audit's append-only tables (events, checkpoints, signing keys, chain heads, search
  words, archives and their marks): SELECT and INSERT; and UPDATE of only
  audit_signingkey.retired_at, audit_chainhead.seq/hash, audit_archivemark.through_seq and
  audit_archive.deleted_at, which their triggers allow only to retire a key, to move a head
  or a mark forward and to note an archive's events deleted (migrations 0011, 0013);
- DELETE on audit_auditevent, which its trigger allows only for events a signed archive
  covers (below the chain's archive mark, migration 0013);
- sequences: USAGE and SELECT (nextval for new rows).
"""

from __future__ import annotations

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import truncate_name

APPEND_ONLY = ("audit_auditevent", "audit_checkpoint", "audit_signingkey", "audit_chainhead",
               "audit_searchword", "audit_archive", "audit_archivemark")
# The only columns the runtime role may update in an append-only table, each guarded by a trigger.
GUARDED_UPDATES = {"audit_signingkey": ("retired_at",), "audit_chainhead": ("seq", "hash"),
                   "audit_archivemark": ("through_seq",), "audit_archive": ("deleted_at",)}
# Append-only tables whose rows may leave, each guarded by a trigger: archived events only.
GUARDED_DELETES = ("audit_auditevent",)
READ_ONLY = ("django_migrations",)


def _ident(connection: BaseDatabaseWrapper, name: str) -> str:
    return connection.ops.quote_name(truncate_name(name))


def grant_statements(connection: BaseDatabaseWrapper, role: str) -> list[str]:
    """The statements that give `role` exactly the runtime privileges, for the tables of the
    connection's current schema as they are now. Idempotent: everything is revoked first."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1",
                       [schema])
        tables = [row[0] for row in cursor.fetchall()]
    who, where = _ident(connection, role), _ident(connection, schema)
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {where} FROM {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {where} FROM {who}",
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}",
    ]
    for table in tables:
        name = f"{where}.{_ident(connection, table)}"
        if table in APPEND_ONLY or table in READ_ONLY:
            verbs = "SELECT" if table in READ_ONLY else "SELECT, INSERT"
            statements.append(f"GRANT {verbs} ON {name} TO {who}")
            columns = GUARDED_UPDATES.get(table)
            if columns:
                listed = ", ".join(_ident(connection, c) for c in columns)
                statements.append(f"GRANT UPDATE ({listed}) ON {name} TO {who}")
            if table in GUARDED_DELETES:
                statements.append(f"GRANT DELETE ON {name} TO {who}")
        else:
            statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {who}")
    return statements


def grant_runtime(connection: BaseDatabaseWrapper, role: str) -> int:
    """Apply grant_statements in one transaction, as the tables' owner; returns how many."""
    statements = grant_statements(connection, role)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return len(statements)


def owns_anything(connection: BaseDatabaseWrapper, role: str) -> list[str]:
    """Tables of the current schema that `role` owns (there should be none)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                       "AND tableowner = %s ORDER BY 1", [role])
        return [row[0] for row in cursor.fetchall()]
