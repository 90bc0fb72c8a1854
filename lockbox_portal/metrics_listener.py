"""The metrics listener of one process group: a gunicorn master, a Celery worker, beat.

It answers Prometheus on LOCKBOX_METRICS_ADDR:LOCKBOX_METRICS_PORT, a listener of its own that
neither site routes, so only the network the operator opens to it reaches it. Unset port: no
listener (as in `make run`). The values it serves are those every process of the group wrote
under PROMETHEUS_MULTIPROC_DIR, which must be a directory of this group's own: it is emptied when
the group starts, because values left by an earlier run would be added to this run's.

Imports nothing of Django's settings: gunicorn.conf.py calls it in the master, before any app.
"""

from __future__ import annotations

import os
from pathlib import Path

from lockbox_portal.env import EnvError, env_int, env_str

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def address() -> tuple[str, int] | None:
    """(host, port) to listen on, or None when LOCKBOX_METRICS_PORT is unset."""
    if not os.environ.get("LOCKBOX_METRICS_PORT", "").strip():
        return None
    port = env_int("LOCKBOX_METRICS_PORT", 0, min_value=1, max_value=65535)
    host = env_str("LOCKBOX_METRICS_ADDR", default="127.0.0.1")
    return host, port


def _multiproc_dir() -> Path:
    raw = os.environ.get(MULTIPROC_DIR, "").strip()
    if not raw:
        raise EnvError(MULTIPROC_DIR, "is required with LOCKBOX_METRICS_PORT: a directory of "
                                      "this process group's own where its processes keep their "
                                      "counts")
    folder = Path(raw)
    if not folder.is_dir():
        raise EnvError(MULTIPROC_DIR, f"{raw} is not a directory")
    return folder


def start_group() -> None:
    """At the start of a process group, before it forks: forget what an earlier run counted.
    Only prometheus_client's own files (*.db) are removed."""
    if address() is None:
        return
    for leftover in _multiproc_dir().glob("*.db"):
        leftover.unlink(missing_ok=True)


def serve() -> None:
    """Listen for Prometheus in a thread of this (the group's main) process."""
    where = address()
    if where is None:
        return
    _multiproc_dir()
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(where[1], addr=where[0], registry=registry)


def process_exited(pid: int) -> None:
    """A worker of the group is gone: drop its live gauges (its counts stay counted)."""
    if address() is None or not os.environ.get(MULTIPROC_DIR):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
