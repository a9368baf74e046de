"""Encryption at rest and keyed lookup hashes for identifiers such as My Number."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet
from django.conf import settings


@lru_cache(maxsize=1)
def _fernet() -> Fernet:
    return Fernet(settings.FIELD_ENCRYPTION_KEY.encode())


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def lookup_hash(value: str) -> str:
    """HMAC-SHA256 of a normalised identifier: lets us find it without decrypting."""
    key = settings.LOOKUP_HASH_KEY.encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def lookup_hashes(values: list[str]) -> list[str]:
    """:func:`lookup_hash` of many values (the key read once, one-shot C HMAC per value)."""
    key = settings.LOOKUP_HASH_KEY.encode()
    digest = hmac.digest
    return [digest(key, v.encode(), "sha256").hex() for v in values]


def mask_mynumber(value: str | None) -> str:
    if not value:
        return ""
    return "********" + value[-4:]
