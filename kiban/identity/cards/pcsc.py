"""PC/SC backend speaking the JPKI application's APDUs (EXPERIMENTAL).

Not yet tried against a physical card in this project. The command set follows the public
descriptions of the JPKI AP (OpenSC's ``card-jpki.c`` and similar open-source readers):

=====================  ==========================================================
SELECT JPKI AP          ``00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01``
SELECT EF               ``00 A4 02 0C 02 <file id>``
READ BINARY             ``00 B0 <offset hi> <offset lo> <Le>``
VERIFY (PIN)            ``00 20 00 80 <Lc> <PIN as ASCII>``; no data: ask remaining tries
COMPUTE DIGITAL SIG.    ``80 2A 00 80 <Lc> <DigestInfo> 00``
=====================  ==========================================================

File ids: signature certificate 0001 (needs the signing PIN to read), its CA 0002,
authentication certificate 000A, its CA 000B, authentication key 0017 / PIN 0018, signature key
001A / PIN 001B. Status words: 9000 success, 63Cx wrong PIN with x tries left, 6983/6984 PIN
locked, 6982 security status not satisfied. The card applies the PKCS#1 v1.5 padding itself, so
the host sends the SHA-256 DigestInfo of the data.

The connection is injected (anything with pyscard's ``transmit(apdu) -> (data, sw1, sw2)``), so
tests drive this class through :mod:`kiban.identity.cards.simulator`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from cryptography import x509

from kiban.identity.cards.base import (
    CardBackend,
    CardError,
    CardLockedError,
    PinError,
    normalise_auth_pin,
    normalise_sign_pin,
    register_backend,
)

__all__ = [
    "EF_AUTH_CA",
    "EF_AUTH_CERT",
    "EF_AUTH_KEY",
    "EF_AUTH_PIN",
    "EF_SIGN_CA",
    "EF_SIGN_CERT",
    "EF_SIGN_KEY",
    "EF_SIGN_PIN",
    "JPKI_AID",
    "ApduError",
    "CardConnection",
    "PcscCard",
]

JPKI_AID = bytes.fromhex("D392F000260100000001")
EF_SIGN_CERT = 0x0001
EF_SIGN_CA = 0x0002
EF_AUTH_CERT = 0x000A
EF_AUTH_CA = 0x000B
EF_AUTH_KEY = 0x0017
EF_AUTH_PIN = 0x0018
EF_SIGN_KEY = 0x001A
EF_SIGN_PIN = 0x001B

SW_OK = 0x9000
SW_SECURITY_NOT_SATISFIED = 0x6982
SW_PIN_BLOCKED = 0x6983
SW_REFERENCE_DATA_UNUSABLE = 0x6984

_READ_CHUNK = 0xFF
_DIGEST_INFO_SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


class CardConnection(Protocol):
    """The part of pyscard's ``CardConnection`` we use."""

    def transmit(self, command: list[int]) -> tuple[list[int], int, int]: ...


class ApduError(CardError):
    """The card answered with an unexpected status word."""

    def __init__(self, command: str, sw: int) -> None:
        self.sw = sw
        super().__init__(
            f"カードの処理に失敗しました（{command}: {sw:04X}）。",
            f"The card refused {command} (status {sw:04X}).",
        )


