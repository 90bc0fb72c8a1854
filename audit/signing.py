"""Ed25519 signatures for checkpoints and receipts, and the published public keys.

The private key comes from LOCKBOX_SIGNING_KEY (base64 of 32 bytes) or LOCKBOX_SIGNING_KEY_FILE
(PEM; in development it is made on first use). Its public key is recorded on first use and
never removed, so rotating the key leaves every earlier signature verifiable.
"""

import base64
import hashlib
import json
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit.models import SigningKey
from lockbox_portal import clock


def canonical(body):
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def raw_public(public_key):
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_raw):
    return hashlib.sha256(public_raw).hexdigest()[:16]


@lru_cache(maxsize=4)
def _private_key(inline, path):
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
        key = Ed25519PrivateKey.generate()
        file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        file.chmod(0o600)
    key = serialization.load_pem_private_key(file.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{path} does not hold an Ed25519 private key.")
    return key


def active_key():
    return _private_key(settings.LOCKBOX_SIGNING_KEY, settings.LOCKBOX_SIGNING_KEY_FILE)


def publish_active_key(now=None):
    """Record the active public key (once), retiring the one used before it."""
    public = raw_public(active_key().public_key())
    key_id = key_id_of(public)
    if not SigningKey.objects.filter(key_id=key_id).exists():
        now = now or clock.now()
        SigningKey.objects.filter(retired_at__isnull=True).update(retired_at=now)
        SigningKey.objects.get_or_create(key_id=key_id, defaults={
            "public_key": base64.b64encode(public).decode(), "first_used_at": now})
    return key_id


def sign(body, now=None):
    """Sign a JSON-able body; returns {"alg", "key_id", "value"}."""
    key_id = publish_active_key(now)
    value = active_key().sign(canonical(body))
    return {"alg": "Ed25519", "key_id": key_id, "value": base64.b64encode(value).decode()}


def published_keys():
    return [{"key_id": k.key_id, "alg": "Ed25519", "public_key": k.public_key,
             "first_used_at": k.first_used_at.isoformat(),
             "retired_at": k.retired_at.isoformat() if k.retired_at else None}
            for k in SigningKey.objects.all()]


def verify(body, signature):
    """True when `signature` is a valid signature of `body` by a published key."""
    key = SigningKey.objects.filter(key_id=signature.get("key_id")).first()
    if key is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key.public_key)).verify(
            base64.b64decode(signature["value"]), canonical(body))
    except (InvalidSignature, ValueError, KeyError):
        return False
    return True
