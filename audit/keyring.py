"""Public keys read from outside the database: checked, named by their key id.

Verification trusts only keys pinned in configuration (audit.signing.trusted_keys) or in a keys
file a customer kept, never audit_signingkey: an insider who can write the database could add
a key of their own there and re-sign a rewritten chain. This module only parses; it reads no
setting, so `verify_audit --keys FILE` and the configuration share one reader.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class KeyringError(ValueError):
    """A key or a keys file that cannot be trusted as written."""


@dataclass(frozen=True)
class PinnedKey:
    key_id: str
    public_key: str  # base64 of the raw 32 bytes
    current: bool  # the key that signs now; every other pinned key is retired

    def verifier(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def pinned(public_b64: str, *, current: bool, where: str) -> PinnedKey:
    """One base64 public key, refused unless it is 32 bytes that make an Ed25519 key."""
    try:
        raw = base64.b64decode(public_b64, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise KeyringError(f"{where}: {public_b64!r} is not base64 of a 32-byte Ed25519 "
                           "public key") from None
    return PinnedKey(key_id_of(raw), base64.b64encode(raw).decode(), current)


def from_document(document: Any, *, where: str) -> dict[str, PinnedKey]:
    """The keys of a lockbox-keys.json document ({"keys": [{"key_id", "public_key", …}]}).

    A key whose id is not the one its public key gives is refused: the file was edited. The
    current key is the one not marked retired ("status", or else "retired_at")."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise KeyringError(f"{where} holds no keys (expected {{\"keys\": [...]}}, as the "
                           "portal's lockbox-keys.json)")
    keys = {}
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("public_key"), str):
            raise KeyringError(f"{where}: key {number} has no public_key")
        retired = entry.get("status", "retired" if entry.get("retired_at") else "current")
        key = pinned(entry["public_key"], current=retired == "current",
                     where=f"{where}, key {number}")
        if entry.get("key_id") != key.key_id:
            raise KeyringError(f"{where}: key {number} is named {entry.get('key_id')!r} but "
                               f"its public key is {key.key_id}")
        keys[key.key_id] = key
    return keys


def read_file(path: str, *, where: str) -> dict[str, PinnedKey]:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as problem:
        raise KeyringError(f"{where}: cannot read {path}: {problem}") from None
    return from_document(document, where=f"{where} {path}")
