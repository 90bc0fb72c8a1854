"""`make bench` seeding only: production settings plus the devtools app, whose `bench_seed`
fills the benchmark databases. bench/run.py measures with plain production settings; only the
seeding step runs with these. Never deploy this."""

from .production import *  # noqa: F403
from .production import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]
