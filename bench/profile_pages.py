"""Where a page's time goes, by hand: statements per page by who runs them, and a cProfile of
100 requests grouped by area (ORM, driver, templates, middleware...).

    make bench BENCH_ARGS="--sizes small --no-readme"    # seeds lockbox_bench_small once
    .venv/bin/python bench/profile_pages.py [database]   # default lockbox_bench_small

Profiling slows Python code down, so read the shares, not the milliseconds.
"""

import collections
import cProfile
import os
import pstats
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from django_env import django_env  # noqa: E402

os.environ.update(django_env(sys.argv[1] if len(sys.argv) > 1 else "lockbox_bench_small"))
sys.argv = sys.argv[:1]
import inprocess  # noqa: E402  (sets Django up)
from django.db import connection  # noqa: E402

AREAS = [
    ("templates", ("django/template", "templatetags")),
    ("sign-in state (sessions, otp, allauth, auth)",
     ("django/contrib/sessions", "django_otp", "allauth", "django/contrib/auth", "signing")),
    ("database driver", ("psycopg", "django/db/backends", "lockbox_portal/db/postgresql")),
    ("ORM", ("django/db/models",)),
    ("our middleware", ("lockbox_portal/security", "lockbox_portal/logs", "lockbox_portal/metrics",
                        "lockbox_portal/db/middleware")),
    ("views and domain", ("approvals/", "audit/")),
    ("rest of Django", ("django/",)),
]
OWNERS = [("allauth", "allauth/"), ("django_otp", "django_otp/"),
          ("sessions", "django/contrib/sessions"), ("auth", "django/contrib/auth"),
          ("our middleware", "lockbox_portal/"), ("view", "approvals/"), ("view", "audit/")]


def owner_of_statement():
    for frame in reversed(traceback.extract_stack()[:-3]):
        for owner, part in OWNERS:
            if part in frame.filename and "bench/" not in frame.filename:
                return owner
    return "other"


def main():
    from approvals.models import AccessRequest

    tenant = inprocess._ensure_roles()
    client = inprocess._client(f"admin@{inprocess.BIG}.bench")
    request = (AccessRequest.objects.filter(tenant=tenant, state="completed")
               .order_by("-created_at").first())
    pages = {"customer dashboard": f"/t/{inprocess.BIG}/",
             "request page": f"/t/{inprocess.BIG}/requests/{request.pk}/",
             "history": f"/t/{inprocess.BIG}/history/"}
    for name, url in pages.items():
        for _ in range(10):
            client.get(url)
        owners = collections.Counter()

        def count(execute, sql, params, many, context, owners=owners):
            owners[owner_of_statement()] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            client.get(url)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(100):
            client.get(url)
        profile.disable()
        stats = pstats.Stats(profile).stats
        total = sum(row[2] for row in stats.values())
        areas = collections.Counter()
        for (filename, _, _), row in stats.items():
            area = next((a for a, parts in AREAS if any(p in filename for p in parts)), "other")
            areas[area] += row[2]
        print(f"\n{name}: {sum(owners.values())} statements "
              f"({', '.join(f'{o} {n}' for o, n in owners.most_common())})")
        for area, seconds in areas.most_common():
            print(f"  {area:45s} {100 * seconds / total:4.0f}%")


if __name__ == "__main__":
    main()
