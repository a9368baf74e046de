"""Signature verification: each refusal code, the success cache, interop, login signatures."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs7
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.identity import jpki, verify
from kiban.identity.verify import (
    TrustStore,
    VerificationError,
    sign_detached_cms,
    verify_auth_signature,
    verify_detached_cms,
)
from tests.identity.conftest import NOW, Pki, new_key

PAYLOAD = "申請書: 児童手当 認定請求 / synthetic".encode()
SIGNED_AT = NOW - timedelta(minutes=3)


@pytest.fixture(scope="module")
def signature(pki: Pki) -> bytes:
    return sign_detached_cms(PAYLOAD, pki.sig_key, pki.sig_cert, signing_time=SIGNED_AT)


def refusal(payload: bytes, sig: bytes, trust: TrustStore, at: datetime = NOW) -> str:
    with pytest.raises(VerificationError) as caught:
        verify_detached_cms(payload, sig, trust, at=at)
    assert caught.value.message_ja and caught.value.message_en
    assert caught.value.message_ja != caught.value.message_en
    return caught.value.code


def test_codes_are_exactly_the_four_documented() -> None:
    classes = VerificationError.__subclasses__()
    assert {c.code for c in classes} == {
        "signature_invalid",
        "certificate_untrusted",
        "certificate_expired",
        "certificate_revoked",
    }


def test_valid_signature_returns_signer_and_basic_info(pki: Pki, signature: bytes) -> None:
    result = verify_detached_cms(PAYLOAD, signature, pki.trust(), at=NOW)
    assert result.certificate == pki.sig_cert
    assert result.basic_info == pki.info
    assert result.signing_time == SIGNED_AT


def test_cms_structure(pki: Pki, signature: bytes) -> None:
    info = cms.ContentInfo.load(signature)
    signed = info["content"]
    assert info["content_type"].native == "signed_data"
    assert signed["encap_content_info"]["content"].native is None  # detached
    (signer,) = signed["signer_infos"]
    attrs = {a["type"].native for a in signer["signed_attrs"]}
    assert attrs == {"content_type", "message_digest", "signing_time"}
    assert signer["digest_algorithm"]["algorithm"].native == "sha256"
    assert signed["certificates"][0].chosen.dump() == pki.sig_cert.public_bytes(
        serialization.Encoding.DER
    )


def test_tampered_payload_is_signature_invalid(pki: Pki, signature: bytes) -> None:
    assert refusal(PAYLOAD + b" ", signature, pki.trust()) == "signature_invalid"
    assert refusal(b"", signature, pki.trust()) == "signature_invalid"


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_is_refused(pki: Pki, signature: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(PAYLOAD) - 1))
    delta = data.draw(st.integers(1, 255))
    changed = bytearray(PAYLOAD)
    changed[index] = (changed[index] + delta) % 256
    assert refusal(bytes(changed), signature, pki.trust()) == "signature_invalid"


@settings(max_examples=40, deadline=None)
@given(garbage=st.binary(max_size=300))
def test_garbage_cms_is_signature_invalid(pki: Pki, garbage: bytes) -> None:
    assert refusal(PAYLOAD, garbage, pki.trust()) == "signature_invalid"


@pytest.mark.parametrize("cut", [1, 10, 100, 600])
def test_truncated_cms_is_signature_invalid(pki: Pki, signature: bytes, cut: int) -> None:
    assert refusal(PAYLOAD, signature[:-cut], pki.trust()) == "signature_invalid"


def _mutate_signer(signature: bytes, change: str) -> bytes:
    info = cms.ContentInfo.load(signature)
    signed = info["content"]
    signer = signed["signer_infos"][0]
    if change == "no_certs":
        signed["certificates"] = []
    elif change == "sha1":
        signer["digest_algorithm"] = {"algorithm": "sha1"}
    elif change == "flip_signature":
        value = bytearray(signer["signature"].native)
        value[10] ^= 0x01
        signer["signature"] = bytes(value)
    elif change == "no_signed_attrs":
        del signer["signed_attrs"]
    elif change == "attached":
        signed["encap_content_info"] = {"content_type": "data", "content": PAYLOAD}
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump(force=True)


@pytest.mark.parametrize(
    "change", ["no_certs", "sha1", "flip_signature", "no_signed_attrs", "attached"]
)
def test_broken_cms_parts_are_signature_invalid(pki: Pki, signature: bytes, change: str) -> None:
    assert refusal(PAYLOAD, _mutate_signer(signature, change), pki.trust()) == "signature_invalid"


def test_other_ca_is_untrusted(pki: Pki) -> None:
    cert = jpki.issue_signature_certificate(pki.other_ca, pki.sig_key.public_key(), pki.info)
    sig = sign_detached_cms(PAYLOAD, pki.sig_key, cert)
    assert refusal(PAYLOAD, sig, pki.trust()) == "certificate_untrusted"


def test_self_issued_lookalike_is_untrusted(pki: Pki) -> None:
    """Same CA name, different key: a forger cannot borrow the demo CA's name."""
    fake_ca = jpki.build_demo_ca(not_before=NOW - timedelta(days=1))
    cert = jpki.issue_signature_certificate(fake_ca, pki.sig_key.public_key(), pki.info)
    assert cert.issuer == pki.sig_cert.issuer
    sig = sign_detached_cms(PAYLOAD, pki.sig_key, cert)
    assert refusal(PAYLOAD, sig, pki.trust()) == "certificate_untrusted"


