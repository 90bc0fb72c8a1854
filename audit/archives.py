"""Retention: events older than their chain's retention leave the database as signed archives.

An archive is the chain's JSON Lines export of a stretch of events (the very format the portal
exports, so tools/lockbox_verify.py checks it) and a manifest signed like a checkpoint
(audit.manifests). The database keeps the archive's row and the chain's archive mark; only
events at or below the mark may be deleted (PostgreSQL triggers, migration 0013).

`archive_due` is the periodic job (Celery beat `audit.archive`, or `manage.py archive_audit`).
For each chain whose owner's retention applies and which is not under a legal hold:

1. Finish deleting the events of archives recorded before (a run that stopped in the middle).
2. Find the events older than the cut-off above the mark, at most `batch` of them.
3. Write them to a temporary file, check every line as the offline verifier would (hash, link,
   no gap), fsync, sign the manifest, and move both into place. A file left by a run that
   stopped before step 4 is reused when its manifest is valid, else rewritten.
4. In one short transaction: insert the archive row, move the mark, record `audit.archived`.
   Appends wait on nothing but that transaction's moment on the chain head.
5. Delete the archived events in batches of `delete_batch`, each its own transaction, then
   note the archive deleted and record `audit.archive_deleted` (once: a conditional update).

Every step can stop and be run again: nothing is duplicated, nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils.module_loading import import_string

from audit.encoding import GENESIS_HASH, compute_hash, exported_fields, format_time
from audit.export import jsonl_lines
from audit.manifests import as_document, manifest_body
from audit.models import Archive, ArchiveMark, AuditEvent
from audit.services import record_event
from audit.signing import publish_active_key, sign, verify
from lockbox_portal import clock

# The audit's own actions (approvals.actions.Action names them too, with their labels).
ARCHIVED = "audit.archived"
ARCHIVE_DELETED = "audit.archive_deleted"
DELETE_BATCH = 5000


class ArchiveError(RuntimeError):
    """The events to archive are not a sound stretch of the chain: nothing is archived."""


@dataclass(frozen=True)
class Retention:
    """How long a chain keeps its events in the database, and whether a legal hold stops that."""

    chain: str
    keep: timedelta
    legal_hold: bool = False


@dataclass
class Outcome:
    archives: int = 0
    deleted: int = 0


def retention_policies() -> list[Retention]:
    """Asked of the app that owns the chains (LOCKBOX_AUDIT_RETENTION), as audit.owners does."""
    if not settings.LOCKBOX_AUDIT_RETENTION:
        return []
    policies: Callable[[], Iterable[Retention]] = import_string(settings.LOCKBOX_AUDIT_RETENTION)
    return list(policies())


def archive_root() -> Path:
    return Path(settings.LOCKBOX_ARCHIVE_DIR)


def file_names(chain: str, first_seq: int, last_seq: int) -> tuple[str, str]:
    """The archive's JSON Lines file and its manifest, relative to LOCKBOX_ARCHIVE_DIR."""
    stem = f"{chain.replace(':', '/')}/{first_seq:012d}-{last_seq:012d}"
    return f"{stem}.jsonl", f"{stem}.manifest.json"


def archive_due(*, now: datetime | None = None, batch: int | None = None,
                delete_batch: int = DELETE_BATCH) -> Outcome:
    """The periodic job: at most one new archive per chain per run (see the module's steps)."""
    now = now or clock.now()
    batch = batch or settings.LOCKBOX_ARCHIVE_BATCH
    outcome = Outcome()
    for policy in retention_policies():
        if policy.legal_hold:
            continue
        outcome.deleted += finish_deletions(policy.chain, now=now, delete_batch=delete_batch)
        if archive_chain(policy.chain, cutoff=now - policy.keep, now=now, batch=batch):
            outcome.archives += 1
            outcome.deleted += finish_deletions(policy.chain, now=now,
                                                delete_batch=delete_batch)
    return outcome


