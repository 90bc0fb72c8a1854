"""Verifying a chain as the database holds it, against its signed checkpoints.

Changing, removing, inserting or reordering any event breaks the chain at that point (each
event's hash covers the hash before it: audit.encoding), and `verify_chain` names the first
sequence number where the stored events stop being consistent.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.checkpoints import body_of
from audit.encoding import GENESIS_HASH
from audit.keyring import PinnedKey
from audit.manifests import archived_start
from audit.models import AuditEvent, ChainHead, Checkpoint
from audit.reading import chain_rows
from audit.signing import trusted_keys, verify


@dataclass(frozen=True)
class Verification:
    """What verify_chain found: `count` events verified, or where and why the chain broke."""

    chain: str
    count: int
    first_bad_seq: int | None = None
    problem: str = ""
    last_hash: str = GENESIS_HASH
    hash_before: str = ""
    full_verified_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None

    def __str__(self) -> str:
        if self.ok:
            return f"OK {self.chain}: {self.count} events verified"
        return f"BROKEN {self.chain} at sequence {self.first_bad_seq}: {self.problem}"


@dataclass(frozen=True)
class Signed:
    """A checkpoint as verification reads it: from the database, or kept outside it."""
    seq: int
    head_hash: str
    signed_at: str
    body: dict[str, Any]
    signature: dict[str, Any]
    kept: bool = False  # from a file the customer kept (verify_audit --checkpoints)
    in_database: bool = True  # for a kept one: the database still holds it

    @property
    def prev_seq(self) -> int | None:
        return self.body.get("prev_seq")

    def where(self) -> str:
        return "a kept checkpoint" if self.kept else "a checkpoint"


def verify_chain(chain: str, *, after: tuple[int, str, str | None] | None = None,
                 must_exist: bool = False, keys: Mapping[str, PinnedKey] | None = None,
                 kept: Iterable[dict[str, Any]] = (), unsigned_limit: timedelta | None = None,
                 now: datetime | None = None) -> Verification:
    """Walk one chain in sequence order and return the first inconsistency, if any.

    `after` = (seq, hash, hash before it) of a point already verified: only later events are
    walked (pages use this; `verify_audit` always walks everything). `must_exist`: the chain's
    owner exists (a tenant), so it cannot be empty. `keys`: the trusted public keys (default:
    pinned in configuration). `kept`: checkpoint documents kept outside the database.
    `unsigned_limit`: how old the oldest event no checkpoint covers may be, as of `now`.

    0. The chain's archives (audit.manifests) must be validly signed and contiguous, and its
       archive mark where they end; the stored events are walked from the archived head on.
    1. Every checkpoint must carry a valid signature of a trusted key, and (when it names one)
       its predecessor must exist: a deleted stretch of checkpoints leaves a link to nothing.
    2. Sequence numbers must run 1, 2, 3, ... with no gap.
    3. Each event must carry the hash of the event before it (the genesis hash for the first).
    4. Each event's stored hash must equal the hash recomputed from its fields.
    5. Every checkpoint must name the hash the chain has at its sequence number: this catches
       a chain rewritten with recomputed hashes, or cut short, even when the head matches.
    6. A chain whose owner exists must hold events; events need a chain head, which must not
       be older than the newest checkpoint and must name the last event.
    7. Events no checkpoint covers must be younger than `unsigned_limit`: else checkpoints
       were deleted (or signing stopped), and those events are vouched for by nothing.
    """
    keys = trusted_keys() if keys is None else keys
    if after is None:
        # Events below the chain's archived head left the database: its signed archives stand
        # for them, and the stored events must continue from the newest one's head hash.
        archived = archived_start(chain, keys)
        if archived.problem:
            return Verification(chain, archived.seq, archived.bad_seq, archived.problem)
        start_seq, prev_hash, hash_before_prev = archived.seq, archived.hash, None
    else:
        start_seq, prev_hash, hash_before_prev = after
    if after is not None and start_seq and not AuditEvent.objects.filter(
            chain=chain, seq=start_seq, hash=prev_hash).exists():
        # One look back at the point already verified: a chain wiped or cut below it shows on
        # the next page, not only at the next full verification. Unless it was archived since:
        # then the pages go on from the archived head.
        archived = archived_start(chain, keys)
        if archived.problem:
            return Verification(chain, archived.seq, archived.bad_seq, archived.problem)
        if start_seq > archived.seq:
            return Verification(chain, start_seq - 1, start_seq,
                                f"event {start_seq}, verified before, is gone or changed")
        start_seq, prev_hash, hash_before_prev = archived.seq, archived.hash, None
    signed = _signed(chain, start_seq, kept)
    known: set[int] = set()  # seqs of the database's checkpoints met so far, for the links
    pending = next(signed, None)
    newest_signed, unsigned_since = start_seq, None

    expected = start_seq + 1
    for seq, occurred_at, stored_prev, stored, matches in chain_rows(chain, start_seq,
                                                                     bulk=after is None):
        if seq != expected:
            return Verification(chain, expected - 1, expected,
                                f"event {expected} is missing (the next stored event is {seq})")
        if stored_prev != prev_hash:
            if stored_prev == hash_before_prev:
                # This event still links to the one two places back: the event between them
                # was slipped in, even if whoever did it computed a valid hash for it.
                return Verification(chain, expected - 2, seq - 1,
                                    "it was inserted: the event after it links past it")
            return Verification(chain, expected - 1, seq,
                                "it does not link to the event before it")
        if not matches:
            return Verification(chain, expected - 1, seq,
                                "its content does not match its hash (it was altered)")
        # format_time's text sorts as the times do.
        unsigned_since = occurred_at if unsigned_since is None else min(unsigned_since,
                                                                         occurred_at)
        while pending is not None and pending.seq <= seq:
            problem = _checkpoint_problem(chain, pending, keys, known, start_seq)
            if problem:
                return Verification(chain, expected - 1, pending.seq, problem)
            if pending.head_hash != stored:
                return Verification(chain, expected - 1, seq,
                                    f"it differs from {pending.where()} signed "
                                    f"{pending.signed_at} (the chain was rewritten)")
            newest_signed, unsigned_since = seq, None
            pending = next(signed, None)
        hash_before_prev, prev_hash = prev_hash, stored
        expected += 1
    last = expected - 1
    if pending is not None:
        beyond = [pending, *signed]
        for checkpoint in beyond:
            # Past the end, that the chain was cut says more than where its checkpoints went.
            problem = _checkpoint_problem(chain, checkpoint, keys, known, start_seq,
                                          held=False)
            if problem:
                return Verification(chain, last, checkpoint.seq, problem)
        newest = beyond[-1]
        return Verification(chain, last, last + 1,
                            f"the chain ends at {last}, but {newest.where()} signed "
                            f"{newest.signed_at} vouches for {newest.seq} events "
                            "(the newest events were removed)")
    if after is None and last == 0 and must_exist:
        return Verification(chain, 0, 1, "the chain is empty, but its tenant exists and every "
                                         "tenant's chain starts when it is created (its events "
                                         "were deleted)")
    head = ChainHead.objects.filter(chain=chain).first()
    if head is None and last > start_seq:
        return Verification(chain, last, last, "the chain has events but no chain head "
                                               "(the head was deleted)")
    if head is not None:
        if head.seq < newest_signed:
            return Verification(chain, last, head.seq + 1,
                                f"the chain head ({head.seq}) is older than the newest "
                                f"checkpoint ({newest_signed}): it was moved back")
        if head.seq > last:
            return Verification(chain, last, last + 1,
                                f"events {last + 1} to {head.seq} are missing from the end")
        if head.seq < last:
            return Verification(chain, last, head.seq + 1,
                                f"events after {head.seq} were added outside the audit service")
        if head.hash != prev_hash:
            return Verification(chain, last, last, "the newest event is not the one appended")
    if unsigned_limit is not None and unsigned_since is not None and now is not None \
            and now - _moment(unsigned_since) > unsigned_limit:
        return Verification(chain, last, newest_signed + 1,
                            f"no checkpoint covers events {newest_signed + 1} to {last}, though "
                            f"event {newest_signed + 1}'s time is {unsigned_since},"
                            f" more than {_span(unsigned_limit)} ago (checkpoints were deleted, "
                            "or signing has stopped)")
    return Verification(chain, last, last_hash=prev_hash, hash_before=hash_before_prev or "")


def _moment(text: str) -> datetime:
    """The moment format_time wrote as `text`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60} minutes" if seconds % 60 == 0 else f"{seconds} seconds"


