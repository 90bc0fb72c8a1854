"""A PostgreSQL primary and its streaming replica, of the test's own, on loopback.

The system PostgreSQL the suite uses does not accept replication connections, so a test that
needs a replica makes both clusters itself:

1. `initdb` a primary (as the `postgres` OS user when the test runs as root) on a free port, with
   WAL for replication, trust for 127.0.0.1 (replication included) and no durability (fsync
   off: a test's data need not survive a crash);
2. create the database the test names;
3. `pg_basebackup -R` it into a second data directory, started on another free port, and wait
   until the primary reports it streaming.

Every wait is bounded, and `stop()` always ends both servers (fast shutdown, then a kill) and
removes their files. Use it as a context manager, or call `stop()` in a fixture's teardown:

    with PostgresPair(tmp_path) as pair:
        pair.primary_url("lockbox"), pair.replica_url("lockbox")
        pair.pause_replay()   # the replica keeps receiving WAL but shows nothing new
        pair.lag_seconds()
        pair.resume_replay()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.processes import free_port, wait_for

BIN = Path(os.environ.get("LOCKBOX_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"
_MISSING = [name for name in ("initdb", "pg_ctl", "pg_basebackup") if not (BIN / name).exists()]
needs_pg_binaries = pytest.mark.skipif(
    bool(_MISSING), reason=f"needs PostgreSQL server binaries in {BIN} (missing: "
                           f"{', '.join(_MISSING)}; apt-get install -y postgresql, or set "
                           "LOCKBOX_PG_BIN)")

_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
max_connections = 100
shared_buffers = 16MB
wal_level = replica
max_wal_senders = 4
wal_keep_size = 64MB
hot_standby = on
hot_standby_feedback = on
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
"""
_HBA = """
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""


class PostgresPair:
    """A primary and one streaming replica; see the module's docstring."""

    def __init__(self, tmp: Path, *, dbname: str = "lockbox", timeout: float = 60) -> None:
        self.tmp = Path(tmp)
        self.timeout = timeout
        # The servers run as the postgres OS user, who cannot enter pytest's private tmp_path:
        # their files live in a directory of their own (short, for the Unix socket's path).
        self.root = Path(tempfile.mkdtemp(prefix="lockbox-pg-"))
        self.primary_dir, self.replica_dir = self.root / "primary", self.root / "replica"
        self.primary_port, self.replica_port = free_port(), free_port()
        self.dbname = dbname
        self._started: list[Path] = []
        try:
            self._own(self.root)
            self._start_primary()
            self.create_database(dbname)
            self._start_replica()
        except BaseException:
            self.stop()
            raise

    # -- use ----------------------------------------------------------------------------

    def primary_url(self, dbname: str | None = None) -> str:
        return f"postgres://postgres@127.0.0.1:{self.primary_port}/{dbname or self.dbname}"

    def replica_url(self, dbname: str | None = None) -> str:
        return f"postgres://postgres@127.0.0.1:{self.replica_port}/{dbname or self.dbname}"

    def create_database(self, dbname: str) -> None:
        with self._connect(self.primary_port, "postgres") as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')

    def primary_sql(self, sql: str, dbname: str | None = None) -> list[tuple]:
        return self._sql(self.primary_port, sql, dbname)

    def replica_sql(self, sql: str, dbname: str | None = None) -> list[tuple]:
        return self._sql(self.replica_port, sql, dbname)

    def lag_seconds(self) -> float:
        """How far the replica's visible data is behind the primary: 0 when it has replayed
        everything it received, else the age of the last transaction it replayed."""
        (lag,), = self.replica_sql(
            "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
            "ELSE COALESCE(EXTRACT(EPOCH FROM clock_timestamp() "
            "- pg_last_xact_replay_timestamp()), 0) END")
        return float(lag)

    def pause_replay(self) -> None:
        """The replica keeps receiving WAL but stops applying it: its data stays as it is now."""
        self.replica_sql("SELECT pg_wal_replay_pause()")
        wait_for(lambda: self.replica_sql("SELECT pg_get_wal_replay_pause_state()")[0][0]
                 == "paused", 10, "the replica's replay to pause")

    def resume_replay(self) -> None:
        self.replica_sql("SELECT pg_wal_replay_resume()")

    def wait_caught_up(self, timeout: float = 10) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        (target,), = self.primary_sql("SELECT pg_current_wal_lsn()::text")
        wait_for(lambda: self.replica_sql(
            f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")[0][0], timeout,
            "the replica to catch up")

    def stop_replica(self) -> None:
        """Stop the replica (the primary keeps running); `start_replica` brings it back."""
        self._pg_ctl(self.replica_dir, "stop", "-m", "fast")

    def start_replica(self) -> None:
        self._pg_ctl(self.replica_dir, "start", "-l", str(self.replica_dir / "server.log"))
        self._wait_streaming()

    def freeze_replica(self) -> None:
        """Suspend every process of the replica without closing its port: a new connection is
        accepted by the kernel and then never answered, and an open one hears nothing more, as
        behind a frozen network path."""
        self._signal_all(self.replica_dir, signal.SIGSTOP)

    def thaw_replica(self) -> None:
        self._signal_all(self.replica_dir, signal.SIGCONT)

    def stop(self) -> None:
        """End both servers, bounded, and remove their files; safe to call more than once."""
        for data in reversed(self._started):
            try:
                pid = self._postmaster_pid(data)
                self._signal_all(data, signal.SIGCONT)
            except (OSError, ValueError):
                continue
            try:
                self._pg_ctl(data, "stop", "-m", "immediate", timeout=15)
            except (subprocess.SubprocessError, OSError):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        self._started.clear()
        for data in (self.primary_dir, self.replica_dir):
            log = data / "server.log"
            if log.exists():  # kept for a failing test's reader
                self.tmp.mkdir(parents=True, exist_ok=True)
                shutil.copy(log, self.tmp / f"postgres-{data.name}.log")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- start ----------------------------------------------------------------------------

    def _start_primary(self) -> None:
        self._run([str(BIN / "initdb"), "-D", str(self.primary_dir), "-U", "postgres",
                   "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"])
        self._configure(self.primary_dir, self.primary_port, replace_hba=True)
        self._started.append(self.primary_dir)
        self._pg_ctl(self.primary_dir, "start", "-l", str(self.primary_dir / "server.log"))

    def _start_replica(self) -> None:
        self._run([str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port),
                   "-U", "postgres", "-D", str(self.replica_dir), "-R", "-X", "stream",
                   "--checkpoint=fast", "--no-sync"])
        # The copy carries the primary's settings; the last `port` line wins.
        self._configure(self.replica_dir, self.replica_port, replace_hba=False)
        self._started.append(self.replica_dir)
        self._pg_ctl(self.replica_dir, "start", "-l", str(self.replica_dir / "server.log"))
        self._wait_streaming()

    def _wait_streaming(self) -> None:
        wait_for(lambda: self.primary_sql(
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
            "postgres")[0][0] >= 1, self.timeout, "the replica to stream")

    def _configure(self, data: Path, port: int, *, replace_hba: bool) -> None:
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(_SETTINGS.format(port=port, sockets=self.root))
        if replace_hba:
            (data / "pg_hba.conf").write_text(_HBA)
        self._own(data)

    # -- plumbing ---------------------------------------------------------------------------

    def _pg_ctl(self, data: Path, *args: str, timeout: float | None = None) -> None:
        limit = timeout or self.timeout
        self._run([str(BIN / "pg_ctl"), "-D", str(data), "-w", "-t", str(int(limit)), *args],
                  timeout=limit + 5)

    def _run(self, command: list[str], timeout: float | None = None) -> None:
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=timeout or self.timeout, cwd=self.root)
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n"
                                 f"{result.stderr}")

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, OS_USER, OS_USER)
            for inner in path.rglob("*"):
                shutil.chown(inner, OS_USER, OS_USER)

    def _sql(self, port: int, sql: str, dbname: str | None) -> list[tuple]:
        with self._connect(port, dbname or self.dbname) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def _connect(self, port: int, dbname: str) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname,
                               autocommit=True, connect_timeout=5,
                               options="-c statement_timeout=10000")

    def _signal_all(self, data: Path, signum: int) -> None:
        """Send `signum` to the server's postmaster and every process it started."""
        postmaster = self._postmaster_pid(data)
        family = [postmaster]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # The parent's pid is the second field after the ")" closing the name.
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    family.append(int(stat.parent.name))
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    @staticmethod
    def _postmaster_pid(data: Path) -> int:
        return int((data / "postmaster.pid").read_text().split("\n", 1)[0])
