"""PostgreSQL: migrations run as an owner role; the app runs as a role that owns nothing, and
a stolen app credential can neither change the audit's history nor switch its protection off.

The test deploys Lockbox for real into a schema of its own inside the test database, with two
throwaway roles: `manage.py migrate` with DATABASE_OWNER_URL (the owner) and DATABASE_URL (the
runtime role); the demo and a round of the periodic jobs then run as the runtime role. Then
each attack is tried as the runtime role.
"""

import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from psycopg import errors

from tests.processes import ROOT

pytestmark = pytest.mark.postgres



def _url(role, database, schema):
    # Only the schema: the test database's own tables, in public, must stay out of sight.
    return f"postgres://{role}@127.0.0.1:5432/{database}?options=-c%20search_path%3D{schema}"


@pytest.fixture(scope="module")
def deployed(django_db_setup, django_db_blocker):
    from django.db import connection

    with django_db_blocker.unblock():
        database = connection.settings_dict["NAME"]
    suffix = uuid.uuid4().hex[:10]
    owner, runtime, schema = f"lbx_owner_{suffix}", f"lbx_app_{suffix}", f"lbx_{suffix}"
    admin = psycopg.connect(host="127.0.0.1", user="postgres", dbname=database,
                            autocommit=True)
    admin.execute(f"CREATE ROLE {owner} LOGIN")
    admin.execute(f"CREATE ROLE {runtime} LOGIN")
    admin.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {owner}")
    # In a deployment the owner owns the database, so it may create trusted extensions.
    admin.execute(f"GRANT CREATE ON DATABASE {database} TO {owner}")
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "lockbox_portal.settings.local",
           "DATABASE_URL": _url(runtime, database, schema),
           "LOCKBOX_SIGNING_KEY": "dGVzdC1vbmx5LXNpZ25pbmcta2V5LTMyLWJ5dGVzISE=",
           "CELERY_TASK_ALWAYS_EAGER": "true"}

    def manage(*args, as_owner=False):
        extra = {"DATABASE_OWNER_URL": _url(owner, database, schema)} if as_owner else {}
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT,
                                env={**env, **extra}, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    try:
        migrated = manage("migrate", "--noinput", as_owner=True)
        manage("seed_demo")
        manage("lockbox_tick")
        yield {"admin": admin, "owner": owner, "runtime": runtime, "schema": schema,
               "database": database, "migrated": migrated, "manage": manage}
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        for role in (runtime, owner):
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
        admin.close()


@pytest.fixture
def as_runtime(deployed):
    conn = psycopg.connect(host="127.0.0.1", user=deployed["runtime"],
                           dbname=deployed["database"],
                           options=f"-c search_path={deployed['schema']}")
    yield conn
    conn.close()


def test_migrate_runs_as_the_owner_and_grants_the_runtime_role(deployed):
    assert f"Granted {deployed['runtime']} its runtime privileges" in deployed["migrated"]
    owners = deployed["admin"].execute(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = %s",
        [deployed["schema"]]).fetchall()
    assert owners == [(deployed["owner"],)]
    sql = deployed["manage"]("db_roles", "--sql", as_owner=True)
    schema, runtime = deployed["schema"], deployed["runtime"]
    assert (f'GRANT SELECT, INSERT ON "{schema}"."audit_auditevent" TO "{runtime}";'
            in sql.splitlines())
    assert "TRUNCATE" not in sql.replace("REVOKE ALL", "")


def test_the_app_runs_as_the_runtime_role_and_its_log_verifies(deployed):
    out = deployed["manage"]("verify_audit", "--jobs", "1")
    assert "OK tenant:contoso:" in out and "OK provider:" in out


ATTACKS = {
    "update an event": "UPDATE audit_auditevent SET action = 'x.y'",
    "delete an event": "DELETE FROM audit_auditevent WHERE seq = 1",
    "truncate the events": "TRUNCATE audit_auditevent",
    "switch the events' triggers off": "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
    "drop the events' trigger":
        "DROP TRIGGER audit_event_delete_only_archived ON audit_auditevent",
    "move an archive mark with no archive":
        "INSERT INTO audit_archivemark (chain, through_seq) VALUES ('tenant:contoso', 5)",
    "forge an archive past the events": (
        "INSERT INTO audit_archive (chain, first_seq, last_seq, count, prev_hash, head_hash, "
        "sha256, prev_sha256, file_name, created_at, key_id, signature) VALUES ('tenant:contoso',"
        " 1, 999999, 999999, repeat('0', 64), repeat('f', 64), '', '', 'x', now(), 'k', 's')"),
    "delete an archive mark": "DELETE FROM audit_archivemark",
    "truncate the archives": "TRUNCATE audit_archive",
    "update a checkpoint": "UPDATE audit_checkpoint SET head_hash = repeat('0', 64)",
    "delete checkpoints": "DELETE FROM audit_checkpoint",
    "truncate checkpoints": "TRUNCATE audit_checkpoint",
    "switch the checkpoints' triggers off": "ALTER TABLE audit_checkpoint DISABLE TRIGGER ALL",
    "replace a public key": "UPDATE audit_signingkey SET public_key = 'AAAA'",
    "delete a key": "DELETE FROM audit_signingkey",
    "truncate the keys": "TRUNCATE audit_signingkey",
    "move a head backward": "UPDATE audit_chainhead SET seq = 1",
    "point a head at a forged hash": "UPDATE audit_chainhead SET hash = repeat('f', 64)",
    "delete a head": "DELETE FROM audit_chainhead",
    "truncate the heads": "TRUNCATE audit_chainhead",
    "switch the heads' triggers off": "ALTER TABLE audit_chainhead DISABLE TRIGGER ALL",
    "act as a replica (no triggers)": "SET session_replication_role = replica",
    "take the table over": "ALTER TABLE audit_auditevent OWNER TO CURRENT_USER",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_the_runtime_role_cannot_change_or_unprotect_the_audit(as_runtime, attack):
    with pytest.raises(errors.InsufficientPrivilege):
        as_runtime.execute(ATTACKS[attack])


def test_the_runtime_role_can_read_append_and_retire_a_key(as_runtime):
    assert as_runtime.execute("SELECT count(*) FROM audit_auditevent").fetchone()[0] > 0
    as_runtime.execute("UPDATE audit_signingkey SET retired_at = now() "
                       "WHERE retired_at IS NULL")
    as_runtime.rollback()  # allowed, and not kept: the key is the demo's current one