def _signed(chain: str, start_seq: int, kept: Iterable[dict[str, Any]]) -> Iterator[Signed]:
    """The chain's checkpoints after `start_seq`, from the database and `kept`, in seq order."""
    stored = (Signed(c.seq, c.head_hash, c.signed_at_text(), body_of(c),
                     {"key_id": c.key_id, "value": c.signature})
              for c in Checkpoint.objects.filter(chain=chain, seq__gt=start_seq)
              .order_by("seq").iterator(chunk_size=5000))
    mine = [d for d in kept if d["chain"] == chain and d["seq"] > start_seq]
    held = set(Checkpoint.objects.filter(chain=chain, seq__in=[d["seq"] for d in mine])
               .values_list("seq", "signature"))
    outside = sorted((Signed(d["seq"], d["hash"], d["signed_at"],
                             {k: v for k, v in d.items() if k != "signature"}, d["signature"],
                             kept=True,
                             in_database=(d["seq"], d["signature"]["value"]) in held)
                      for d in mine), key=lambda c: c.seq)
    return heapq.merge(stored, outside, key=lambda c: c.seq)


def _checkpoint_problem(chain: str, checkpoint: Signed, keys: Mapping[str, PinnedKey],
                        known: set[int], start_seq: int, *, held: bool = True) -> str:
    if not verify(checkpoint.body, checkpoint.signature, keys):
        return (f"{checkpoint.where()} at {checkpoint.seq} does not carry a valid signature of "
                f"a trusted key (key {checkpoint.signature.get('key_id')})")
    if checkpoint.kept:
        if held and not checkpoint.in_database:
            return (f"the kept checkpoint at {checkpoint.seq}, signed {checkpoint.signed_at}, "
                    "is no longer in the database (it was deleted)")
        return ""
    prev_seq = checkpoint.prev_seq
    if prev_seq and prev_seq > start_seq and prev_seq not in known:
        return (f"the checkpoint at {checkpoint.seq} follows one at {prev_seq}, which is "
                "missing (checkpoints were deleted)")
    known.add(checkpoint.seq)
    return ""


