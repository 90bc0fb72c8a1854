"""What archiving old audit events costs, and whether appends wait on it (issue 15), run by hand:

    .venv/bin/python bench/archive_round.py DATABASE [--events 300000] [--batch 100000]

In DATABASE (PostgreSQL, created and migrated here; production settings as bench/run.py uses
them; BENCH_DATABASE_URL points elsewhere) it writes one chain, bench:archive-<n>, of
`--events` events eight years old, then in the same run:

1. the baseline: the chain's first `--batch` events through the export's own generator
   (audit.export.jsonl_lines, as the download streams it) into /dev/null, events/s;
2. the archiver, one bounded batch at a time (audit.archives.archive_chain: write, check every
   line, fsync, sign, record; then finish_deletions in batches of 5,000), events/s of each
   step, until the whole chain is archived;
3. appends to the same chain from another connection, one event per transaction, for the
   same length of time with the archiver idle and then while it runs: p50/p95/max latency.

It prints one JSON object: the rates, their ratio to the export's, and the append latencies.
"""

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from django_env import django_env


def _ensure_database(name):
    import psycopg

    base = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/")
    with psycopg.connect(base.rstrip("/") + "/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def _percentiles(samples):
    ordered = sorted(samples)
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 2),
            "max_ms": round(ordered[-1], 2)}


def _append(chain, phase, results):
    """One event per transaction, as fast as they go, timing each by the phase it began in."""
    from django.db import connection

    from audit.services import record_event

    connection.close()  # never the parent's socket
    latencies = {"idle": [], "archiving": []}
    time.sleep(0.5)  # connect and warm up outside the idle phase's samples
    record_event(chain=chain, action="bench.appended", data={"during": "warm-up"})
    while phase.value != 2:
        name = "archiving" if phase.value == 1 else "idle"
        began = time.perf_counter()
        record_event(chain=chain, action="bench.appended", data={"during": name})
        latencies[name].append((time.perf_counter() - began) * 1000)
    connection.close()
    results.put(latencies)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database")
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args()
    _ensure_database(args.database)
    archive_dir = tempfile.mkdtemp(prefix="lockbox-bench-archive-")
    os.environ.update(django_env(args.database))
    os.environ["LOCKBOX_ARCHIVE_DIR"] = archive_dir
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from audit.archives import archive_chain, finish_deletions
    from audit.export import jsonl_lines
    from audit.models import AuditEvent
    from audit.services import record_events
    from audit.verification import verify_chain
    from lockbox_portal import clock

    call_command("migrate", verbosity=0)
    chain = f"bench:archive-{int(time.time())}"
    old = clock.now() - timedelta(days=8 * 366)
    started = time.perf_counter()
    for start in range(0, args.events, 5000):
        record_events(chain=chain, now=old, events=[
            {"action": "bench.happened", "data": {"i": i, "resource": f"exchange/mailbox/u{i}"}}
            for i in range(start, min(start + 5000, args.events))])
    seeded = time.perf_counter() - started

    started = time.perf_counter()
    size = 0
    for block in jsonl_lines(AuditEvent.objects.filter(chain=chain, seq__lte=args.batch)):
        size += len(block)
    export_rate = args.batch / (time.perf_counter() - started)

    # The appender is a process of its own (as a web worker is), so that it competes with
    # the archiver for the database and the CPUs, not for this process's GIL.
    phase = multiprocessing.Value("i", 0)  # 0 idle, 1 archiving, 2 stop
    results = multiprocessing.Queue()
    connection.close()
    writer = multiprocessing.get_context("fork").Process(target=_append,
                                                         args=(chain, phase, results))
    writer.start()
    steps, now = [], clock.now()
    archive_seconds = delete_seconds = 0.0
    try:
        time.sleep(1.0)
        idle_started = time.perf_counter()
        # The idle phase lasts about as long as the archiving will (a guess from the export).
        time.sleep(max(3.0, 2.5 * args.events / export_rate))
        idle_seconds = time.perf_counter() - idle_started
        phase.value = 1
        while True:
            began = time.perf_counter()
            made = archive_chain(chain, cutoff=now, now=now, batch=args.batch)
            if made is None:
                break
            wrote = time.perf_counter() - began
            began = time.perf_counter()
            deleted = finish_deletions(chain, now=now)
            removed = time.perf_counter() - began
            archive_seconds += wrote
            delete_seconds += removed
            steps.append({"events": made.count, "archive_s": round(wrote, 3),
                          "delete_s": round(removed, 3), "deleted": deleted})
    finally:
        phase.value = 2
        latencies = results.get(timeout=60)
        writer.join()
    archived = sum(s["events"] for s in steps)
    result = {
        "events": args.events, "batch": args.batch, "seed_s": round(seeded, 1),
        "export_events_per_s": round(export_rate),
        "archive_events_per_s": round(archived / archive_seconds),
        "delete_events_per_s": round(archived / delete_seconds),
        "archive_vs_export": round(archived / archive_seconds / export_rate, 2),
        "steps": steps,
        "append_idle": _percentiles(latencies["idle"]) | {"seconds": round(idle_seconds, 1)},
        "append_while_archiving": _percentiles(latencies["archiving"]),
        "verifies": verify_chain(chain).ok,
        "archive_bytes": sum(p.stat().st_size for p in Path(archive_dir).rglob("*.jsonl")),
    }
    result["append_p95_ratio"] = round(result["append_while_archiving"]["p95_ms"]
                                       / result["append_idle"]["p95_ms"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
