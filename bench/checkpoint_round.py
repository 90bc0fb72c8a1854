"""What signing every moved chain head each minute costs (issue 12), run by hand:

    .venv/bin/python bench/checkpoint_round.py DATABASE [--chains 1000] [--repeat 5]

In DATABASE (PostgreSQL, migrated here; production settings as bench/run.py uses them) it keeps
`--chains` chains named bench:round-NNNN. For N of them moved (10 events appended to each, in
one batch, as the bench's ~10,000 events/s append does), it times one round of
audit.checkpoints.checkpoint_chains over every head, median of `--repeat` rounds. At 10,000
events/s a minute holds 600,000 events, so every chain may have moved: N = all is the worst
case of a production minute.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from django_env import django_env


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database")
    parser.add_argument("--chains", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.update(django_env(args.database))
    import django

    django.setup()
    from django.core.management import call_command

    from audit.checkpoints import checkpoint_chains
    from audit.services import record_events

    call_command("migrate", verbosity=0)
    chains = [f"bench:round-{i:04d}" for i in range(args.chains)]

    def move(some):
        for chain in some:
            record_events(chain=chain, events=[
                {"action": "bench.appended", "data": {"i": i}} for i in range(10)])

    move(chains)
    checkpoint_chains()  # every head signed: the state a round starts from
    results = {}
    for moved in sorted({0, 10, 100, args.chains}):
        times = []
        for _ in range(args.repeat):
            move(chains[:moved])
            started = time.perf_counter()
            made = checkpoint_chains()
            times.append((time.perf_counter() - started) * 1000)
            assert len(made) == moved, (len(made), moved)
        median = statistics.median(times)
        results[f"{moved} of {args.chains} moved"] = {
            "round_ms": round(median, 1),
            "share_of_a_minute": f"{median / 600:.3f}%",
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
