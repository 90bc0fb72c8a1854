"""Checkpoints a customer kept, read back for `verify_audit --checkpoints FILE`.

The file is the portal's lockbox-checkpoints-<tenant>.json (or the internal site's
lockbox-checkpoints.json): {"checkpoints": [{"chain", "seq", "hash", "signed_at", "signature":
{"key_id", "value"}, ...}]}. Each document is checked for shape only; its signature is checked
against the trusted keys when its chain is verified.
"""

import json
import re
from typing import Any

_HASH = re.compile(r"^[0-9a-f]{64}$")


class EvidenceFileError(ValueError):
    """A file that is not what it should be: unreadable, not JSON, or the wrong shape."""


def read_checkpoints(path: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as unreadable:
        raise EvidenceFileError(f"cannot read the checkpoints file {path}: {unreadable}") from None
    entries = document.get("checkpoints") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise EvidenceFileError(f"{path} is not a Lockbox checkpoints file (expected "
                                '{"checkpoints": [...]}, as the portal\'s download)')
    for number, entry in enumerate(entries, 1):
        problem = _shape_problem(entry)
        if problem:
            raise EvidenceFileError(f"{path}: checkpoint {number} {problem}")
    return entries


def _shape_problem(entry: object) -> str:
    if not isinstance(entry, dict) or entry.get("type") != "lockbox.checkpoint":
        return "is not a Lockbox checkpoint"
    if not isinstance(entry.get("chain"), str) or not entry["chain"]:
        return "names no chain"
    seq = entry.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return "has no valid seq"
    if not isinstance(entry.get("hash"), str) or not _HASH.match(entry["hash"]):
        return "has no valid hash"
    if not isinstance(entry.get("signed_at"), str):
        return "has no signed_at"
    signature = entry.get("signature")
    if not isinstance(signature, dict) or not all(
            isinstance(signature.get(k), str) for k in ("key_id", "value")):
        return "has no signature"
    return ""
