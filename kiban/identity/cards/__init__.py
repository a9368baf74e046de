"""Card backends for JPKI signing and login; importing registers ``soft`` and ``pcsc``."""

from kiban.identity.cards.base import (
    CardBackend,
    CardError,
    CardLockedError,
    PinError,
    PinFormatError,
    PinRequiredError,
    available_backends,
    get_backend,
    register_backend,
)
from kiban.identity.cards.pcsc import PcscCard
from kiban.identity.cards.soft import SoftCard

__all__ = [
    "CardBackend",
    "CardError",
    "CardLockedError",
    "PcscCard",
    "PinError",
    "PinFormatError",
    "PinRequiredError",
    "SoftCard",
    "available_backends",
    "get_backend",
    "register_backend",
]