def archive_chain(chain: str, *, cutoff: datetime, now: datetime, batch: int) -> Archive | None:
    """Steps 2 to 4 for one chain: the new archive, or None when nothing is due."""
    mark = ArchiveMark.objects.filter(chain=chain).values_list("through_seq", flat=True).first()
    mark = mark or 0
    # An archive stops before the first event younger than the cut-off, even if older ones
    # follow it (times are taken before the chain's lock, so they may be a little out of order).
    found = AuditEvent.objects.filter(chain=chain, seq__gt=mark, seq__lte=mark + batch).aggregate(
        last=Max("seq"), young=Min("seq", filter=Q(occurred_at__gte=cutoff)))
    last_seq = found["last"] if found["young"] is None else found["young"] - 1
    if last_seq is None or last_seq <= mark:
        return None
    before = Archive.objects.filter(chain=chain, last_seq=mark).first()
    prev_hash, prev_sha = (before.head_hash, before.sha256) if before else (GENESIS_HASH, "")
    document = _write_files(chain, mark + 1, last_seq, prev_hash, prev_sha, now)
    return _record(document, now)


def _write_files(chain: str, first_seq: int, last_seq: int, prev_hash: str, prev_sha: str,
                 now: datetime) -> dict[str, Any]:
    """Step 3: the archive's two files in place, returning the signed manifest."""
    jsonl_name, manifest_name = file_names(chain, first_seq, last_seq)
    root = archive_root()
    data_path, manifest_path = root / jsonl_name, root / manifest_name
    expected = {"chain": chain, "first_seq": first_seq, "last_seq": last_seq,
                "prev_hash": prev_hash, "prev_sha256": prev_sha, "file": jsonl_name}
    reused = _reusable(data_path, manifest_path, expected)
    if reused is not None:
        return reused
    data_path.parent.mkdir(parents=True, exist_ok=True)
    events = AuditEvent.objects.filter(chain=chain, seq__gte=first_seq, seq__lte=last_seq)
    data_tmp = _write_atomic_tmp(data_path, jsonl_lines(events))
    try:
        sha256, count, head_hash = check_file(data_tmp, chain=chain, first_seq=first_seq,
                                              last_seq=last_seq, prev_hash=prev_hash)
        key_id = publish_active_key(now)
        body = manifest_body(chain=chain, first_seq=first_seq, last_seq=last_seq, count=count,
                             prev_hash=prev_hash, head_hash=head_hash, sha256=sha256,
                             prev_sha256=prev_sha, file_name=jsonl_name,
                             created_at=format_time(now))
        document = {**body, "signature": sign(body, now, key_id=key_id)}
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        manifest_tmp = _write_atomic_tmp(manifest_path, [text.encode()])
        # The data first: a manifest in place always names a file in place.
        os.replace(data_tmp, data_path)
        os.replace(manifest_tmp, manifest_path)
        _fsync_dir(data_path.parent)
    finally:
        if data_tmp.exists():
            data_tmp.unlink()
    return document


