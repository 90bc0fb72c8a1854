"""The hash chain: canonical encoding, hashing and verification.

Every event's hash is SHA-256 over a canonical JSON encoding of its fields, including the hash
of the event before it in the same chain. Changing, removing, inserting or reordering any event
therefore breaks the chain at that point, and `verify_chain` names the first sequence number
where the stored events stop being consistent.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC

GENESIS_HASH = "0" * 64
PROVIDER_CHAIN = "provider"
ENCODING_VERSION = 1


def tenant_chain(tenant_slug):
    return f"tenant:{tenant_slug}"


def format_time(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_fields(*, chain, seq, occurred_at, action, actor_id, actor_email, request_id, data,
                     prev_hash):
    return {
        "v": ENCODING_VERSION,
        "chain": chain,
        "seq": seq,
        "occurred_at": format_time(occurred_at),
        "action": action,
        "actor_id": actor_id,
        "actor_email": actor_email,
        "request_id": str(request_id) if request_id is not None else None,
        "data": data,
        "prev_hash": prev_hash,
    }


def canonical_bytes(fields):
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute_hash(fields):
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


@dataclass(frozen=True)
class Verification:
    chain: str
    count: int
    first_bad_seq: int | None = None
    problem: str = ""
    last_hash: str = GENESIS_HASH
    hash_before: str = ""
    full_verified_at: object = None

    @property
    def ok(self):
        return self.first_bad_seq is None

    def __str__(self):
        if self.ok:
            return f"OK {self.chain}: {self.count} events verified"
        return f"BROKEN {self.chain} at sequence {self.first_bad_seq}: {self.problem}"


_FIELDS = ("seq", "occurred_at", "action", "actor_id", "actor_email", "request_id", "data",
           "prev_hash", "hash")


def verify_chain(chain, *, after=None):
    """Walk one chain in sequence order and return the first inconsistency, if any.

    `after` = (seq, hash, hash before it) of a point already verified: only later events are
    walked (pages use this; `verify_audit` always walks everything).

    1. Sequence numbers must run 1, 2, 3, … with no gap.
    2. Each event must carry the hash of the event before it (the genesis hash for the first).
    3. Each event's stored hash must equal the hash recomputed from its fields.
    4. Every signed checkpoint must verify, and name the hash the chain has at its sequence
       number: this catches a chain rewritten with recomputed hashes, or cut short, even when
       the chain head was rewritten to match.
    5. The last event must be the one the chain head recorded when it was appended.
    """
    from audit.models import AuditEvent, ChainHead, Checkpoint

    start_seq, prev_hash, hash_before_prev = after or (0, GENESIS_HASH, None)
    checkpoints = {c.seq: c for c in Checkpoint.objects.filter(chain=chain, seq__gt=start_seq)}
    for checkpoint in checkpoints.values():
        problem = _checkpoint_problem(checkpoint)
        if problem:
            return Verification(chain, 0, checkpoint.seq, problem)

    rows = (AuditEvent.objects.filter(chain=chain, seq__gt=start_seq).order_by("seq")
            .values_list(*_FIELDS).iterator(chunk_size=5000))
    expected = start_seq + 1
    for row in rows:
        seq, occurred_at, action, actor_id, actor_email, request_id, data, stored_prev, stored = row
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
        fields = canonical_fields(
            chain=chain, seq=seq, occurred_at=occurred_at, action=action, actor_id=actor_id,
            actor_email=actor_email, request_id=request_id, data=data, prev_hash=stored_prev,
        )
        if compute_hash(fields) != stored:
            return Verification(chain, expected - 1, seq,
                                "its content does not match its hash (it was altered)")
        signed = checkpoints.get(seq)
        if signed is not None and signed.head_hash != stored:
            return Verification(chain, expected - 1, seq,
                                f"it differs from the checkpoint signed {signed.signed_at_text()}"
                                " (the chain was rewritten)")
        hash_before_prev, prev_hash = prev_hash, stored
        expected += 1
    last = expected - 1
    beyond = [seq for seq in checkpoints if seq > last]
    if beyond:
        newest = checkpoints[max(beyond)]
        return Verification(chain, last, last + 1,
                            f"the chain ends at {last}, but a checkpoint signed "
                            f"{newest.signed_at_text()} vouches for {newest.seq} events "
                            "(the newest events were removed)")
    head = ChainHead.objects.filter(chain=chain).first()
    if head is not None:
        if head.seq > last:
            return Verification(chain, last, last + 1,
                                f"events {last + 1} to {head.seq} are missing from the end")
        if head.seq < last:
            return Verification(chain, last, head.seq + 1,
                                f"events after {head.seq} were added outside the audit service")
        if head.hash != prev_hash:
            return Verification(chain, last, last, "the newest event is not the one appended")
    return Verification(chain, last, last_hash=prev_hash, hash_before=hash_before_prev or "")


def all_chains():
    from audit.models import ChainHead
    from audit.selectors import chains_with_events

    heads = set(ChainHead.objects.values_list("chain", flat=True))
    return sorted(heads | chains_with_events())


def _checkpoint_problem(checkpoint):
    from audit.checkpoints import checkpoint_body
    from audit.signing import verify

    body = checkpoint_body(checkpoint.chain, checkpoint.seq, checkpoint.head_hash,
                           checkpoint.signed_at_text())
    signature = {"key_id": checkpoint.key_id, "value": checkpoint.signature}
    if not verify(body, signature):
        return (f"the checkpoint at {checkpoint.seq} does not carry a valid signature of a "
                f"published key (key {checkpoint.key_id})")
    return ""


def verify_and_record(chain, *, now=None):
    """A full verification, remembered so pages need only check what came after it."""
    from audit.models import ChainVerification
    from lockbox_portal import clock

    now = now or clock.now()
    result = verify_chain(chain)
    ChainVerification.objects.update_or_create(chain=chain, defaults={
        "ok": result.ok, "verified_seq": result.count, "verified_hash": result.last_hash,
        "hash_before": result.hash_before, "first_bad_seq": result.first_bad_seq,
        "problem": result.problem, "verified_at": now, "full_verified_at": now})
    return Verification(**{**result.__dict__, "full_verified_at": now})


def current_status(chain, *, now=None):
    """The chain's state for a page: the last full verification (made now if there is none),
    extended by verifying only the events appended since. Cheap on a chain of millions."""
    from audit.models import ChainVerification
    from lockbox_portal import clock

    now = now or clock.now()
    record = ChainVerification.objects.filter(chain=chain).first()
    if record is None:
        return verify_and_record(chain, now=now)
    if not record.ok:
        return Verification(chain, record.verified_seq, record.first_bad_seq, record.problem,
                            full_verified_at=record.full_verified_at)
    result = verify_chain(chain, after=(record.verified_seq, record.verified_hash,
                                        record.hash_before or None))
    ChainVerification.objects.filter(chain=chain).update(
        ok=result.ok, verified_seq=result.count, verified_hash=result.last_hash,
        hash_before=result.hash_before, first_bad_seq=result.first_bad_seq,
        problem=result.problem, verified_at=now)
    return Verification(**{**result.__dict__, "full_verified_at": record.full_verified_at})
