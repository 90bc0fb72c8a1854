"""Ed25519 signatures for checkpoints and receipts, and the public keys they are checked with.

The private key comes from LOCKBOX_SIGNING_KEY (base64 of 32 bytes) or LOCKBOX_SIGNING_KEY_FILE
(PEM; in development it is made on first use). Signatures are checked only against keys pinned
in configuration (trusted_keys): the configured key's own public half, LOCKBOX_RETIRED_PUBLIC_KEYS
and LOCKBOX_TRUSTED_KEYS_FILE. audit_signingkey records when each key was first used and
retired, for the published keys file; it is never a source of trust.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit import keyring
from audit.encoding import canonical_bytes
from audit.models import SigningKey
from lockbox_portal import clock


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@lru_cache(maxsize=4)
def _private_key(inline: str, path: str) -> Ed25519PrivateKey:
    if inline:
        try:
            seed = base64.b64decode(inline, validate=True)
            return Ed25519PrivateKey.from_private_bytes(seed)
        except ValueError:
            raise ImproperlyConfigured("Environment variable LOCKBOX_SIGNING_KEY: must be "
                                       "base64 of a 32-byte Ed25519 private key") from None
    if not path:
        raise ImproperlyConfigured("Set LOCKBOX_SIGNING_KEY or LOCKBOX_SIGNING_KEY_FILE.")
    file = Path(path)
    if not file.exists():
        if not settings.DEBUG:
            raise ImproperlyConfigured(f"LOCKBOX_SIGNING_KEY_FILE {path} does not exist.")
        generated = Ed25519PrivateKey.generate()
        file.write_bytes(generated.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        file.chmod(0o600)
    key = serialization.load_pem_private_key(file.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{path} does not hold an Ed25519 private key.")
    return key


def active_key() -> Ed25519PrivateKey:
    return _private_key(settings.LOCKBOX_SIGNING_KEY, settings.LOCKBOX_SIGNING_KEY_FILE)


def publish_active_key(now: datetime | None = None) -> str:
    """Record the active public key (once), retiring the one used before it."""
    public = raw_public(active_key().public_key())
    key_id = keyring.key_id_of(public)
    if not SigningKey.objects.filter(key_id=key_id).exists():
        now = now or clock.now()
        SigningKey.objects.filter(retired_at__isnull=True).update(retired_at=now)
        SigningKey.objects.get_or_create(key_id=key_id, defaults={
            "public_key": base64.b64encode(public).decode(), "first_used_at": now})
    return key_id


def sign(body: Any, now: datetime | None = None, *,
         key_id: str | None = None) -> dict[str, str]:
    """Sign a JSON-able body; returns {"alg", "key_id", "value"}. `key_id`: the active key's,
    when the caller has published it already (a round of many signatures)."""
    key_id = key_id or publish_active_key(now)
    value = active_key().sign(canonical_bytes(body))
    return {"alg": "Ed25519", "key_id": key_id, "value": base64.b64encode(value).decode()}


def trusted_keys() -> dict[str, keyring.PinnedKey]:
    """The keys verification trusts, from configuration only: the configured key (current),
    and the retired ones from LOCKBOX_RETIRED_PUBLIC_KEYS and LOCKBOX_TRUSTED_KEYS_FILE.

    Rotating is a configuration change: keep the old public key pinned (add it to
    LOCKBOX_RETIRED_PUBLIC_KEYS, or point LOCKBOX_TRUSTED_KEYS_FILE at a lockbox-keys.json
    saved before the change) and set the new private key."""
    keys = {}
    try:
        if settings.LOCKBOX_TRUSTED_KEYS_FILE:
            found = keyring.read_file(settings.LOCKBOX_TRUSTED_KEYS_FILE,
                                      where="LOCKBOX_TRUSTED_KEYS_FILE")
            keys.update({i: keyring.PinnedKey(i, k.public_key, False) for i, k in found.items()})
        for value in settings.LOCKBOX_RETIRED_PUBLIC_KEYS:
            key = keyring.pinned(value, current=False, where="LOCKBOX_RETIRED_PUBLIC_KEYS")
            keys[key.key_id] = key
    except keyring.KeyringError as problem:
        raise ImproperlyConfigured(f"Environment variable {problem}") from None
    public = raw_public(active_key().public_key())
    current = keyring.PinnedKey(keyring.key_id_of(public), base64.b64encode(public).decode(), True)
    keys[current.key_id] = current
    return keys


def published_keys() -> list[dict[str, Any]]:
    """The pinned keys, for lockbox-keys.json, with when the database saw each first used and
    retired. A key that is only in the database is not published: nothing trusts it."""
    seen = {k.key_id: k for k in SigningKey.objects.all()}
    rows = []
    for key in sorted(trusted_keys().values(), key=lambda k: (k.current, k.key_id)):
        row = seen.get(key.key_id)
        rows.append({"key_id": key.key_id, "alg": "Ed25519", "public_key": key.public_key,
                     "status": "current" if key.current else "retired",
                     "first_used_at": row.first_used_at.isoformat() if row else None,
                     "retired_at": row.retired_at.isoformat() if row and row.retired_at
                     else None})
    return rows


def verify(body: Any, signature: Mapping[str, Any],
           keys: Mapping[str, keyring.PinnedKey] | None = None) -> bool:
    """True when `signature` is a valid signature of `body` by a pinned key (`keys`, or the
    configured ones)."""
    pinned = trusted_keys() if keys is None else keys
    key = pinned.get(signature.get("key_id", ""))
    if key is None:
        return False
    try:
        key.verifier().verify(base64.b64decode(signature["value"]), canonical_bytes(body))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def key_table_problems(keys: Mapping[str, keyring.PinnedKey]) -> list[str]:
    """How audit_signingkey disagrees with the pinned keys: a key nobody pinned (inserted), a
    public key that differs from the pinned one (replaced), the current key marked retired."""
    problems = []
    for row in SigningKey.objects.order_by("first_used_at", "key_id"):
        key = keys.get(row.key_id)
        if key is None:
            problems.append(f"key {row.key_id} in audit_signingkey is not a pinned key "
                            "(it was inserted; nothing it signed is trusted)")
        elif row.public_key != key.public_key:
            problems.append(f"key {row.key_id} in audit_signingkey has a public key that differs "
                            "from the pinned one (it was replaced)")
        elif key.current and row.retired_at is not None:
            problems.append(f"the current key {row.key_id} is marked retired in "
                            "audit_signingkey")
    return problems
