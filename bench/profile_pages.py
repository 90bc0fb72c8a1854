"""Where a page's time goes, by hand: for every page bench/run.py measures, its statements by
who runs them, and the milliseconds of a request split into areas timed around the calls
themselves (no profiler, so nothing is slowed down but the clock reads):

- waiting for the database: each statement's execute (PostgreSQL planning and running it, the
  round trip, and psycopg reading the rows);
- compiling SQL: Django turning a queryset into SQL (SQLCompiler.as_sql, outermost calls);
- templates: rendering the page's template (the outermost render);
- the rest of Python: middleware, sign-in state, the view's own code, building querysets,
  turning rows into objects.

    make bench BENCH_ARGS="--sizes small --no-readme"    # seeds lockbox_bench_small once
    .venv/bin/python bench/profile_pages.py [database] [--requests N] [--cprofile PAGE]

`--cprofile PAGE` also prints cProfile's top functions for that page (slower, for reading
which functions, not the milliseconds).
"""

import argparse
import collections
import cProfile
import os
import pstats
import statistics
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from django_env import django_env  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("database", nargs="?", default="lockbox_bench_small")
parser.add_argument("--requests", type=int, default=100)
parser.add_argument("--cprofile", default=None, help="a page's name, as printed")
parser.add_argument("--dump", default=None,
                    help="with --cprofile: also write the profile to this file (pstats)")
options = parser.parse_args()
os.environ.update(django_env(options.database))
sys.argv = sys.argv[:1]
import inprocess  # noqa: E402  (sets Django up)
from django.db import connection  # noqa: E402
from django.db.models.sql.compiler import SQLCompiler  # noqa: E402
from django.template.backends.django import Template  # noqa: E402

OWNERS = [("allauth", "allauth/"), ("django_otp", "django_otp/"),
          ("sessions", "django/contrib/sessions"), ("auth", "django/contrib/auth"),
          ("our middleware", "lockbox_portal/"), ("view", "approvals/"), ("view", "audit/")]


def owner_of_statement():
    for frame in reversed(traceback.extract_stack()[:-3]):
        for owner, part in OWNERS:
            if part in frame.filename and "bench/" not in frame.filename:
                return owner
    return "other"


class Areas:
    """Seconds spent in each area, exclusive: time inside a nested area (a statement run while
    a template renders, SQL compiled inside a view) counts for the inner one only."""

    def __init__(self):
        self.seconds = collections.Counter()
        self.stack = []

    def enter(self, area):
        self.stack.append([area, time.perf_counter(), 0.0])

    def leave(self):
        area, started, inner = self.stack.pop()
        elapsed = time.perf_counter() - started
        self.seconds[area] += elapsed - inner
        if self.stack:
            self.stack[-1][2] += elapsed

    def patch(self, owner, name, area):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            self.enter(area)
            try:
                return original(*args, **kwargs)
            finally:
                self.leave()

        setattr(owner, name, timed)

    def __call__(self, execute, sql, params, many, context):
        """As an execute wrapper: the statement's wait."""
        self.enter("database")
        try:
            return execute(sql, params, many, context)
        finally:
            self.leave()


def main():
    areas = Areas()
    areas.patch(SQLCompiler, "as_sql", "compiling SQL")
    areas.patch(Template, "render", "templates")
    print(f"{options.requests} requests per page after 10 warm-ups; mean ms per request "
          "(share)\n")
    names = ("database", "compiling SQL", "templates")
    print(f"{'page':32s} {'mean':>6s} {'p95':>6s} " + " ".join(f"{n:>14s}" for n in names)
          + f" {'rest of Python':>14s}  statements (by whom)")
    for name, (client, url) in inprocess.page_urls().items():
        for _ in range(10):
            assert client.get(url).status_code == 200, name
        owners = collections.Counter()

        def count(execute, sql, params, many, context, owners=owners):
            owners[owner_of_statement()] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            client.get(url)
        areas.seconds.clear()
        times = []
        with connection.execute_wrapper(areas):
            for _ in range(options.requests):
                areas.enter("rest of Python")
                started = time.perf_counter()
                client.get(url)
                times.append(time.perf_counter() - started)
                areas.leave()
        n, total = len(times), sum(times)

        def part(seconds, n=n, total=total):
            return f"{1000 * seconds / n:5.1f} ({100 * seconds / total:2.0f}%)"

        times.sort()
        print(f"{name:32s} {1000 * statistics.mean(times):6.1f} "
              f"{1000 * times[int(n * 0.95) - 1]:6.1f} "
              + " ".join(f"{part(areas.seconds[a]):>14s}" for a in (*names, "rest of Python"))
              + f"  {sum(owners.values())} "
              f"({', '.join(f'{o} {k}' for o, k in owners.most_common())})")
        if name == options.cprofile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(options.requests):
                client.get(url)
            profile.disable()
            if options.dump:
                profile.dump_stats(options.dump)
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
