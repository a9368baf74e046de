"""APDU-level simulator of the JPKI application, for tests and the demo.

Implements what :class:`~kiban.identity.cards.pcsc.PcscCard` sends (SELECT, READ BINARY,
VERIFY, COMPUTE DIGITAL SIGNATURE) with the card's status words and PIN counters, so the
PC/SC backend is tested down to the bytes without hardware. Behaviour modelled on the public
descriptions of the card; where the real card differs, the real card wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from kiban.identity.cards.base import (
    AUTH_PIN_MAX_TRIES,
    SIGN_PIN_MAX_TRIES,
    normalise_auth_pin,
    normalise_sign_pin,
)
from kiban.identity.cards.pcsc import (
    EF_AUTH_CA,
    EF_AUTH_CERT,
    EF_AUTH_KEY,
    EF_AUTH_PIN,
    EF_SIGN_CA,
    EF_SIGN_CERT,
    EF_SIGN_KEY,
    EF_SIGN_PIN,
    JPKI_AID,
)

__all__ = ["JPKICardSimulator"]

_DIGEST_INFO_SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")

SW_OK = (0x90, 0x00)
SW_WRONG_LENGTH = (0x67, 0x00)
SW_SECURITY = (0x69, 0x82)
SW_BLOCKED = (0x69, 0x83)
SW_NOT_ALLOWED = (0x69, 0x86)
SW_WRONG_DATA = (0x6A, 0x80)
SW_NOT_FOUND = (0x6A, 0x82)
SW_WRONG_P1P2 = (0x6B, 0x00)
SW_INS = (0x6D, 0x00)
SW_CLA = (0x6E, 0x00)

Response = tuple[list[int], int, int]


@dataclass
class _Pin:
    value: bytes
    maximum: int
    remaining: int = field(init=False)

    def __post_init__(self) -> None:
        self.remaining = self.maximum


class JPKICardSimulator:
    """A JPKI card answering APDUs; pass it to ``PcscCard(connection)``."""

    def __init__(
        self,
        *,
        sig_key: rsa.RSAPrivateKey,
        sig_cert: x509.Certificate,
        auth_key: rsa.RSAPrivateKey,
        auth_cert: x509.Certificate,
        ca_cert: x509.Certificate,
        auth_pin: str,
        sign_pin: str,
    ) -> None:
        der = serialization.Encoding.DER
        self._files: dict[int, bytes] = {
            EF_SIGN_CERT: sig_cert.public_bytes(der),
            EF_SIGN_CA: ca_cert.public_bytes(der),
            EF_AUTH_CERT: auth_cert.public_bytes(der),
            EF_AUTH_CA: ca_cert.public_bytes(der),
        }
        self._keys = {EF_SIGN_KEY: sig_key, EF_AUTH_KEY: auth_key}
        self._pins = {
            EF_AUTH_PIN: _Pin(normalise_auth_pin(auth_pin).encode(), AUTH_PIN_MAX_TRIES),
            EF_SIGN_PIN: _Pin(normalise_sign_pin(sign_pin).encode(), SIGN_PIN_MAX_TRIES),
        }
        # Which PIN guards what: reading the signature certificate needs the signing PIN.
        self._guards = {
            EF_SIGN_CERT: EF_SIGN_PIN,
            EF_SIGN_KEY: EF_SIGN_PIN,
            EF_AUTH_KEY: EF_AUTH_PIN,
        }
        self.ap_selected = False
        self.current: int | None = None
        self.verified: set[int] = set()
        self.log: list[list[int]] = []

    def pin_remaining(self, pin_file: int) -> int:
        return self._pins[pin_file].remaining

    def reset(self) -> None:
        """Card removed and reinserted: security state is lost, counters are not."""
        self.ap_selected = False
        self.current = None
        self.verified.clear()

    # ----------------------------------------------------------------- transmit

    def transmit(self, command: list[int]) -> Response:
        self.log.append(list(command))
        if len(command) < 4 or any(not 0 <= b <= 0xFF for b in command):
            return self._sw(SW_WRONG_LENGTH)
        cla, ins, p1, p2 = command[:4]
        body = command[4:]
        data: list[int] = []
        le: int | None = None
        if len(body) == 1:
            le = body[0] or 0x100
        elif body:
            lc = body[0]
            if len(body) < 1 + lc or len(body) > 2 + lc:
                return self._sw(SW_WRONG_LENGTH)
            data = body[1 : 1 + lc]
            if len(body) == 2 + lc:
                le = body[-1] or 0x100
        if cla == 0x00 and ins == 0xA4:
            return self._select(p1, p2, bytes(data))
        if cla == 0x00 and ins == 0xB0:
            return self._read_binary(p1, p2, le)
        if cla == 0x00 and ins == 0x20:
            return self._verify(p1, p2, bytes(data))
        if cla == 0x80 and ins == 0x2A:
            return self._sign(p1, p2, bytes(data))
        if cla not in (0x00, 0x80):
            return self._sw(SW_CLA)
        return self._sw(SW_INS)

    @staticmethod
    def _sw(sw: tuple[int, int], data: bytes = b"") -> Response:
        return list(data), sw[0], sw[1]

    def _select(self, p1: int, p2: int, data: bytes) -> Response:
        if p1 == 0x04:
            if data != JPKI_AID:
                return self._sw(SW_NOT_FOUND)
            self.ap_selected = True
            self.current = None
            self.verified.clear()
            return self._sw(SW_OK)
        if p1 == 0x02 and len(data) == 2:
            file_id = int.from_bytes(data, "big")
            known = file_id in self._files or file_id in self._keys or file_id in self._pins
            if not self.ap_selected or not known:
                return self._sw(SW_NOT_FOUND)
            self.current = file_id
            return self._sw(SW_OK)
        return self._sw(SW_WRONG_P1P2)

    def _read_binary(self, p1: int, p2: int, le: int | None) -> Response:
        if self.current not in self._files:
            return self._sw(SW_NOT_ALLOWED)
        guard = self._guards.get(self.current)
        if guard is not None and guard not in self.verified:
            return self._sw(SW_SECURITY)
        content = self._files[self.current]
        offset = ((p1 & 0x7F) << 8) | p2
        if offset >= len(content):
            return self._sw(SW_WRONG_P1P2)
        return self._sw(SW_OK, content[offset : offset + (le or 0x100)])

    def _verify(self, p1: int, p2: int, data: bytes) -> Response:
        pin = self._pins.get(self.current) if self.current is not None else None
        if pin is None or (p1, p2) != (0x00, 0x80):
            return self._sw(SW_NOT_ALLOWED)
        if pin.remaining == 0:
            return self._sw(SW_BLOCKED)
        if not data:  # status query: remaining tries, no try used
            return self._sw((0x63, 0xC0 | pin.remaining))
        assert self.current is not None
        if data == pin.value:
            pin.remaining = pin.maximum
            self.verified.add(self.current)
            return self._sw(SW_OK)
        pin.remaining -= 1
        self.verified.discard(self.current)
        return self._sw((0x63, 0xC0 | pin.remaining))

    def _sign(self, p1: int, p2: int, data: bytes) -> Response:
        if (p1, p2) != (0x00, 0x80):
            return self._sw(SW_WRONG_P1P2)
        key = self._keys.get(self.current) if self.current is not None else None
        if key is None:
            return self._sw(SW_NOT_ALLOWED)
        assert self.current is not None
        if self._guards[self.current] not in self.verified:
            return self._sw(SW_SECURITY)
        if len(data) != len(_DIGEST_INFO_SHA256_PREFIX) + 32 or not data.startswith(
            _DIGEST_INFO_SHA256_PREFIX
        ):
            return self._sw(SW_WRONG_DATA)
        digest = data[len(_DIGEST_INFO_SHA256_PREFIX) :]
        signature = key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        return self._sw(SW_OK, signature)
