"""JPKI (公的個人認証) certificate profile: demo CA, certificates, CRLs and the basic information.

Pure module (no Django). Two kinds of end-entity certificate exist on a My Number card:

* 署名用電子証明書 (signature certificate): keyUsage digitalSignature + nonRepudiation and the
  基本4情報 (name, sex, birth date, address) as subjectAltName ``otherName`` entries under the
  arc 1.2.392.200149.8.5.5 (.1 氏名, .2 氏名代替文字, .3 性別, .4 生年月日, .5 住所,
  .6 住所代替文字). Each value is a UTF8String (the ``[0] EXPLICIT`` value of the otherName),
  which is what published JPKI parsers read; on reading we also accept the other ASN.1 string
  types so a variant encoding does not silently lose data. All six entries are written, the two
  代替文字 entries as empty strings when there is nothing to substitute, because readers of real
  certificates expect all six.
* 利用者証明用電子証明書 (user authentication certificate): keyUsage digitalSignature only and
  no personal attributes; its subject is an opaque serial-like common name.

Sex uses the 住民基本台帳 codes: "1" 男 (male), "2" 女 (female). "3" (不明, unknown) is also
accepted because the J-LIS profile reserves a third value; we have not seen it in the wild.

The certificates made here are for the demo and for tests only. They deliberately use our own
certificate-policy OIDs (under a UUID arc, 2.25.x) rather than the real JPKI policy OIDs, so a
demo certificate can never be mistaken for one issued by 地方公共団体情報システム機構.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

__all__ = [
    "BASIC_INFO_ARC",
    "DEMO_AUTH_POLICY_OID",
    "DEMO_SIGNATURE_POLICY_OID",
    "OID_ADDRESS",
    "OID_ADDRESS_ALT",
    "OID_BIRTH_DATE",
    "OID_NAME",
    "OID_NAME_ALT",
    "OID_SEX",
    "SEX_CODES",
    "BasicInfo",
    "CAKeyPair",
    "JPKIProfileError",
    "birth_code",
    "build_crl",
    "build_demo_ca",
    "is_auth_certificate",
    "is_signature_certificate",
    "issue_auth_certificate",
    "issue_signature_certificate",
    "load_certificate",
    "load_crl",
    "parse_birth_code",
    "read_basic_info",
]

BASIC_INFO_ARC = "1.2.392.200149.8.5.5"
OID_NAME = ObjectIdentifier(BASIC_INFO_ARC + ".1")
OID_NAME_ALT = ObjectIdentifier(BASIC_INFO_ARC + ".2")
OID_SEX = ObjectIdentifier(BASIC_INFO_ARC + ".3")
OID_BIRTH_DATE = ObjectIdentifier(BASIC_INFO_ARC + ".4")
OID_ADDRESS = ObjectIdentifier(BASIC_INFO_ARC + ".5")
OID_ADDRESS_ALT = ObjectIdentifier(BASIC_INFO_ARC + ".6")

# Our own demo policy arc: 2.25.<UUID as integer> (ITU-T X.667), sub-arcs .1 signature, .2 auth.
_DEMO_POLICY_ARC = "2.25.205764185843617424470838468716102958349"
DEMO_SIGNATURE_POLICY_OID = ObjectIdentifier(_DEMO_POLICY_ARC + ".1")
DEMO_AUTH_POLICY_OID = ObjectIdentifier(_DEMO_POLICY_ARC + ".2")

SEX_CODES: dict[str, tuple[str, str]] = {
    "1": ("男", "male"),
    "2": ("女", "female"),
    "3": ("不明", "unknown"),
}

DEFAULT_CA_NAME = "kiban DEMO JPKI CA (NOT FOR PRODUCTION)"
DEFAULT_CRL_URL = "http://localhost:8000/identity/demo-ca.crl"

# Start dates of the eras, era digit as used in the JPKI birth-date attribute. 明治 starts on the
# Gregorian date of 明治元年1月1日 (1868-01-25), because the change of era was applied retroactively.
_ERAS: tuple[tuple[date, int], ...] = (
    (date(2019, 5, 1), 5),  # 令和
    (date(1989, 1, 8), 4),  # 平成
    (date(1926, 12, 25), 3),  # 昭和
    (date(1912, 7, 30), 2),  # 大正
    (date(1868, 1, 25), 1),  # 明治
)


class JPKIProfileError(ValueError):
    """A certificate or value does not follow the JPKI profile."""


def birth_code(value: date) -> str:
    """The JPKI birth-date attribute: era digit then Gregorian YYYYMMDD, e.g. ``419900102``."""
    for start, digit in _ERAS:
        if value >= start:
            return f"{digit}{value:%Y%m%d}"
    raise JPKIProfileError(f"date before the Meiji era cannot be encoded: {value.isoformat()}")


def parse_birth_code(code: str) -> date | None:
    """Parse an era-digit birth code. ``None`` when the register records the date as (partly)
    unknown, written with zeros (e.g. ``400000000``); raises for anything malformed."""
    if len(code) != 9 or not code.isascii() or not code.isdigit() or code[0] not in "12345":
        raise JPKIProfileError(f"malformed JPKI birth code: {code!r}")
    year, month, day = int(code[1:5]), int(code[5:7]), int(code[7:9])
    if year == 0 or month == 0 or day == 0:
        return None
    try:
        value = date(year, month, day)
    except ValueError as exc:
        raise JPKIProfileError(f"impossible date in JPKI birth code: {code!r}") from exc
    if birth_code(value)[0] != code[0]:
        raise JPKIProfileError(f"era digit does not match the date: {code!r}")
    return value


@dataclass(frozen=True)
class BasicInfo:
    """基本4情報 as carried by a signature certificate.

    ``birth_date`` is ``None`` only for a register entry whose birth date is (partly) unknown;
    ``birth_date_code`` then keeps the raw attribute. Alt fields are ``None`` when absent/empty.
    """

    name: str
    sex: str
    birth_date: date | None
    address: str
    name_alt: str | None = None
    address_alt: str | None = None
    birth_date_code: str = ""

    def __post_init__(self) -> None:
        if self.sex not in SEX_CODES:
            raise JPKIProfileError(f"unknown sex code {self.sex!r}; expected 1, 2 or 3")
        if not self.name or not self.address:
            raise JPKIProfileError("name and address are required")
        if self.birth_date is not None:
            code = birth_code(self.birth_date)
            if self.birth_date_code and self.birth_date_code != code:
                raise JPKIProfileError("birth_date_code does not match birth_date")
            object.__setattr__(self, "birth_date_code", code)
        elif parse_birth_code(self.birth_date_code) is not None:
            raise JPKIProfileError("birth_date is missing although birth_date_code is complete")


@dataclass(frozen=True)
class CAKeyPair:
    """A demo certification authority: its certificate, private key and CRL location."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey
    crl_url: str | None = DEFAULT_CRL_URL


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def build_demo_ca(
    *,
    common_name: str = DEFAULT_CA_NAME,
    valid_days: int = 3650,
    crl_url: str | None = DEFAULT_CRL_URL,
    not_before: datetime | None = None,
    key: rsa.RSAPrivateKey | None = None,
) -> CAKeyPair:
    """Create a self-signed RSA-2048 / SHA-256 CA allowed to sign certificates and CRLs."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    start = not_before or _now() - timedelta(minutes=5)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kiban demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=valid_days))
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
    )
    if crl_url:
        builder = builder.add_extension(_crl_dp(crl_url), critical=False)
    return CAKeyPair(builder.sign(key, hashes.SHA256()), key, crl_url)


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def _key_usage(*, non_repudiation: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _end_entity_builder(
    ca: CAKeyPair,
    public_key: rsa.RSAPublicKey,
    *,
    serial: int | None,
    not_before: datetime | None,
    not_after: datetime | None,
    crl_url: str | None,
    policy: ObjectIdentifier,
    non_repudiation: bool,
) -> x509.CertificateBuilder:
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise JPKIProfileError("JPKI keys are RSA")
    start = not_before or _now() - timedelta(minutes=5)
    end = not_after or start + timedelta(days=5 * 365)
    if end <= start:
        raise JPKIProfileError("not_after must be later than not_before")
    # Real subjects are C=JP, L=<prefecture>, L=<city>, CN=<issuance serial>: nothing personal.
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.COMMON_NAME, secrets.token_hex(12).upper()),
        ]
    )
    ca_cert = ca.certificate
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(_key_usage(non_repudiation=non_repudiation), critical=True)
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(policy, None)]), critical=True
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    url = crl_url or ca.crl_url
    if url:
        builder = builder.add_extension(_crl_dp(url), critical=False)
    return builder


def _other_name(oid: ObjectIdentifier, value: str) -> x509.OtherName:
    # cryptography adds the [0] EXPLICIT wrapper; we supply the DER of the inner UTF8String.
    return x509.OtherName(oid, core.UTF8String(value).dump())


def issue_signature_certificate(
    ca: CAKeyPair,
    public_key: rsa.RSAPublicKey,
    info: BasicInfo,
    *,
    serial: int | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    crl_url: str | None = None,
) -> x509.Certificate:
    """Issue a demo 署名用電子証明書 carrying ``info`` (validity defaults to five years)."""
    builder = _end_entity_builder(
        ca,
        public_key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        crl_url=crl_url,
        policy=DEMO_SIGNATURE_POLICY_OID,
        non_repudiation=True,
    )
    san = x509.SubjectAlternativeName(
        [
            _other_name(OID_NAME, info.name),
            _other_name(OID_NAME_ALT, info.name_alt or ""),
            _other_name(OID_SEX, info.sex),
            _other_name(OID_BIRTH_DATE, info.birth_date_code),
            _other_name(OID_ADDRESS, info.address),
            _other_name(OID_ADDRESS_ALT, info.address_alt or ""),
        ]
    )
    builder = builder.add_extension(san, critical=False)
    return builder.sign(ca.private_key, hashes.SHA256())


def issue_auth_certificate(
    ca: CAKeyPair,
    public_key: rsa.RSAPublicKey,
    *,
    serial: int | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    crl_url: str | None = None,
) -> x509.Certificate:
    """Issue a demo 利用者証明用電子証明書: digitalSignature only, no personal attributes."""
    builder = _end_entity_builder(
        ca,
        public_key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        crl_url=crl_url,
        policy=DEMO_AUTH_POLICY_OID,
        non_repudiation=False,
    )
    return builder.sign(ca.private_key, hashes.SHA256())


def _basic_info_values(cert: x509.Certificate) -> dict[str, str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {}
    values: dict[str, str] = {}
    for entry in san.get_values_for_type(x509.OtherName):
        oid = entry.type_id.dotted_string
        if not oid.startswith(BASIC_INFO_ARC + "."):
            continue
        if oid in values:
            raise JPKIProfileError(f"duplicate JPKI attribute {oid}")
        try:
            parsed = core.Asn1Value.load(entry.value, strict=True)
        except (ValueError, TypeError) as exc:
            raise JPKIProfileError(f"undecodable JPKI attribute {oid}") from exc
        if not isinstance(parsed, core.AbstractString):
            raise JPKIProfileError(f"JPKI attribute {oid} is not a string")
        values[oid] = parsed.native
    return values


def read_basic_info(cert: x509.Certificate) -> BasicInfo | None:
    """The 基本4情報 of a signature certificate; ``None`` when the certificate carries none
    (an authentication certificate). Raises :class:`JPKIProfileError` when incomplete."""
    values = _basic_info_values(cert)
    if not values:
        return None
    missing = [
        oid.dotted_string
        for oid in (OID_NAME, OID_SEX, OID_BIRTH_DATE, OID_ADDRESS)
        if oid.dotted_string not in values
    ]
    if missing:
        raise JPKIProfileError(f"JPKI basic information incomplete, missing {missing}")
    code = values[OID_BIRTH_DATE.dotted_string]
    return BasicInfo(
        name=values[OID_NAME.dotted_string],
        name_alt=values.get(OID_NAME_ALT.dotted_string) or None,
        sex=values[OID_SEX.dotted_string],
        birth_date=parse_birth_code(code),
        birth_date_code=code,
        address=values[OID_ADDRESS.dotted_string],
        address_alt=values.get(OID_ADDRESS_ALT.dotted_string) or None,
    )


def _key_usage_of(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _is_end_entity(cert: x509.Certificate) -> bool:
    try:
        return not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return True


def is_signature_certificate(cert: x509.Certificate) -> bool:
    """True for an end-entity certificate with nonRepudiation and the basic information."""
    usage = _key_usage_of(cert)
    if usage is None or not (usage.digital_signature and usage.content_commitment):
        return False
    try:
        return _is_end_entity(cert) and bool(_basic_info_values(cert))
    except JPKIProfileError:
        return False


def is_auth_certificate(cert: x509.Certificate) -> bool:
    """True for an end-entity certificate with digitalSignature only and no personal data."""
    usage = _key_usage_of(cert)
    if usage is None or not usage.digital_signature or usage.content_commitment:
        return False
    try:
        return _is_end_entity(cert) and not _basic_info_values(cert)
    except JPKIProfileError:
        return False


def build_crl(
    ca: CAKeyPair,
    revoked: Sequence[tuple[int, datetime, x509.ReasonFlags | None]],
    *,
    this_update: datetime,
    next_update: datetime,
    crl_number: int = 1,
) -> x509.CertificateRevocationList:
    """A CRL signed by ``ca`` listing ``(serial, revoked_at, reason)`` entries."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
    )
    for serial, revoked_at, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(ca.private_key, hashes.SHA256())


def _is_pem(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----BEGIN")


def load_certificate(data: bytes) -> x509.Certificate:
    """Load a certificate from DER or PEM bytes."""
    if _is_pem(data):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """Load a CRL from DER or PEM bytes."""
    if _is_pem(data):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def certificate_der(cert: x509.Certificate) -> bytes:
    """DER bytes of a certificate."""
    return cert.public_bytes(serialization.Encoding.DER)
