"""Signed checkpoints of each chain's head (beat every 15 minutes, and on demand)."""

from audit.chain import format_time
from audit.models import ChainHead, Checkpoint
from audit.signing import sign
from lockbox_portal import clock

CHECKPOINT_TYPE = "lockbox.checkpoint"


def checkpoint_body(chain, seq, head_hash, signed_at):
    return {"v": 1, "type": CHECKPOINT_TYPE, "chain": chain, "seq": seq, "hash": head_hash,
            "signed_at": signed_at}


def as_document(checkpoint):
    """What a customer downloads and keeps: the body and its signature."""
    return {**checkpoint_body(checkpoint.chain, checkpoint.seq, checkpoint.head_hash,
                              checkpoint.signed_at_text()),
            "signature": {"alg": "Ed25519", "key_id": checkpoint.key_id,
                          "value": checkpoint.signature}}


def checkpoint_chains(*, chains=None, now=None):
    """Sign the head of every chain (or of `chains`) that grew since its last checkpoint.
    Returns the new checkpoints. Safe to run twice, and at once: (chain, seq) is unique."""
    now = now or clock.now()
    heads = ChainHead.objects.filter(seq__gt=0)
    if chains is not None:
        heads = heads.filter(chain__in=chains)
    made = []
    for head in heads:
        last = Checkpoint.objects.filter(chain=head.chain).order_by("-seq").first()
        if last is not None and last.seq >= head.seq:
            continue
        signed_at = format_time(now)
        signature = sign(checkpoint_body(head.chain, head.seq, head.hash, signed_at), now)
        created = Checkpoint.objects.bulk_create([Checkpoint(
            chain=head.chain, seq=head.seq, head_hash=head.hash, signed_at=now,
            key_id=signature["key_id"], signature=signature["value"])], ignore_conflicts=True)
        made.extend(created)
    return made
