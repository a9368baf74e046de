"""Soft card: a file-based stand-in for the My Number card, for the demo and for tests.

Layout for a card stored at ``PATH`` (say ``card.p12``), three standard files:

* ``PATH``: PKCS#12 protected by the signing PIN, holding the signature key and certificate
  (plus the CA certificate). Any PKCS#12 tool can open it with the signing PIN.
* ``PATH.auth.p12``: PKCS#12 protected by the authentication PIN, holding the authentication key
  and certificate. Two files because PKCS#12 has one password and the two keys have two PINs.
* ``PATH.state.json``: the card's public area and PIN counters: the authentication and CA
  certificates (readable without a PIN, as on the card) and the remaining tries. Written
  atomically (temporary file, fsync, rename).

A try is counted *before* the PIN is checked and given back on success, so killing the process
mid-check cannot give an attacker free tries. After 3 wrong authentication PINs or 5 wrong
signing PINs the PIN is locked, across restarts, until :meth:`SoftCard.reset_pins`.

Honest limits: the lockout is enforced by this code, not by hardware. Someone holding the files
can copy them and guess offline, and a 4-digit PIN falls to 10,000 guesses whatever the KDF.
Use soft cards for demos and tests, never for real residents.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from kiban.identity.cards.base import (
    AUTH_PIN_MAX_TRIES,
    SIGN_PIN_MAX_TRIES,
    CardBackend,
    CardLockedError,
    PinError,
    normalise_auth_pin,
    normalise_sign_pin,
    register_backend,
)

try:  # POSIX advisory lock so two processes cannot race on the counters
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SoftCard"]

_Kind = Literal["auth", "sign"]
_STATE_FORMAT = 1


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


@register_backend("soft")
class SoftCard(CardBackend):
    """PKCS#12-backed card with JPKI PIN rules and persistent lockout (see module docstring)."""

    #: PBKDF2 rounds for the PKCS#12 files; slows offline guessing of the signing PIN.
    kdf_rounds: int = 200_000

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        state = self._read_state()
        self._auth_cert = x509.load_pem_x509_certificate(state["auth_certificate"].encode())
        self._ca_cert = x509.load_pem_x509_certificate(state["ca_certificate"].encode())

    # ----------------------------------------------------------------- files

    @property
    def auth_path(self) -> Path:
        return self.path.with_name(self.path.name + ".auth.p12")

    @property
    def state_path(self) -> Path:
        return self.path.with_name(self.path.name + ".state.json")

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _read_state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
        if state.get("format") != _STATE_FORMAT:
            raise ValueError(f"unsupported soft card state format in {self.state_path}")
        return state

    def _write_state(self, state: dict[str, Any]) -> None:
        data = json.dumps(state, indent=2, sort_keys=True).encode("utf-8")
        _atomic_write(self.state_path, data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock, open(self._lock_path, "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    @classmethod
    def _encryption(cls, pin: str) -> serialization.KeySerializationEncryption:
        return (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(cls.kdf_rounds)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(pin.encode("ascii"))
        )

    # ----------------------------------------------------------------- life cycle

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        sig_key: rsa.RSAPrivateKey,
        sig_cert: x509.Certificate,
        auth_key: rsa.RSAPrivateKey,
        auth_cert: x509.Certificate,
        ca_cert: x509.Certificate,
        auth_pin: str,
        sign_pin: str,
        *,
        overwrite: bool = False,
    ) -> SoftCard:
        """Write a new soft card at ``path`` and open it."""
        auth_pin = normalise_auth_pin(auth_pin)
        sign_pin = normalise_sign_pin(sign_pin)
        target = Path(path)
        if target.exists() and not overwrite:
            raise FileExistsError(target)
        sig_blob = pkcs12.serialize_key_and_certificates(
            b"jpki-signature", sig_key, sig_cert, [ca_cert], cls._encryption(sign_pin)
        )
        auth_blob = pkcs12.serialize_key_and_certificates(
            b"jpki-authentication", auth_key, auth_cert, [ca_cert], cls._encryption(auth_pin)
        )
        _atomic_write(target, sig_blob)
        _atomic_write(target.with_name(target.name + ".auth.p12"), auth_blob)
        state = {
            "format": _STATE_FORMAT,
            "auth_certificate": _pem(auth_cert),
            "ca_certificate": _pem(ca_cert),
            "auth_pin_remaining": AUTH_PIN_MAX_TRIES,
            "sign_pin_remaining": SIGN_PIN_MAX_TRIES,
        }
        data = json.dumps(state, indent=2, sort_keys=True).encode("utf-8")
        _atomic_write(target.with_name(target.name + ".state.json"), data)
        return cls(target)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SoftCard:
        """Open an existing soft card."""
        return cls(Path(path))

    @classmethod
    def connect(cls, **options: Any) -> SoftCard:
        return cls.open(options["path"])

    def remaining_tries(self) -> dict[str, int]:
        """Remaining PIN tries: ``{"auth": n, "sign": m}``."""
        state = self._read_state()
        return {"auth": state["auth_pin_remaining"], "sign": state["sign_pin_remaining"]}

    def reset_pins(self) -> None:
        """Restore both counters (what the municipal office does for a locked card)."""
        with self._locked():
            state = self._read_state()
            state["auth_pin_remaining"] = AUTH_PIN_MAX_TRIES
            state["sign_pin_remaining"] = SIGN_PIN_MAX_TRIES
            self._write_state(state)

    # ----------------------------------------------------------------- PIN check

    def _unlock(self, kind: _Kind, pin: str) -> pkcs12.PKCS12KeyAndCertificates:
        if kind == "auth":
            value, blob_path, maximum = normalise_auth_pin(pin), self.auth_path, AUTH_PIN_MAX_TRIES
        else:
            value, blob_path, maximum = normalise_sign_pin(pin), self.path, SIGN_PIN_MAX_TRIES
        counter = f"{kind}_pin_remaining"
        with self._locked():
            state = self._read_state()
            remaining = int(state[counter])
            if remaining <= 0:
                raise CardLockedError()
            state[counter] = remaining - 1  # count first, give back on success
            self._write_state(state)
            try:
                bundle = pkcs12.load_pkcs12(blob_path.read_bytes(), value.encode("ascii"))
            except ValueError:
                if remaining - 1 <= 0:
                    raise CardLockedError() from None
                raise PinError(remaining - 1) from None
            state[counter] = maximum
            self._write_state(state)
        return bundle

    @staticmethod
    def _sign(bundle: pkcs12.PKCS12KeyAndCertificates, data: bytes) -> bytes:
        key = bundle.key
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("soft card key is not RSA")
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    # ----------------------------------------------------------------- CardBackend

    def read_auth_certificate(self) -> x509.Certificate:
        return self._auth_cert

    def read_signature_certificate(self, sign_pin: str) -> x509.Certificate:
        bundle = self._unlock("sign", sign_pin)
        if bundle.cert is None:
            raise ValueError("soft card has no signature certificate")
        return bundle.cert.certificate

    @property
    def ca_certificate(self) -> x509.Certificate:
        return self._ca_cert

    def sign_with_signature_key(self, data: bytes, pin: str) -> bytes:
        return self._sign(self._unlock("sign", pin), data)

    def sign_with_auth_key(self, data: bytes, pin: str) -> bytes:
        return self._sign(self._unlock("auth", pin), data)
