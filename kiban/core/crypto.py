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


def mask_mynumber(value: str | None) -> str:
    if not value:
        return ""
    return "********" + value[-4:]