def test_expired_and_not_yet_valid_certificates(pki: Pki, signature: bytes) -> None:
    trust = pki.trust()
    after = pki.sig_cert.not_valid_after_utc + timedelta(seconds=5)
    before = pki.sig_cert.not_valid_before_utc - timedelta(seconds=5)
    for at in (after, before):
        store = TrustStore()
        store.add_ca(pki.ca.certificate)
        store.add_crl(
            jpki.build_crl(
                pki.ca, [], this_update=at - timedelta(hours=1), next_update=at + timedelta(days=1)
            )
        )
        assert refusal(PAYLOAD, signature, store, at=at) == "certificate_expired"
    verify_detached_cms(PAYLOAD, signature, trust, at=NOW)


def test_revoked_certificate(pki: Pki, signature: bytes) -> None:
    crl = pki.crl(
        [(pki.sig_cert.serial_number, NOW - timedelta(hours=2), x509.ReasonFlags.superseded)]
    )
    assert refusal(PAYLOAD, signature, pki.trust(crl=crl)) == "certificate_revoked"


def test_revocation_of_other_serials_does_not_matter(pki: Pki, signature: bytes) -> None:
    crl = pki.crl([(s, NOW - timedelta(days=1), None) for s in range(1, 50)])
    verify_detached_cms(PAYLOAD, signature, pki.trust(crl=crl), at=NOW)


def test_missing_or_stale_crl_is_untrusted(pki: Pki, signature: bytes) -> None:
    no_crl = TrustStore()
    no_crl.add_ca(pki.ca.certificate)
    assert refusal(PAYLOAD, signature, no_crl) == "certificate_untrusted"
    stale = pki.trust()  # nextUpdate is NOW + 1 day
    assert refusal(PAYLOAD, signature, stale, NOW + timedelta(days=2)) == "certificate_untrusted"


def test_crl_signed_by_someone_else_gives_no_assurance(pki: Pki, signature: bytes) -> None:
    forged = x509.CertificateRevocationListBuilder().issuer_name(pki.ca.certificate.subject)
    forged = forged.last_update(NOW - timedelta(hours=1)).next_update(NOW + timedelta(days=1))
    crl = forged.sign(pki.other_ca.private_key, hashes.SHA256())
    assert refusal(PAYLOAD, signature, pki.trust(crl=crl)) == "certificate_untrusted"


def test_auth_certificate_cannot_sign_documents(pki: Pki) -> None:
    sig = sign_detached_cms(PAYLOAD, pki.auth_key, pki.auth_cert)
    assert refusal(PAYLOAD, sig, pki.trust()) == "certificate_untrusted"


def test_signature_is_checked_before_the_certificate(pki: Pki) -> None:
    """A tampered document signed with an untrusted certificate is reported as tampered."""
    cert = jpki.issue_signature_certificate(pki.other_ca, pki.sig_key.public_key(), pki.info)
    sig = sign_detached_cms(PAYLOAD, pki.sig_key, cert)
    assert refusal(PAYLOAD + b"x", sig, pki.trust()) == "signature_invalid"


def test_cache_follows_trust_store_changes(pki: Pki, signature: bytes) -> None:
    trust = pki.trust()
    verify_detached_cms(PAYLOAD, signature, trust, at=NOW)  # now cached
    trust.add_crl(
        jpki.build_crl(
            pki.ca,
            [(pki.sig_cert.serial_number, NOW - timedelta(minutes=30), None)],
            this_update=NOW - timedelta(minutes=10),
            next_update=NOW + timedelta(days=1),
            crl_number=2,
        )
    )
    assert refusal(PAYLOAD, signature, trust) == "certificate_revoked"