def _reusable(data_path: Path, manifest_path: Path,
              expected: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of files a stopped run left in place, when they are exactly what this run
    would write (validly signed, naming this stretch, the file matching its hash)."""
    if not (data_path.exists() and manifest_path.exists()):
        return None
    try:
        document = json.loads(manifest_path.read_text(encoding="utf-8"))
        body = {k: v for k, v in document.items() if k != "signature"}
    except (OSError, ValueError, AttributeError):
        return None
    if any(body.get(k) != v for k, v in expected.items()) \
            or not verify(body, document.get("signature") or {}) \
            or _sha256(data_path) != body.get("sha256"):
        return None
    return dict(document)


def check_file(path: Path, *, chain: str, first_seq: int, last_seq: int,
               prev_hash: str) -> tuple[str, int, str]:
    """Check an archive file line by line as the offline verifier does; returns its SHA-256,
    the number of events and the last one's hash. Raises ArchiveError on any fault."""
    digest, seq, head = hashlib.sha256(), first_seq - 1, prev_hash
    with path.open("rb") as handle:
        for line in handle:
            digest.update(line)
            record = json.loads(line)
            if record["chain"] != chain or record["seq"] != seq + 1:
                raise ArchiveError(f"{chain}: event {seq + 1} is missing from the archive "
                                   f"(found {record['chain']} #{record['seq']})")
            if record["prev_hash"] != head or compute_hash(exported_fields(record)) \
                    != record["hash"]:
                raise ArchiveError(f"{chain}: event {record['seq']} does not verify; the chain "
                                   "is broken there and is not archived")
            seq, head = record["seq"], record["hash"]
    if seq != last_seq:
        raise ArchiveError(f"{chain}: the archive ends at {seq}, not {last_seq}")
    return digest.hexdigest(), last_seq - first_seq + 1, head


def _record(document: dict[str, Any], now: datetime) -> Archive | None:
    """Step 4, in one transaction; None when another run recorded this stretch first."""
    chain, first_seq, last_seq = document["chain"], document["first_seq"], document["last_seq"]
    with transaction.atomic():
        ArchiveMark.objects.bulk_create([ArchiveMark(chain=chain, through_seq=0)],
                                        ignore_conflicts=True)
        mark = ArchiveMark.objects.select_for_update().get(chain=chain)
        if mark.through_seq != first_seq - 1:
            return None
        archive = Archive.objects.create(
            chain=chain, first_seq=first_seq, last_seq=last_seq, count=document["count"],
            prev_hash=document["prev_hash"], head_hash=document["head_hash"],
            sha256=document["sha256"], prev_sha256=document["prev_sha256"],
            file_name=document["file"], created_at=datetime.fromisoformat(
                document["created_at"]), key_id=document["signature"]["key_id"],
            signature=document["signature"]["value"])
        ArchiveMark.objects.filter(chain=chain, through_seq=first_seq - 1).update(
            through_seq=last_seq)
        record_event(chain=chain, action=ARCHIVED, now=now, data={
            "first_seq": first_seq, "last_seq": last_seq, "count": archive.count,
            "head_hash": archive.head_hash, "sha256": archive.sha256,
            "file": archive.file_name})
    return archive


def finish_deletions(chain: str, *, now: datetime, delete_batch: int = DELETE_BATCH) -> int:
    """Step 5 for every archive of the chain whose deletion is not finished; returns how many
    events were deleted."""
    deleted = 0
    for archive in Archive.objects.filter(chain=chain, deleted_at__isnull=True):
        while True:
            gone = delete_batch_of(archive, delete_batch)
            deleted += gone
            if gone < delete_batch:
                break
        with transaction.atomic():
            claimed = Archive.objects.filter(pk=archive.pk, deleted_at__isnull=True).update(
                deleted_at=now)
            if claimed:
                record_event(chain=chain, action=ARCHIVE_DELETED, now=now, data={
                    "first_seq": archive.first_seq, "last_seq": archive.last_seq,
                    "count": archive.count, "file": archive.file_name})
    return deleted


def delete_batch_of(archive: Archive, size: int) -> int:
    """Delete up to `size` of the archive's events, oldest first, in one transaction. The only
    place events are deleted; the database refuses it above the chain's archive mark."""
    table = AuditEvent._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "  # noqa: S608 (fixed SQL)
            "WHERE chain = %s AND seq >= %s AND seq <= %s ORDER BY seq LIMIT %s)",
            [archive.chain, archive.first_seq, archive.last_seq, size])
        return int(cursor.rowcount)


def manifest_text(archive: Archive) -> str:
    """The manifest as downloaded (the same document the archiver wrote beside the file)."""
    return json.dumps(as_document(archive), indent=2, sort_keys=True) + "\n"


def archive_file(archive: Archive) -> Path:
    """Where the archive's file is: named from its chain and range, never from the row's
    file_name (which the manifest signs, but which a forged row could point elsewhere)."""
    return archive_root() / file_names(archive.chain, archive.first_seq, archive.last_seq)[0]


def _write_atomic_tmp(final: Path, chunks: Iterable[str | bytes]) -> Path:
    """Write `chunks` to a new temporary file beside `final` and fsync it; returns its path."""
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        for chunk in chunks:
            out.write(chunk.encode() if isinstance(chunk, str) else chunk)
        out.flush()
        os.fsync(out.fileno())
    return Path(name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
