"""Signing keys of municipalities and the deployment's municipal signing CA.

Every certificate of residence is signed with its municipality's key. The keys and their
X.509 certificates live under ``settings.KEYS_DIR`` (``KIBAN_KEYS_DIR``)::

    KIBAN_KEYS_DIR/
      signing-ca/ca.key.pem        the "kiban municipal signing CA" (private key, 0600)
      signing-ca/ca.cert.pem       its self-signed certificate: the trust anchor
      signing/<code>/key.pem       one municipality's RSA 2048 signing key (0600)
      signing/<code>/cert.pem      its certificate, issued by the CA above
      signing-trust/*.pem          extra trust anchors accepted when verifying (optional)

When nothing is there, kiban creates a *demo* CA (its name says so) and municipality keys
on first use. In production the operator installs the CA of their choice: put its
certificate at ``signing-ca/ca.cert.pem`` and each municipality's key and certificate
under ``signing/<code>/``; kiban then never creates keys, because they already exist.
Without the CA's private key kiban cannot issue new municipality certificates, which is
what a production operator wants.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings

from kiban.core.errors import KibanError
from kiban.core.models import Municipality

__all__ = [
    "CA_NAME",
    "Signer",
    "ca_certificate",
    "municipality_signer",
    "trust_roots",
]

CA_NAME = "kiban municipal signing CA (DEMO - not for production)"
_lock = threading.Lock()


@dataclass(frozen=True)
class Signer:
    """A municipality's signing key and certificate, plus the chain up to the CA."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    def asn1_cert(self) -> asn1_x509.Certificate:
        return _asn1(self.cert)

    def asn1_key(self) -> asn1_keys.PrivateKeyInfo:
        der = self.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return asn1_keys.PrivateKeyInfo.load(der)

    def asn1_chain(self) -> list[asn1_x509.Certificate]:
        return [_asn1(c) for c in self.chain]


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _keys_dir() -> Path:
    return Path(settings.KEYS_DIR)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KibanError(
            f"署名鍵 {path} はRSA鍵ではありません。",
            f"Signing key {path} is not an RSA key.",
            code="bad_signing_key",
            status=500,
        )
    return key


def _ca_paths() -> tuple[Path, Path]:
    base = _keys_dir() / "signing-ca"
    return base / "ca.key.pem", base / "ca.cert.pem"


def _ensure_ca() -> tuple[rsa.RSAPrivateKey | None, x509.Certificate]:
    key_path, cert_path = _ca_paths()
    if cert_path.exists():
        key = _load_key(key_path) if key_path.exists() else None
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kiban"),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * 20))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _pem_key(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def ca_certificate() -> x509.Certificate:
    """The deployment's signing CA certificate (created, as a demo CA, on first use)."""
    with _lock:
        return _ensure_ca()[1]


def trust_roots() -> list[x509.Certificate]:
    """Certificates trusted when verifying: the signing CA plus ``signing-trust/*.pem``."""
    roots = [ca_certificate()]
    extra = _keys_dir() / "signing-trust"
    if extra.is_dir():
        for path in sorted(extra.glob("*.pem")):
            roots.extend(x509.load_pem_x509_certificates(path.read_bytes()))
    return roots


def municipality_signer(municipality: Municipality) -> Signer:
    """The municipality's signing key and certificate, created (by the CA) on first use."""
    base = _keys_dir() / "signing" / municipality.code
    key_path, cert_path = base / "key.pem", base / "cert.pem"
    with _lock:
        ca_key, ca_cert = _ensure_ca()
        if key_path.exists() and cert_path.exists():
            return Signer(
                _load_key(key_path),
                x509.load_pem_x509_certificate(cert_path.read_bytes()),
                (ca_cert,),
            )
        if ca_key is None:
            raise KibanError(
                f"{municipality.name}の署名鍵がなく、署名CAの秘密鍵もないため作成できません。",
                f"No signing key for {municipality.code}, and the signing CA's private key is "
                "not installed, so none can be created.",
                code="no_signing_key",
                status=500,
            )
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, municipality.prefecture or "-"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, municipality.name),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, municipality.code),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"{municipality.name} ({municipality.code})"
                ),
            ]
        )
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * 5))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(key_path, _pem_key(key))
        _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return Signer(key, cert, (ca_cert,))
