"""Archive manifests: what is signed about an archived stretch of a chain, and where a chain's
verification starts once its oldest events have left the database.

A manifest says "events first_seq to last_seq of chain C (count of them), the first linking to
prev_hash and the last hashing to head_hash, are the JSON Lines file whose SHA-256 is S; the
archive before me ended at prev_last_seq with file hash prev_sha256". It is signed like a
checkpoint (audit.signing, the same keys), so `lockbox_verify.py --keys` checks it offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from audit.encoding import GENESIS_HASH
from audit.keyring import PinnedKey
from audit.models import Archive, ArchiveMark
from audit.signing import verify

MANIFEST_TYPE = "lockbox.archive"


def manifest_body(*, chain: str, first_seq: int, last_seq: int, count: int, prev_hash: str,
                  head_hash: str, sha256: str, prev_sha256: str, file_name: str,
                  created_at: str) -> dict[str, Any]:
    """What is signed."""
    return {"v": 1, "type": MANIFEST_TYPE, "chain": chain, "first_seq": first_seq,
            "last_seq": last_seq, "count": count, "prev_hash": prev_hash,
            "head_hash": head_hash, "sha256": sha256, "prev_last_seq": first_seq - 1,
            "prev_sha256": prev_sha256, "file": file_name, "created_at": created_at}


def body_of(archive: Archive) -> dict[str, Any]:
    return manifest_body(chain=archive.chain, first_seq=archive.first_seq,
                         last_seq=archive.last_seq, count=archive.count,
                         prev_hash=archive.prev_hash, head_hash=archive.head_hash,
                         sha256=archive.sha256, prev_sha256=archive.prev_sha256,
                         file_name=archive.file_name, created_at=archive.created_at_text())


def as_document(archive: Archive) -> dict[str, Any]:
    """The manifest file: the body and its signature (as a checkpoint document)."""
    return {**body_of(archive), "signature": {"alg": "Ed25519", "key_id": archive.key_id,
                                              "value": archive.signature}}


@dataclass(frozen=True)
class ArchivedStart:
    """Where verification of the events still stored begins: after `seq`, hashing to `hash`.
    `problem` (with `bad_seq`) when the archives or the mark cannot be trusted."""

    seq: int = 0
    hash: str = GENESIS_HASH
    bad_seq: int | None = None
    problem: str = ""


def archived_start(chain: str, keys: Mapping[str, PinnedKey]) -> ArchivedStart:
    """Check a chain's archives and its mark, and say where the stored events take over.

    1. Archives must run from 1 without a gap, each linking to the one before (prev_hash,
       prev_sha256), each manifest validly signed by a pinned key.
    2. The mark must be where the last archive ends: a mark moved with no archive (or an
       archive with no mark) means events may have left unaccounted for.
    """
    mark = ArchiveMark.objects.filter(chain=chain).values_list("through_seq", flat=True).first()
    seq, head, sha = 0, GENESIS_HASH, ""
    for archive in Archive.objects.filter(chain=chain).order_by("first_seq"):
        where = f"the archive of events {archive.first_seq} to {archive.last_seq}"
        if archive.first_seq != seq + 1 or archive.prev_hash != head \
                or archive.prev_sha256 != sha:
            return ArchivedStart(seq, head, seq + 1,
                                 f"{where} does not follow the archive before it (archives "
                                 "were removed or forged)")
        if not verify(body_of(archive), {"key_id": archive.key_id,
                                         "value": archive.signature}, keys):
            return ArchivedStart(seq, head, archive.first_seq,
                                 f"{where} does not carry a valid signature of a trusted key "
                                 f"(key {archive.key_id}): the events it stands for were "
                                 "deleted without a valid archive")
        seq, head, sha = archive.last_seq, archive.head_hash, archive.sha256
    if (mark or 0) != seq:
        return ArchivedStart(seq, head, seq + 1,
                             f"the chain is marked archived through event {mark or 0}, but its "
                             f"signed archives end at {seq} (the mark was moved without an "
                             "archive)")
    return ArchivedStart(seq, head)
