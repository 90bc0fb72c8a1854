import os
from argparse import ArgumentParser
from collections.abc import Iterator
from datetime import timedelta
from multiprocessing import get_context
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from audit import keyring
from audit.encoding import tenant_chain
from audit.evidence_files import EvidenceFileError, read_checkpoints
from audit.owners import chains_to_verify, owned_chains
from audit.signing import key_table_problems, trusted_keys
from audit.status import verify_and_record
from audit.verification import verify_chain
from lockbox_portal import clock
from lockbox_portal.forking import forget_inherited_connections

# What every chain is checked against, set before worker processes fork (they inherit it).
_CHECKS: dict[str, Any] = {}


def _verify(job: tuple[str, bool]) -> tuple[bool, str]:
    chain, must_exist = job
    checks = {**_CHECKS, "must_exist": must_exist}
    if checks.pop("record"):
        result = verify_and_record(chain, **checks)
    else:
        result = verify_chain(chain, **checks)
    return result.ok, str(result)


class Command(BaseCommand):
    help = ("Verify the audit hash chains against keys pinned outside the database. Prints OK "
            "or the first broken sequence number (exit status 1; 2 for unreadable input).")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="Verify only this tenant's chain.")
        parser.add_argument(
            "--jobs", type=int, default=None,
            help="Chains verified at once, in as many processes (default: one per CPU on "
                 "PostgreSQL, one on SQLite).")
        parser.add_argument(
            "--checkpoints", metavar="FILE",
            help="Signed checkpoints kept outside the database (the portal's download): each "
                 "must still match the chain it vouches for.")
        parser.add_argument(
            "--keys", metavar="FILE",
            help="Trust only the keys in this lockbox-keys.json, not the configured ones.")

    def handle(self, *args: Any, tenant: str | None = None, jobs: int | None = None,
               checkpoints: str | None = None, keys: str | None = None, **options: Any) -> None:
        """1. Read the trusted keys and the kept checkpoints (exit 2 if either is unreadable).
        2. Compare the database's table of keys with the trusted ones.
        3. Verify every chain: every tenant's must exist; every kept checkpoint must match.
        """
        trusted, kept = self._evidence(checkpoints, keys)
        problems = key_table_problems(trusted)
        chains = self._chains(tenant, kept)
        limit = settings.LOCKBOX_UNSIGNED_LIMIT_SECONDS
        _CHECKS.clear()
        _CHECKS.update(keys=trusted, kept=kept, now=clock.now(),
                       unsigned_limit=timedelta(seconds=limit) if limit else None,
                       # A customer's own files check the database; they do not update what
                       # the pages show.
                       record=not (checkpoints or keys))
        if jobs is None:
            jobs = (os.cpu_count() or 1) if connection.vendor == "postgresql" else 1
        if connection.in_atomic_block:
            jobs = 1  # other processes could not see what this transaction has not committed
        if jobs < 1:
            raise CommandError("--jobs must be at least 1.")
        for problem in problems:
            self.stderr.write(f"BROKEN signing keys: {problem}")
        broken = 0
        for ok, line in self._results(chains, min(jobs, len(chains) or 1)):
            if ok:
                self.stdout.write(line)
            else:
                broken += 1
                self.stderr.write(line)
        if broken or problems:
            keys_too = "; the table of signing keys was tampered with" if problems else ""
            raise CommandError(f"{broken} of {len(chains)} chain(s) are broken{keys_too}.",
                               returncode=1)
        if not chains:
            self.stdout.write("OK: no audit events recorded yet.")
        elif kept:
            self.stdout.write(f"OK: every one of the {len(kept)} kept checkpoint(s) matches.")

    def _evidence(self, checkpoints: str | None, keys: str | None
                  ) -> tuple[dict[str, keyring.PinnedKey], list[dict[str, Any]]]:
        try:
            trusted = (keyring.read_file(keys, where="--keys") if keys else trusted_keys())
            kept = read_checkpoints(checkpoints) if checkpoints else []
        except (keyring.KeyringError, EvidenceFileError, ImproperlyConfigured) as problem:
            raise CommandError(f"CANNOT VERIFY: {problem}", returncode=2) from None
        return trusted, kept

    def _chains(self, tenant: str | None, kept: list[dict[str, Any]]) -> list[tuple[str, bool]]:
        """(chain, must it exist) for every chain to verify, in name order."""
        if tenant is not None:
            if tenant_chain(tenant) not in owned_chains():
                raise CommandError(f"There is no tenant {tenant!r}.")
            return [(tenant_chain(tenant), True)]
        return chains_to_verify(also=[c["chain"] for c in kept])

    def _results(self, chains: list[tuple[str, bool]],
                 jobs: int) -> Iterator[tuple[bool, str]]:
        if jobs == 1:
            yield from map(_verify, chains)
            return
        # Each process opens its own database connection; none may inherit this one.
        connections.close_all()
        with get_context("fork").Pool(jobs, initializer=forget_inherited_connections) as pool:
            yield from pool.imap(_verify, chains, chunksize=1)
