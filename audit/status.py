"""A chain's verification status as pages show it, without walking millions of events per view.

A full verification (daily, or verify_audit) is remembered in ChainVerification; a page then
verifies only the events appended since, from the remembered point.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Subquery

from audit.models import AuditEvent, ChainHead, ChainVerification, Checkpoint
from audit.verification import Verification, verify_chain
from lockbox_portal import clock


def verify_and_record(chain: str, *, now: datetime | None = None,
                      **checks: Any) -> Verification:
    """A full verification (verify_chain's `checks`), remembered so pages need only check what
    came after it."""
    now = now or clock.now()
    result = verify_chain(chain, now=now, **checks)
    ChainVerification.objects.update_or_create(chain=chain, defaults={
        "ok": result.ok, "verified_seq": result.count, "verified_hash": result.last_hash,
        "hash_before": result.hash_before, "first_bad_seq": result.first_bad_seq,
        "problem": result.problem, "verified_at": now, "full_verified_at": now})
    return replace(result, full_verified_at=now)


def current_status(chain: str, *, now: datetime | None = None,
                   must_exist: bool = False) -> Verification:
    """The chain's state for a page: the last full verification (made now if there is none),
    extended by verifying only the events appended since.
    `must_exist`: the page's tenant exists, so its chain cannot be empty."""
    now = now or clock.now()
    record = _with_head(chain)
    if record is None:
        return verify_and_record(chain, now=now, must_exist=must_exist)
    if not record.ok:
        return Verification(chain, record.verified_seq, record.first_bad_seq, record.problem,
                            full_verified_at=record.full_verified_at)
    if (record.verified_seq and record.head_seq == record.verified_seq
            and record.head_hash == record.verified_hash and record.event_there
            and not record.signed_after):
        # Nothing appended since, the verified event still there as it was, no checkpoint
        # beyond it: the walk from there would read nothing and find what the record says
        # (verify_chain's checks 5 and 6 on an unchanged head). One statement, for the pages.
        return Verification(chain, record.verified_seq, last_hash=record.verified_hash,
                            hash_before=record.hash_before,
                            full_verified_at=record.full_verified_at)
    result = verify_chain(chain, after=(record.verified_seq, record.verified_hash,
                                        record.hash_before or None))
    found = {"ok": result.ok, "verified_seq": result.count, "verified_hash": result.last_hash,
             "hash_before": result.hash_before, "first_bad_seq": result.first_bad_seq,
             "problem": result.problem}
    # Nothing appended and nothing found since: the record already says so, and a page read
    # (under load, most of them) need not write.
    if any(getattr(record, field) != value for field, value in found.items()):
        ChainVerification.objects.filter(chain=chain).update(**found, verified_at=now)
    return replace(result, full_verified_at=record.full_verified_at)


def _with_head(chain: str) -> Any:
    """The chain's remembered verification, with what a page needs to know whether anything
    moved since: the head, whether the verified event is still stored unchanged, and whether a
    checkpoint was signed beyond it. None when the chain was never verified."""
    here = OuterRef("chain")
    head = ChainHead.objects.filter(chain=here)
    return (ChainVerification.objects.filter(chain=chain)
            .annotate(head_seq=Subquery(head.values("seq")[:1]),
                      head_hash=Subquery(head.values("hash")[:1]),
                      event_there=Exists(AuditEvent.objects.filter(
                          chain=here, seq=OuterRef("verified_seq"),
                          hash=OuterRef("verified_hash"))),
                      signed_after=Exists(Checkpoint.objects.filter(
                          chain=here, seq__gt=OuterRef("verified_seq"))))
            .first())
