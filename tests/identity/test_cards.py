"""Card backends: soft card PINs and lockout, the PC/SC backend against the APDU simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from kiban.identity.cards import (
    CardBackend,
    CardLockedError,
    PcscCard,
    PinError,
    PinFormatError,
    PinRequiredError,
    SoftCard,
    available_backends,
    get_backend,
    register_backend,
)
from kiban.identity.cards import base as cards_base
from kiban.identity.cards.pcsc import EF_AUTH_PIN, EF_SIGN_PIN, JPKI_AID, ApduError
from kiban.identity.cards.simulator import JPKICardSimulator
from kiban.identity.verify import verify_auth_signature, verify_detached_cms
from tests.identity.conftest import NOW, Pki

AUTH_PIN = "1234"
SIGN_PIN = "KIBAN2026"
PAYLOAD = "転入届 (synthetic)".encode()


@pytest.fixture(autouse=True)
def _fast_kdf(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(SoftCard, "kdf_rounds", 1000)
    yield


@pytest.fixture
def soft(pki: Pki, tmp_path: Path) -> SoftCard:
    return SoftCard.create(
        tmp_path / "card.p12",
        pki.sig_key,
        pki.sig_cert,
        pki.auth_key,
        pki.auth_cert,
        pki.ca.certificate,
        AUTH_PIN,
        SIGN_PIN,
    )


@pytest.fixture
def simulator(pki: Pki) -> JPKICardSimulator:
    return JPKICardSimulator(
        sig_key=pki.sig_key,
        sig_cert=pki.sig_cert,
        auth_key=pki.auth_key,
        auth_cert=pki.auth_cert,
        ca_cert=pki.ca.certificate,
        auth_pin=AUTH_PIN,
        sign_pin=SIGN_PIN,
    )


# --------------------------------------------------------------------------- both backends


@pytest.mark.parametrize("kind", ["soft", "pcsc"])
def test_card_signs_documents_and_logins_that_verify(
    pki: Pki, soft: SoftCard, simulator: JPKICardSimulator, kind: str
) -> None:
    card: CardBackend = soft if kind == "soft" else PcscCard(simulator)
    trust = pki.trust()
    sig_cert, auth_cert = card.read_certificates(SIGN_PIN)
    assert (sig_cert, auth_cert) == (pki.sig_cert, pki.auth_cert)
    assert card.read_auth_certificate() == pki.auth_cert

    result = verify_detached_cms(PAYLOAD, card.sign_cms(PAYLOAD, SIGN_PIN), trust, at=NOW)
    assert result.basic_info == pki.info

    nonce = b"login-nonce-0123456789abcdef"
    der = auth_cert.public_bytes(serialization.Encoding.DER)
    signed = card.sign_with_auth_key(nonce, AUTH_PIN)
    assert verify_auth_signature(nonce, signed, der, trust, at=NOW) == pki.auth_cert


@pytest.mark.parametrize("kind", ["soft", "pcsc"])
def test_signature_certificate_needs_the_signing_pin(
    soft: SoftCard, simulator: JPKICardSimulator, kind: str
) -> None:
    card: CardBackend = soft if kind == "soft" else PcscCard(simulator)
    with pytest.raises(PinRequiredError):
        card.read_certificates()


@pytest.mark.parametrize("kind", ["soft", "pcsc"])
def test_lowercase_signing_pin_is_normalised(
    pki: Pki, soft: SoftCard, simulator: JPKICardSimulator, kind: str
) -> None:
    card: CardBackend = soft if kind == "soft" else PcscCard(simulator)
    assert card.read_signature_certificate(SIGN_PIN.lower()) == pki.sig_cert


@pytest.mark.parametrize("kind", ["soft", "pcsc"])
@pytest.mark.parametrize(
    ("method", "pin"),
    [
        ("sign_with_auth_key", "123"),
        ("sign_with_auth_key", "12345"),
        ("sign_with_auth_key", "１２３４"),
        ("sign_with_signature_key", "ABC12"),
        ("sign_with_signature_key", "ABCDEFGHIJ1234567"),
        ("sign_with_signature_key", "ABC-123"),
    ],
)
def test_malformed_pin_costs_no_try(
    soft: SoftCard, simulator: JPKICardSimulator, kind: str, method: str, pin: str
) -> None:
    card: CardBackend = soft if kind == "soft" else PcscCard(simulator)
    with pytest.raises(PinFormatError):
        getattr(card, method)(b"x", pin)
    if kind == "soft":
        assert soft.remaining_tries() == {"auth": 3, "sign": 5}
    else:
        assert simulator.log == []  # nothing reached the card


# --------------------------------------------------------------------------- soft card


def test_soft_card_signing_pin_locks_after_five_tries_across_reopen(soft: SoftCard) -> None:
    for expected in (4, 3):
        with pytest.raises(PinError) as caught:
            soft.sign_with_signature_key(b"x", "WRONG1")
        assert caught.value.remaining_tries == expected
    reopened = SoftCard.open(soft.path)  # a new process would do the same
    assert reopened.remaining_tries()["sign"] == 3
    for expected in (2, 1):
        with pytest.raises(PinError) as caught:
            reopened.sign_with_signature_key(b"x", "WRONG1")
        assert caught.value.remaining_tries == expected
    with pytest.raises(CardLockedError):
        reopened.sign_with_signature_key(b"x", "WRONG1")
    again = SoftCard.open(soft.path)
    with pytest.raises(CardLockedError):
        again.sign_with_signature_key(b"x", SIGN_PIN)  # even the right PIN
    assert again.remaining_tries() == {"auth": 3, "sign": 0}
    again.sign_with_auth_key(b"x", AUTH_PIN)  # the other PIN is independent
    again.reset_pins()
    assert len(again.sign_with_signature_key(b"x", SIGN_PIN)) == 256


def test_soft_card_auth_pin_locks_after_three_tries(soft: SoftCard) -> None:
    for expected in (2, 1):
        with pytest.raises(PinError) as caught:
            soft.sign_with_auth_key(b"x", "0000")
        assert caught.value.remaining_tries == expected
    with pytest.raises(CardLockedError):
        soft.sign_with_auth_key(b"x", "0000")
    with pytest.raises(CardLockedError):
        SoftCard.open(soft.path).sign_with_auth_key(b"x", AUTH_PIN)


def test_soft_card_success_restores_the_counter(soft: SoftCard) -> None:
    with pytest.raises(PinError):
        soft.sign_with_signature_key(b"x", "WRONG1")
    soft.sign_with_signature_key(b"x", SIGN_PIN)
    assert soft.remaining_tries()["sign"] == 5


def test_soft_card_files(pki: Pki, soft: SoftCard) -> None:
    """Each key is in a standard PKCS#12 file opened by its own PIN; the state file holds only
    public data and counters."""
    sig = pkcs12.load_pkcs12(soft.path.read_bytes(), SIGN_PIN.encode())
    assert sig.cert is not None and sig.cert.certificate == pki.sig_cert
    auth = pkcs12.load_pkcs12(soft.auth_path.read_bytes(), AUTH_PIN.encode())
    assert auth.cert is not None and auth.cert.certificate == pki.auth_cert
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(soft.path.read_bytes(), AUTH_PIN.encode())
    state = json.loads(soft.state_path.read_text())
    assert state["sign_pin_remaining"] == 5 and state["auth_pin_remaining"] == 3
    assert "PRIVATE KEY" not in soft.state_path.read_text()
    assert not list(soft.path.parent.glob("*.tmp"))
    assert soft.ca_certificate == pki.ca.certificate


def test_soft_card_refuses_to_overwrite(pki: Pki, soft: SoftCard) -> None:
    with pytest.raises(FileExistsError):
        SoftCard.create(
            soft.path,
            pki.sig_key,
            pki.sig_cert,
            pki.auth_key,
            pki.auth_cert,
            pki.ca.certificate,
            AUTH_PIN,
            SIGN_PIN,
        )


# --------------------------------------------------------------------------- PC/SC + simulator


def test_pcsc_apdus_follow_the_jpki_ap(simulator: JPKICardSimulator) -> None:
    card = PcscCard(simulator)
    card.sign_with_auth_key(b"nonce", AUTH_PIN)
    select_ap, select_pin, verify_pin, select_key, compute = simulator.log
    assert select_ap == [0x00, 0xA4, 0x04, 0x0C, 0x0A, *JPKI_AID]
    assert select_pin == [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]
    assert verify_pin == [0x00, 0x20, 0x00, 0x80, 0x04, *b"1234"]
    assert select_key == [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17]
    assert compute[:5] == [0x80, 0x2A, 0x00, 0x80, 51]  # DigestInfo for SHA-256 is 51 bytes
    assert compute[-1] == 0x00


def test_pcsc_reads_certificates_in_chunks(pki: Pki, simulator: JPKICardSimulator) -> None:
    cert = PcscCard(simulator).read_auth_certificate()
    assert cert == pki.auth_cert
    reads = [c for c in simulator.log if c[1] == 0xB0]
    assert len(reads) > 3  # a certificate is larger than one READ BINARY
    assert all(1 <= c[4] <= 0xFF for c in reads)


def test_simulator_guards_signature_certificate(simulator: JPKICardSimulator) -> None:
    simulator.transmit([0x00, 0xA4, 0x04, 0x0C, 0x0A, *JPKI_AID])
    simulator.transmit([0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x01])
    assert simulator.transmit([0x00, 0xB0, 0x00, 0x00, 0x04])[1:] == (0x69, 0x82)
    assert simulator.transmit([0x00, 0xA4, 0x02, 0x0C, 0x02, 0x12, 0x34])[1:] == (0x6A, 0x82)
    # signing without VERIFY is refused by the card itself
    simulator.transmit([0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x17])
    assert simulator.transmit([0x80, 0x2A, 0x00, 0x80, 0x01, 0x00, 0x00])[1:] == (0x69, 0x82)


def test_pcsc_pin_counters_and_lock(simulator: JPKICardSimulator) -> None:
    card = PcscCard(simulator)
    assert card.remaining_tries(EF_AUTH_PIN) == 3
    assert card.remaining_tries(EF_SIGN_PIN) == 5
    for expected in (2, 1):
        with pytest.raises(PinError) as caught:
            card.sign_with_auth_key(b"x", "9999")
        assert caught.value.remaining_tries == expected
    assert card.remaining_tries(EF_AUTH_PIN) == 1  # asking does not use a try
    with pytest.raises(CardLockedError):
        card.sign_with_auth_key(b"x", "9999")
    simulator.reset()  # pulling the card out does not help
    with pytest.raises(CardLockedError):
        card.sign_with_auth_key(b"x", AUTH_PIN)
    assert card.remaining_tries(EF_AUTH_PIN) == 0
    assert len(card.sign_with_signature_key(b"x", SIGN_PIN)) == 256


def test_pcsc_signing_pin_locks_after_five(simulator: JPKICardSimulator) -> None:
    card = PcscCard(simulator)
    for expected in (4, 3, 2, 1):
        with pytest.raises(PinError) as caught:
            card.read_signature_certificate("WRONG1")
        assert caught.value.remaining_tries == expected
    with pytest.raises(CardLockedError):
        card.sign_cms(PAYLOAD, "WRONG1")
    with pytest.raises(CardLockedError):
        card.sign_cms(PAYLOAD, SIGN_PIN)


def test_pcsc_unexpected_status_is_an_apdu_error() -> None:
    class NoApplet:
        def transmit(self, command: list[int]) -> tuple[list[int], int, int]:
            return [], 0x6A, 0x82

    with pytest.raises(ApduError) as caught:
        PcscCard(NoApplet()).read_auth_certificate()
    assert caught.value.sw == 0x6A82 and caught.value.message_ja


# --------------------------------------------------------------------------- registry


def test_registry_has_built_ins_and_accepts_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cards_base, "_BACKENDS", dict(cards_base._BACKENDS))
    assert get_backend("soft") is SoftCard
    assert get_backend("pcsc") is PcscCard
    with pytest.raises(LookupError):
        get_backend("nfc-phone")

    @register_backend("test-dummy")
    class Dummy(SoftCard):
        pass

    assert get_backend("test-dummy") is Dummy and "test-dummy" in available_backends()
    with pytest.raises(ValueError):
        register_backend("soft")(Dummy)


def test_soft_backend_connects_from_options(pki: Pki, soft: SoftCard) -> None:
    card = get_backend("soft").connect(path=str(soft.path))
    assert isinstance(card.read_auth_certificate(), x509.Certificate)
