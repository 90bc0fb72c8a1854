"""Signed checkpoints of each chain's head (beat every LOCKBOX_CHECKPOINT_SECONDS, and on demand).

A checkpoint says "chain C had N events, the last hashing to H, at T, and my predecessor was the
checkpoint at P". Events newer than a chain's newest checkpoint are vouched for by nothing but
the database, so the shorter the interval, the smaller what an insider could rewrite unseen.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce

from audit.encoding import format_time
from audit.models import ChainHead, Checkpoint
from audit.signing import publish_active_key, sign
from lockbox_portal import clock

CHECKPOINT_TYPE = "lockbox.checkpoint"


def checkpoint_body(chain: str, seq: int, head_hash: str, signed_at: str,
                    prev_seq: int | None = None) -> dict[str, Any]:
    """What is signed. Version 2 names the checkpoint before it; version 1 (older) did not."""
    body = {"v": 1, "type": CHECKPOINT_TYPE, "chain": chain, "seq": seq, "hash": head_hash,
            "signed_at": signed_at}
    if prev_seq is not None:
        body.update(v=2, prev_seq=prev_seq)
    return body


def body_of(checkpoint: Checkpoint) -> dict[str, Any]:
    return checkpoint_body(checkpoint.chain, checkpoint.seq, checkpoint.head_hash,
                           checkpoint.signed_at_text(), checkpoint.prev_seq)


def as_document(checkpoint: Checkpoint) -> dict[str, Any]:
    """What a customer downloads and keeps: the body and its signature."""
    return {**body_of(checkpoint),
            "signature": {"alg": "Ed25519", "key_id": checkpoint.key_id,
                          "value": checkpoint.signature}}


def checkpoint_chains(*, chains: Iterable[str] | None = None,
                      now: datetime | None = None) -> list[Checkpoint]:
    """Sign the head of every chain (or of `chains`) that moved since its last checkpoint, and
    return the new checkpoints.

    1. One query finds the heads ahead of their newest checkpoint (a round over a thousand
       chains of which few changed reads no more than that).
    2. Each is signed naming the checkpoint before it (prev_seq), so that deleting a stretch
       of checkpoints leaves a link to nothing.
    3. All are written in one INSERT. Safe to run twice, and at once: (chain, seq) is unique.
    """
    now = now or clock.now()
    newest = Checkpoint.objects.filter(chain=OuterRef("chain")).order_by("-seq").values("seq")
    heads = ChainHead.objects.filter(seq__gt=0).annotate(
        signed=Coalesce(Subquery(newest[:1]), 0)).filter(seq__gt=F("signed"))
    if chains is not None:
        heads = heads.filter(chain__in=chains)
    moved = list(heads.values_list("chain", "seq", "hash", "signed"))
    if not moved:
        return []
    key_id, signed_at = publish_active_key(now), format_time(now)
    made = []
    for chain, seq, head_hash, prev_seq in moved:
        signature = sign(checkpoint_body(chain, seq, head_hash, signed_at, prev_seq), now,
                         key_id=key_id)
        made.append(Checkpoint(chain=chain, seq=seq, head_hash=head_hash, signed_at=now,
                               key_id=key_id, signature=signature["value"],
                               prev_seq=prev_seq))
    Checkpoint.objects.bulk_create(made, ignore_conflicts=True, batch_size=1000)
    return made