@register_backend("pcsc")
class PcscCard(CardBackend):
    """The My Number card over PC/SC (experimental; see module docstring)."""

    def __init__(self, connection: CardConnection) -> None:
        self.connection = connection

    @classmethod
    def from_reader(cls, reader_name: str | None = None) -> PcscCard:
        """Connect to the card in ``reader_name`` (default: the first reader). Needs pyscard
        (``pip install kiban[pcsc]``)."""
        try:
            from smartcard.System import readers
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise CardError(
                "ICカードリーダーを使うには pyscard が必要です。",
                "pyscard is required for card readers (install kiban[pcsc]).",
            ) from exc
        available = readers()
        chosen = [r for r in available if reader_name is None or str(r) == reader_name]
        if not chosen:
            raise CardError(
                "ICカードリーダーが見つかりません。", "No matching smart-card reader found."
            )
        connection = chosen[0].createConnection()
        connection.connect()
        return cls(connection)

    @classmethod
    def connect(cls, **options: Any) -> PcscCard:
        return cls.from_reader(options.get("reader"))

    # ----------------------------------------------------------------- APDU layer

    def _transmit(self, command: list[int]) -> tuple[bytes, int]:
        data, sw1, sw2 = self.connection.transmit(command)
        out = bytes(data)
        while sw1 == 0x61:  # more data waiting: GET RESPONSE
            more, sw1, sw2 = self.connection.transmit([0x00, 0xC0, 0x00, 0x00, sw2])
            out += bytes(more)
        if sw1 == 0x6C:  # wrong Le: repeat with the length the card asked for
            data, sw1, sw2 = self.connection.transmit([*command[:-1], sw2])
            out = bytes(data)
        return out, (sw1 << 8) | sw2

    def _expect_ok(self, what: str, command: list[int]) -> bytes:
        data, sw = self._transmit(command)
        if sw != SW_OK:
            raise ApduError(what, sw)
        return data

    def select_ap(self) -> None:
        self._expect_ok("SELECT AP", [0x00, 0xA4, 0x04, 0x0C, len(JPKI_AID), *JPKI_AID])

    def select_ef(self, file_id: int) -> None:
        self._expect_ok("SELECT EF", [0x00, 0xA4, 0x02, 0x0C, 0x02, file_id >> 8, file_id & 0xFF])

    def read_binary(self, offset: int, length: int) -> bytes:
        if not 0 <= offset <= 0x7FFF or not 0 < length <= 0x100:
            raise ValueError("READ BINARY offset or length out of range")
        command = [0x00, 0xB0, offset >> 8, offset & 0xFF, length & 0xFF]
        return self._expect_ok("READ BINARY", command)

    def _read_der_file(self, file_id: int) -> bytes:
        """Read a DER object whose length is given by its own header (certificates)."""
        self.select_ef(file_id)
        head = self.read_binary(0, 4)
        if len(head) < 2 or head[0] != 0x30:
            raise ApduError("READ BINARY (not DER)", SW_OK)
        if head[1] < 0x80:
            total = 2 + head[1]
        else:
            count = head[1] & 0x7F
            if count == 0 or count > 2 or len(head) < 2 + count:
                raise ApduError("READ BINARY (bad DER length)", SW_OK)
            total = 2 + count + int.from_bytes(head[2 : 2 + count], "big")
        out = bytearray(head[:total])
        while len(out) < total:
            out += self.read_binary(len(out), min(_READ_CHUNK, total - len(out)))
        return bytes(out[:total])

    def verify_pin(self, pin_file: int, pin: str) -> None:
        """VERIFY; raises :class:`PinError` or :class:`CardLockedError`."""
        self.select_ef(pin_file)
        raw = pin.encode("ascii")
        _, sw = self._transmit([0x00, 0x20, 0x00, 0x80, len(raw), *raw])
        self._raise_for_pin(sw)

    def remaining_tries(self, pin_file: int) -> int:
        """Remaining tries of a PIN without using one (VERIFY with no data)."""
        self.select_ap()
        self.select_ef(pin_file)
        _, sw = self._transmit([0x00, 0x20, 0x00, 0x80])
        if sw in (SW_PIN_BLOCKED, SW_REFERENCE_DATA_UNUSABLE):
            return 0
        if sw >> 4 == 0x63C:
            return sw & 0x0F
        raise ApduError("VERIFY (status)", sw)

    @staticmethod
    def _raise_for_pin(sw: int) -> None:
        if sw == SW_OK:
            return
        if sw in (SW_PIN_BLOCKED, SW_REFERENCE_DATA_UNUSABLE):
            raise CardLockedError()
        if sw >> 4 == 0x63C:
            remaining = sw & 0x0F
            if remaining == 0:
                raise CardLockedError()
            raise PinError(remaining)
        raise ApduError("VERIFY", sw)

    def compute_signature(self, key_file: int, digest_info: bytes) -> bytes:
        self.select_ef(key_file)
        command = [0x80, 0x2A, 0x00, 0x80, len(digest_info), *digest_info, 0x00]
        return self._expect_ok("COMPUTE DIGITAL SIGNATURE", command)

    # ----------------------------------------------------------------- CardBackend

    def read_auth_certificate(self) -> x509.Certificate:
        self.select_ap()
        return x509.load_der_x509_certificate(self._read_der_file(EF_AUTH_CERT))

    def read_signature_certificate(self, sign_pin: str) -> x509.Certificate:
        pin = normalise_sign_pin(sign_pin)
        self.select_ap()
        self.verify_pin(EF_SIGN_PIN, pin)
        return x509.load_der_x509_certificate(self._read_der_file(EF_SIGN_CERT))

    def read_ca_certificate(self, *, for_signature: bool) -> x509.Certificate:
        """The issuing CA certificate stored on the card (not a trust anchor by itself)."""
        self.select_ap()
        file_id = EF_SIGN_CA if for_signature else EF_AUTH_CA
        return x509.load_der_x509_certificate(self._read_der_file(file_id))

    def _sign(self, pin_file: int, key_file: int, pin: str, data: bytes) -> bytes:
        self.select_ap()
        self.verify_pin(pin_file, pin)
        return self.compute_signature(
            key_file, _DIGEST_INFO_SHA256_PREFIX + hashlib.sha256(data).digest()
        )

    def sign_with_signature_key(self, data: bytes, pin: str) -> bytes:
        return self._sign(EF_SIGN_PIN, EF_SIGN_KEY, normalise_sign_pin(pin), data)

    def sign_with_auth_key(self, data: bytes, pin: str) -> bytes:
        return self._sign(EF_AUTH_PIN, EF_AUTH_KEY, normalise_auth_pin(pin), data)
