"""Card backends: one small interface for the My Number card (PC/SC) and the demo soft card.

Pure module (no Django). Backends register by name (``register_backend``) so deployments pick
one in configuration, as with the other plugin registries.

PIN rules follow the JPKI application:

* 利用者証明用暗証番号 (authentication PIN): exactly 4 digits, locked after 3 wrong tries.
* 署名用パスワード (signing PIN): 6–16 characters, upper-case A–Z and digits, locked after 5
  wrong tries. Lower-case input is upper-cased before use: the card's alphabet has no
  lower-case letters, so ``abc123`` can only ever mean ``ABC123`` and a user who leaves caps
  lock off should not burn a try. A PIN of the wrong shape raises :class:`PinFormatError`
  without ever reaching the card, so it costs no try either.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from cryptography import x509

__all__ = [
    "AUTH_PIN_MAX_TRIES",
    "SIGN_PIN_MAX_TRIES",
    "CardBackend",
    "CardError",
    "CardLockedError",
    "PinError",
    "PinFormatError",
    "PinRequiredError",
    "available_backends",
    "get_backend",
    "normalise_auth_pin",
    "normalise_sign_pin",
    "register_backend",
]

AUTH_PIN_MAX_TRIES = 3
SIGN_PIN_MAX_TRIES = 5

_AUTH_PIN = re.compile(r"[0-9]{4}")
_SIGN_PIN = re.compile(r"[A-Z0-9]{6,16}")


class CardError(Exception):
    """Base class of card errors; carries a Japanese and an English message."""

    def __init__(self, message_ja: str, message_en: str) -> None:
        self.message_ja = message_ja
        self.message_en = message_en
        super().__init__(message_en)


class PinFormatError(CardError, ValueError):
    """The PIN has the wrong shape; nothing was sent to the card and no try was used."""


class PinError(CardError):
    """Wrong PIN; ``remaining_tries`` tries are left before the card locks."""

    def __init__(self, remaining_tries: int) -> None:
        self.remaining_tries = remaining_tries
        super().__init__(
            f"暗証番号が違います。残り{remaining_tries}回間違えるとロックされます。",
            f"Wrong PIN. The card locks after {remaining_tries} more wrong tries.",
        )


class CardLockedError(CardError):
    """The PIN is locked; only the municipal office can reset it."""

    def __init__(self) -> None:
        super().__init__(
            "暗証番号がロックされています。お住まいの市区町村の窓口で初期化してください。",
            "The PIN is locked. Ask your municipal office to reset it.",
        )


class PinRequiredError(CardError):
    """The operation needs a PIN that was not given (e.g. reading the signature certificate)."""

    def __init__(self) -> None:
        super().__init__(
            "署名用電子証明書の読み取りには署名用パスワードが必要です。",
            "Reading the signature certificate requires the signing PIN.",
        )


def normalise_auth_pin(pin: str) -> str:
    """Check the 4-digit authentication PIN."""
    if not _AUTH_PIN.fullmatch(pin):
        raise PinFormatError(
            "利用者証明用暗証番号は数字4桁です。", "The authentication PIN is 4 digits."
        )
    return pin


def normalise_sign_pin(pin: str) -> str:
    """Check and upper-case the 6–16 character signing PIN."""
    value = pin.upper()
    if not _SIGN_PIN.fullmatch(value):
        raise PinFormatError(
            "署名用パスワードは英大文字と数字の6〜16文字です。",
            "The signing PIN is 6 to 16 upper-case letters and digits.",
        )
    return value


class CardBackend(ABC):
    """A My Number card (or stand-in) holding the two JPKI keys and certificates."""

    name: ClassVar[str] = ""

    @abstractmethod
    def read_auth_certificate(self) -> x509.Certificate:
        """The user-authentication certificate (readable without a PIN)."""

    @abstractmethod
    def read_signature_certificate(self, sign_pin: str) -> x509.Certificate:
        """The signature certificate; the card requires the signing PIN to read it because it
        carries the holder's basic information."""

    @classmethod
    def connect(cls, **options: Any) -> CardBackend:
        """Open the backend from configuration options (``soft``: ``path``; ``pcsc``:
        ``reader``)."""
        raise NotImplementedError(f"{cls.__name__} cannot be opened from options")

    def read_certificates(
        self, sign_pin: str | None = None
    ) -> tuple[x509.Certificate, x509.Certificate]:
        """``(signature certificate, authentication certificate)``.

        ``sign_pin`` is needed because the card guards the signature certificate;
        without it :class:`PinRequiredError` is raised (use :meth:`read_auth_certificate`).
        """
        if sign_pin is None:
            raise PinRequiredError()
        return (self.read_signature_certificate(sign_pin), self.read_auth_certificate())

    @abstractmethod
    def sign_with_signature_key(self, data: bytes, pin: str) -> bytes:
        """RSA PKCS#1 v1.5 / SHA-256 signature of ``data`` with the signature key."""

    @abstractmethod
    def sign_with_auth_key(self, data: bytes, pin: str) -> bytes:
        """RSA PKCS#1 v1.5 / SHA-256 signature of ``data`` with the authentication key."""

    def sign_cms(self, payload: bytes, pin: str, *, signing_time: datetime | None = None) -> bytes:
        """Detached DER CMS signature of ``payload`` made with the signature key.

        Reads the certificate and signs with the same PIN; a wrong PIN fails on the first card
        operation, so it costs one try, not two.
        """
        from kiban.identity.verify import build_detached_cms

        cert = self.read_signature_certificate(pin)
        return build_detached_cms(
            payload,
            cert,
            lambda data: self.sign_with_signature_key(data, pin),
            signing_time=signing_time,
        )


_BACKENDS: dict[str, type[CardBackend]] = {}
_B = TypeVar("_B", bound=type[CardBackend])


def register_backend(name: str) -> Callable[[_B], _B]:
    """Class decorator registering a card backend under ``name``."""

    def decorator(cls: _B) -> _B:
        existing = _BACKENDS.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"card backend {name!r} is already registered")
        cls.name = name
        _BACKENDS[name] = cls
        return cls

    return decorator


def get_backend(name: str) -> type[CardBackend]:
    """The backend class registered as ``name`` (built-ins: ``soft``, ``pcsc``)."""
    import kiban.identity.cards  # noqa: F401  (registers the built-in backends)

    try:
        return _BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(_BACKENDS))
        raise LookupError(f"unknown card backend {name!r}; known: {known}") from None


def available_backends() -> list[str]:
    """Names of the registered backends."""
    import kiban.identity.cards  # noqa: F401

    return sorted(_BACKENDS)
