"""JPKI certificate profile: birth codes, basic information, certificate kinds, CRLs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.identity import jpki
from tests.identity.conftest import NOW, Pki

# --------------------------------------------------------------------------- birth code


@pytest.mark.parametrize(
    ("day", "code"),
    [
        (date(1990, 1, 2), "419900102"),  # the example in the profile
        (date(1989, 1, 7), "319890107"),  # last day of 昭和
        (date(1989, 1, 8), "419890108"),  # first day of 平成
        (date(2019, 4, 30), "420190430"),  # last day of 平成
        (date(2019, 5, 1), "520190501"),  # first day of 令和
        (date(1926, 12, 24), "219261224"),  # last day of 大正
        (date(1926, 12, 25), "319261225"),  # first day of 昭和
        (date(1912, 7, 29), "119120729"),  # last day of 明治
        (date(1912, 7, 30), "219120730"),  # first day of 大正
    ],
)
def test_birth_code_uses_era_digit_and_gregorian_date(day: date, code: str) -> None:
    assert jpki.birth_code(day) == code
    assert jpki.parse_birth_code(code) == day


@given(st.dates(min_value=date(1868, 1, 25), max_value=date(2200, 12, 31)))
def test_birth_code_round_trips(day: date) -> None:
    code = jpki.birth_code(day)
    assert len(code) == 9 and code[1:] == day.strftime("%Y%m%d")
    assert jpki.parse_birth_code(code) == day


def test_birth_code_before_meiji_is_refused() -> None:
    with pytest.raises(jpki.JPKIProfileError):
        jpki.birth_code(date(1868, 1, 24))


@pytest.mark.parametrize("code", ["400000000", "419900000", "419900100"])
def test_unknown_birth_date_parts_give_none(code: str) -> None:
    assert jpki.parse_birth_code(code) is None


@pytest.mark.parametrize(
    "code", ["", "19900102", "619900102", "319900102", "419900230", "4199001O2", "４19900102"]
)
def test_malformed_birth_codes_are_refused(code: str) -> None:
    with pytest.raises(jpki.JPKIProfileError):
        jpki.parse_birth_code(code)


# --------------------------------------------------------------------------- BasicInfo


def test_basic_info_rejects_unknown_sex_code() -> None:
    with pytest.raises(jpki.JPKIProfileError):
        jpki.BasicInfo(name="見本 一郎", sex="M", birth_date=date(2000, 1, 1), address="某所")


def test_basic_info_with_unknown_birth_date_keeps_the_raw_code() -> None:
    info = jpki.BasicInfo(
        name="見本 一郎", sex="3", birth_date=None, birth_date_code="300000000", address="某所"
    )
    assert info.birth_date_code == "300000000"
    with pytest.raises(jpki.JPKIProfileError):
        jpki.BasicInfo(name="見本 一郎", sex="1", birth_date=None, address="某所")


# --------------------------------------------------------------------------- certificates


def _san_values(cert: x509.Certificate) -> dict[str, bytes]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {e.type_id.dotted_string: e.value for e in san.get_values_for_type(x509.OtherName)}


def test_signature_certificate_carries_all_six_attributes_as_utf8(pki: Pki) -> None:
    values = _san_values(pki.sig_cert)
    assert set(values) == {f"1.2.392.200149.8.5.5.{i}" for i in range(1, 7)}
    assert all(v[0] == 0x0C for v in values.values())  # UTF8String tag
    assert values["1.2.392.200149.8.5.5.1"][2:].decode("utf-8") == "見本 花子"
    assert values["1.2.392.200149.8.5.5.4"][2:] == b"419900102"
    assert values["1.2.392.200149.8.5.5.2"] == b"\x0c\x00"  # no 代替文字: empty string


def test_signature_certificate_round_trips_basic_info(pki: Pki) -> None:
    assert jpki.read_basic_info(pki.sig_cert) == pki.info
    assert jpki.is_signature_certificate(pki.sig_cert)
    assert not jpki.is_auth_certificate(pki.sig_cert)


def test_signature_certificate_profile(pki: Pki) -> None:
    cert = pki.sig_cert
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [jpki.DEMO_SIGNATURE_POLICY_OID]
    assert not str(jpki.DEMO_SIGNATURE_POLICY_OID.dotted_string).startswith("1.2.392.200149")
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert dp[0].full_name == [x509.UniformResourceIdentifier(pki.ca.crl_url or "")]
    assert isinstance(cert.signature_hash_algorithm, type(cert.signature_hash_algorithm))
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    # the name is in the SAN, not in the subject
    assert "見本" not in cert.subject.rfc4514_string()


def test_auth_certificate_has_no_personal_data(pki: Pki) -> None:
    cert = pki.auth_cert
    assert jpki.read_basic_info(cert) is None
    assert jpki.is_auth_certificate(cert)
    assert not jpki.is_signature_certificate(cert)
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.content_commitment
    (cn,) = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert isinstance(cn.value, str) and len(cn.value) == 24


def test_certificates_get_distinct_random_subjects(pki: Pki) -> None:
    other = jpki.issue_auth_certificate(pki.ca, pki.auth_key.public_key())
    assert other.subject != pki.auth_cert.subject
    assert other.serial_number != pki.auth_cert.serial_number


def test_ca_certificate_profile(pki: Pki) -> None:
    cert = pki.ca.certificate
    assert cert.issuer == cert.subject
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert "NOT FOR PRODUCTION" in cert.subject.rfc4514_string()
    assert not jpki.is_signature_certificate(cert) and not jpki.is_auth_certificate(cert)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=3650)


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1)


@settings(max_examples=15, deadline=None)
@given(
    name=_TEXT,
    address=_TEXT,
    alt=st.one_of(st.none(), st.text(min_size=1, max_size=20)),
    sex=st.sampled_from(["1", "2", "3"]),
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 1, 1)),
)
def test_any_basic_info_survives_issue_and_read(
    pki: Pki, name: str, address: str, alt: str | None, sex: str, born: date
) -> None:
    info = jpki.BasicInfo(
        name=name, sex=sex, birth_date=born, address=address, name_alt=alt, address_alt=alt
    )
    cert = jpki.issue_signature_certificate(pki.ca, pki.sig_key.public_key(), info)
    assert jpki.read_basic_info(cert) == info


def test_incomplete_basic_information_is_an_error(pki: Pki) -> None:
    san = x509.SubjectAlternativeName(
        [x509.OtherName(jpki.OID_NAME, b"\x0c\x06" + "見本".encode())]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(pki.sig_cert.subject)
        .issuer_name(pki.ca.certificate.subject)
        .public_key(pki.sig_key.public_key())
        .serial_number(7)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(pki.ca.private_key, pki.sig_cert.signature_hash_algorithm)  # type: ignore[arg-type]
    )
    with pytest.raises(jpki.JPKIProfileError):
        jpki.read_basic_info(cert)
    assert not jpki.is_signature_certificate(cert)


def test_certificate_parses_with_asn1crypto(pki: Pki) -> None:
    der = pki.sig_cert.public_bytes(serialization.Encoding.DER)
    parsed = asn1_x509.Certificate.load(der)
    assert parsed.serial_number == pki.sig_cert.serial_number
    assert parsed.key_usage_value.native == {"digital_signature", "non_repudiation"}


# --------------------------------------------------------------------------- loading, CRL


def test_load_certificate_accepts_der_and_pem(pki: Pki) -> None:
    der = pki.sig_cert.public_bytes(serialization.Encoding.DER)
    pem = pki.sig_cert.public_bytes(serialization.Encoding.PEM)
    assert jpki.load_certificate(der) == jpki.load_certificate(b"\n" + pem) == pki.sig_cert
    with pytest.raises(ValueError):
        jpki.load_certificate(b"not a certificate")


def test_crl_lists_revoked_serials_with_reasons(pki: Pki) -> None:
    revoked_at = NOW - timedelta(hours=2)
    crl = pki.crl(
        [
            (pki.sig_cert.serial_number, revoked_at, x509.ReasonFlags.affiliation_changed),
            (42, revoked_at, None),
        ]
    )
    assert crl.is_signature_valid(pki.ca.private_key.public_key())
    assert not crl.is_signature_valid(pki.other_ca.private_key.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(pki.sig_cert.serial_number)
    assert entry is not None and entry.revocation_date_utc == revoked_at
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.affiliation_changed
    assert crl.get_revoked_certificate_by_serial_number(pki.auth_cert.serial_number) is None
    for data in (
        crl.public_bytes(serialization.Encoding.DER),
        crl.public_bytes(serialization.Encoding.PEM),
    ):
        assert jpki.load_crl(data) == crl
