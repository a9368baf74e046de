"""The fast path (cryptography's Rust path validator + CRLs checked at load) against the
reference validator (pyhanko-certvalidator).

The fast path may only *accept*: whatever it accepts, pyhanko must accept too, and every
refusal keeps pyhanko's code. Each case below is run through both.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from kiban.identity import jpki, verify
from kiban.identity.verify import TrustStore, VerificationError
from tests.identity.conftest import NOW, Pki

Case = tuple[x509.Certificate, TrustStore, datetime, frozenset[str]]


def _store(
    pki: Pki, *crls: x509.CertificateRevocationList, ca: jpki.CAKeyPair | None = None
) -> TrustStore:
    store = TrustStore()
    store.add_ca((ca or pki.ca).certificate)
    for crl in crls:
        store.add_crl(crl)
    return store


def _reference(
    cert: x509.Certificate, trust: TrustStore, at: datetime, usage: frozenset[str]
) -> str:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    try:
        verify._reference_validate(cert, asn1_cert, trust, trust._compile(), at, usage)
    except VerificationError as exc:
        return exc.code
    return "valid"


def _production(
    cert: x509.Certificate, trust: TrustStore, at: datetime, usage: frozenset[str]
) -> str:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    try:
        verify._validate_path(cert, asn1_cert, trust, at, usage)
    except VerificationError as exc:
        return exc.code
    return "valid"


SIGN, AUTH = verify._SIGNATURE_USAGE, verify._AUTH_USAGE


def _cases(pki: Pki) -> dict[str, tuple[Case, str]]:
    crl = pki.crl()
    revoked = pki.crl([(pki.sig_cert.serial_number, NOW - timedelta(hours=2), None)])
    later = pki.crl([(pki.sig_cert.serial_number, NOW + timedelta(hours=2), None)])
    other_serials = pki.crl([(s, NOW - timedelta(days=1), None) for s in range(1, 200)])
    forged = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.ca.certificate.subject)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=1))
        .sign(pki.other_ca.private_key, hashes.SHA256())
    )
    foreign = jpki.issue_signature_certificate(pki.other_ca, pki.sig_key.public_key(), pki.info)
    expired_at = pki.sig_cert.not_valid_after_utc + timedelta(seconds=5)
    early_at = pki.sig_cert.not_valid_before_utc - timedelta(seconds=5)

    def around(at: datetime) -> x509.CertificateRevocationList:
        return jpki.build_crl(
            pki.ca, [], this_update=at - timedelta(hours=1), next_update=at + timedelta(days=1)
        )

    return {
        "valid signature": ((pki.sig_cert, _store(pki, crl), NOW, SIGN), "valid"),
        "valid auth": ((pki.auth_cert, _store(pki, crl), NOW, AUTH), "valid"),
        "other serials revoked": ((pki.sig_cert, _store(pki, other_serials), NOW, SIGN), "valid"),
        "revoked": ((pki.sig_cert, _store(pki, revoked), NOW, SIGN), "certificate_revoked"),
        "revoked after the moment": ((pki.sig_cert, _store(pki, later), NOW, SIGN), None),
        "expired": ((pki.sig_cert, _store(pki, around(expired_at)), expired_at, SIGN), "certificate_expired"),
        "not yet valid": ((pki.sig_cert, _store(pki, around(early_at)), early_at, SIGN), "certificate_expired"),
        "other CA": ((foreign, _store(pki, crl), NOW, SIGN), "certificate_untrusted"),
        "no CRL": ((pki.sig_cert, _store(pki), NOW, SIGN), "certificate_untrusted"),
        "stale CRL": ((pki.sig_cert, _store(pki, crl), NOW + timedelta(days=2), SIGN), "certificate_untrusted"),
        "forged CRL": ((pki.sig_cert, _store(pki, forged), NOW, SIGN), "certificate_untrusted"),
        "auth cert signing": ((pki.auth_cert, _store(pki, crl), NOW, SIGN), "certificate_untrusted"),
    }  # fmt: skip


CASE_NAMES = [
    "valid signature",
    "valid auth",
    "other serials revoked",
    "revoked",
    "revoked after the moment",
    "expired",
    "not yet valid",
    "other CA",
    "no CRL",
    "stale CRL",
    "forged CRL",
    "auth cert signing",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_fast_path_agrees_with_pyhanko(pki: Pki, name: str) -> None:
    (cert, trust, at, usage), expected = _cases(pki)[name]
    reference = _reference(cert, trust, at, usage)
    if expected is not None:
        assert reference == expected
    fast = verify._fast_accept(trust._compile(), cert, at, usage)
    # The fast path never accepts what the reference refuses...
    assert not fast or reference == "valid"
    # ...and the verdict the application sees is the reference verdict.
    assert _production(cert, trust, at, usage) == reference


@pytest.mark.parametrize("name", ["valid signature", "valid auth", "other serials revoked"])
def test_fast_path_carries_the_valid_cases(pki: Pki, name: str) -> None:
    """The common case must not fall back to pyhanko (that is the whole speed-up)."""
    (cert, trust, at, usage), _ = _cases(pki)[name]
    assert verify._fast_accept(trust._compile(), cert, at, usage)


def test_listed_serial_always_goes_to_pyhanko(pki: Pki) -> None:
    later = pki.crl([(pki.sig_cert.serial_number, NOW + timedelta(hours=2), None)])
    trust = _store(pki, later)
    assert not verify._fast_accept(trust._compile(), pki.sig_cert, NOW, SIGN)


def test_crl_of_another_ca_covers_nothing(pki: Pki) -> None:
    other_crl = jpki.build_crl(
        pki.other_ca, [], this_update=NOW - timedelta(hours=1), next_update=NOW + timedelta(days=1)
    )
    trust = _store(pki, other_crl)
    trust.add_ca(pki.other_ca.certificate)
    assert not verify._fast_accept(trust._compile(), pki.sig_cert, NOW, SIGN)
    assert _production(pki.sig_cert, trust, NOW, SIGN) == "certificate_untrusted"


def test_fast_path_is_used_for_valid_signatures(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original: Callable[..., None] = verify._reference_validate

    def spy(*args: object) -> None:
        calls.append("pyhanko")
        original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(verify, "_reference_validate", spy)
    payload = b'{"x":1}'
    sig = verify.sign_detached_cms(payload, pki.sig_key, pki.sig_cert)
    verify.verify_detached_cms(payload, sig, _store(pki, pki.crl()), at=NOW)
    assert calls == []
    revoked = pki.crl([(pki.sig_cert.serial_number, NOW - timedelta(hours=2), None)])
    with pytest.raises(verify.CertificateRevoked):
        verify.verify_detached_cms(payload, sig, _store(pki, revoked), at=NOW)
    assert calls == ["pyhanko"]
