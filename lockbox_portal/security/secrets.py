"""Secrets Lockbox must be able to read back (an SSO connection's client secret), encrypted at
rest with Fernet (AES-128-CBC with HMAC-SHA256) under a key derived from SECRET_KEY by HKDF.

A database dump alone does not give them away; whoever holds SECRET_KEY as well does. Rotating
SECRET_KEY makes them unreadable: each connection then needs its secret typed in again (the
settings page says so, rather than failing at sign-in with a cryptic error).
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class Unreadable(Exception):
    """Encrypted under another SECRET_KEY, or damaged."""


def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"lockbox: secrets kept for reading back").derive(
        settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode("ascii")


def unseal(sealed: str) -> str:
    try:
        return _fernet().decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, ValueError, UnicodeError):
        raise Unreadable("This secret was saved under another SECRET_KEY, or is damaged; "
                         "type it in again.") from None
