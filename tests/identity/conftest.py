"""Shared synthetic PKI for the identity tests: one demo CA, one foreign CA, card keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from kiban.identity import jpki
from kiban.identity.verify import TrustStore

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Pki:
    ca: jpki.CAKeyPair
    other_ca: jpki.CAKeyPair
    sig_key: rsa.RSAPrivateKey
    auth_key: rsa.RSAPrivateKey
    info: jpki.BasicInfo
    sig_cert: x509.Certificate
    auth_cert: x509.Certificate

    def crl(
        self, revoked: list[tuple[int, datetime, x509.ReasonFlags | None]] | None = None
    ) -> x509.CertificateRevocationList:
        return jpki.build_crl(
            self.ca,
            revoked or [],
            this_update=NOW - timedelta(hours=1),
            next_update=NOW + timedelta(days=1),
        )

    def trust(self, *, crl: x509.CertificateRevocationList | None = None) -> TrustStore:
        store = TrustStore()
        store.add_ca(self.ca.certificate)
        store.add_crl(crl if crl is not None else self.crl())
        return store


@pytest.fixture(scope="session")
def pki() -> Pki:
    ca = jpki.build_demo_ca(not_before=NOW - timedelta(days=365))
    other = jpki.build_demo_ca(common_name="Some other CA", not_before=NOW - timedelta(days=365))
    sig_key, auth_key = new_key(), new_key()
    info = jpki.BasicInfo(
        name="見本 花子",
        sex="2",
        birth_date=date(1990, 1, 2),
        address="東京都千代田区霞が関一丁目1番1号",
    )
    start, end = NOW - timedelta(days=30), NOW + timedelta(days=5 * 365)
    sig_cert = jpki.issue_signature_certificate(
        ca, sig_key.public_key(), info, not_before=start, not_after=end
    )
    auth_cert = jpki.issue_auth_certificate(
        ca, auth_key.public_key(), not_before=start, not_after=end
    )
    return Pki(ca, other, sig_key, auth_key, info, sig_cert, auth_cert)