def test_cache_does_not_extend_past_crl_or_validity(pki: Pki, signature: bytes) -> None:
    trust = pki.trust()
    verify_detached_cms(PAYLOAD, signature, trust, at=NOW)
    assert refusal(PAYLOAD, signature, trust, NOW + timedelta(days=2)) == "certificate_untrusted"
    assert refusal(PAYLOAD, signature, trust, NOW - timedelta(hours=2)) == "certificate_untrusted"
    verify_detached_cms(PAYLOAD, signature, trust, at=NOW + timedelta(hours=3))


def test_naive_moment_is_a_programming_error(pki: Pki, signature: bytes) -> None:
    with pytest.raises(ValueError):
        verify_detached_cms(PAYLOAD, signature, pki.trust(), at=datetime(2026, 4, 1))


def test_works_inside_a_running_event_loop(pki: Pki, signature: bytes) -> None:
    async def main() -> verify.VerifiedSignature:
        return verify_detached_cms(PAYLOAD, signature, pki.trust(), at=NOW)

    assert asyncio.run(main()).basic_info == pki.info


def test_cryptography_pkcs7_builder_output_verifies(pki: Pki) -> None:
    """Interop: a detached CMS from another implementation is accepted."""
    sig = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(PAYLOAD)
        .add_signer(pki.sig_cert, pki.sig_key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])
    )
    result = verify_detached_cms(PAYLOAD, sig, pki.trust(), at=NOW)
    assert result.certificate == pki.sig_cert
    assert result.signing_time is not None
    assert refusal(PAYLOAD[:-1], sig, pki.trust()) == "signature_invalid"


def test_trust_store_accepts_pem_and_der(pki: Pki, signature: bytes) -> None:
    store = TrustStore()
    store.add_ca(pki.ca.certificate.public_bytes(serialization.Encoding.PEM))
    store.add_crl(pki.crl().public_bytes(serialization.Encoding.DER))
    assert store.version == 2
    verify_detached_cms(PAYLOAD, signature, store, at=NOW)


# --------------------------------------------------------------------------- login signatures


def _auth_der(pki: Pki) -> bytes:
    return pki.auth_cert.public_bytes(serialization.Encoding.DER)


def _sign(key: object, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined, no-any-return]


def test_auth_signature_over_nonce(pki: Pki) -> None:
    nonce = b"\x01" * 32
    cert = verify_auth_signature(
        nonce, _sign(pki.auth_key, nonce), _auth_der(pki), pki.trust(), at=NOW
    )
    assert cert == pki.auth_cert


def test_auth_signature_refusals(pki: Pki) -> None:
    nonce, trust = b"\x02" * 32, pki.trust()

    def code(sig: bytes, cert_der: bytes, store: TrustStore = trust, at: datetime = NOW) -> str:
        with pytest.raises(VerificationError) as caught:
            verify_auth_signature(nonce, sig, cert_der, store, at=at)
        return caught.value.code

    good = _sign(pki.auth_key, nonce)
    assert code(_sign(pki.auth_key, b"other nonce"), _auth_der(pki)) == "signature_invalid"
    assert code(_sign(new_key(), nonce), _auth_der(pki)) == "signature_invalid"
    assert code(good, b"garbage") == "signature_invalid"
    sig_der = pki.sig_cert.public_bytes(serialization.Encoding.DER)
    assert code(_sign(pki.sig_key, nonce), sig_der) == "certificate_untrusted"
    foreign = jpki.issue_auth_certificate(pki.other_ca, pki.auth_key.public_key())
    assert code(good, foreign.public_bytes(serialization.Encoding.DER)) == "certificate_untrusted"
    revoked = pki.trust(
        crl=pki.crl([(pki.auth_cert.serial_number, NOW - timedelta(hours=1), None)])
    )
    assert code(good, _auth_der(pki), revoked) == "certificate_revoked"
    late = pki.auth_cert.not_valid_after_utc + timedelta(days=1)
    store = TrustStore()
    store.add_ca(pki.ca.certificate)
    store.add_crl(
        jpki.build_crl(
            pki.ca, [], this_update=late - timedelta(hours=1), next_update=late + timedelta(days=1)
        )
    )
    assert code(good, _auth_der(pki), store, late) == "certificate_expired"
