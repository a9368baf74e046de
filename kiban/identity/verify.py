"""Verification of JPKI signatures: detached CMS for documents, raw signatures for card login.

Pure module (no Django). Two steps, always in this order:

1. The signature itself, checked here with ``asn1crypto`` (CMS parsing) and ``cryptography``
   (RSA PKCS#1 v1.5 + SHA-256): any failure is ``signature_invalid``. This comes first so a
   tampered document is reported as tampered even when its certificate is also bad.
2. The signer certificate, validated against a :class:`TrustStore` at a given moment: path to
   a trusted CA, validity period, key usage and revocation via the loaded CRLs. Valid
   certificates are accepted on a fast path: ``cryptography``'s Rust X.509 path validator plus
   CRLs whose signature was verified once, when the trust store was compiled
   (:func:`_fast_accept`). That path can only accept; everything else (every refusal, any
   certificate listed on a CRL, CRLs it does not handle) is decided by the reference validator,
   ``pyhanko-certvalidator``, which gives the refusal codes.

Revocation is *required*: every certificate below a trust anchor must be covered by a CRL from
its issuer that is current at the moment of validation (pyhanko's ``"require"`` mode, stricter
than ``"hard-fail"``, which would let a certificate without a CRL distribution point skip the
check). A CA whose CRL was never loaded, or whose CRL has passed its nextUpdate, therefore makes
its certificates fail with ``certificate_untrusted``: we cannot say they are not revoked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from asn1crypto import algos, cms
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import verification as x509_verification
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator import errors as pv_errors
from pyhanko_certvalidator.ltv.poe import POEManager
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy
from pyhanko_certvalidator.registry import CertificateRegistry, SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer
from pyhanko_certvalidator.revinfo.manager import RevinfoManager

from kiban.identity.jpki import (
    BasicInfo,
    JPKIProfileError,
    is_auth_certificate,
    load_certificate,
    load_crl,
    read_basic_info,
)

__all__ = [
    "CertificateExpired",
    "CertificateRevoked",
    "CertificateUntrusted",
    "SignatureInvalid",
    "TrustStore",
    "VerificationError",
    "VerifiedSignature",
    "build_detached_cms",
    "sign_detached_cms",
    "verify_auth_signature",
    "verify_detached_cms",
]

_T = TypeVar("_T")


# --------------------------------------------------------------------------- errors


class VerificationError(Exception):
    """A refused signature. ``code`` is one of the four stable codes below."""

    code: ClassVar[str] = "verification_error"
    default_ja: ClassVar[str] = "検証できませんでした。"
    default_en: ClassVar[str] = "Verification failed."

    def __init__(self, message_ja: str | None = None, message_en: str | None = None) -> None:
        self.message_ja = message_ja or self.default_ja
        self.message_en = message_en or self.default_en
        super().__init__(f"{self.code}: {self.message_en}")


class SignatureInvalid(VerificationError):
    code = "signature_invalid"
    default_ja = "署名が正しくありません。書類が改ざんされたか、署名データが壊れています。"
    default_en = "The signature is not valid: the document was altered or the signature is broken."


class CertificateUntrusted(VerificationError):
    code = "certificate_untrusted"
    default_ja = "電子証明書を信頼できません。"
    default_en = "The certificate is not trusted."


class CertificateExpired(VerificationError):
    code = "certificate_expired"
    default_ja = "電子証明書の有効期間外です。"
    default_en = "The certificate is outside its validity period."


class CertificateRevoked(VerificationError):
    code = "certificate_revoked"
    default_ja = (
        "電子証明書は失効しています。氏名・住所の変更などで失効した場合は、新しい証明書で"
        "署名してください。"
    )
    default_en = (
        "The certificate has been revoked (for example after a change of name or address); "
        "sign again with the new certificate."
    )


# --------------------------------------------------------------------------- trust store


@dataclass(frozen=True)
class _Compiled:
    version: int
    trust_manager: SimpleTrustManager
    registry: CertificateRegistry
    crls: tuple[CRLContainer, ...]
    # For the success cache: (issuer DER, serial) of every CRL entry, and the moments between
    # which every loaded CRL and CA certificate is current.
    listed: frozenset[tuple[bytes, int]]
    window: tuple[datetime, datetime] | None
    # Fast path (see ``_fast_accept``): the anchors for cryptography's Rust path validator,
    # and per anchor (SHA-256 of its DER) the CRLs whose signature was verified at load.
    store: x509_verification.Store | None
    fast_crls: dict[bytes, tuple[_FastCRL, ...]]


@dataclass(frozen=True)
class _FastCRL:
    """A loaded CRL already checked once: issued by the anchor's name, signed by its key,
    the anchor may sign CRLs, and it is a plain full CRL (no distribution-point scope, not a
    delta CRL, no critical extension we do not handle)."""

    this_update: datetime
    next_update: datetime
    serials: frozenset[int]


_CACHE_LIMIT = 50_000

_SIGNATURE_USAGE = frozenset({"non_repudiation"})
_AUTH_USAGE = frozenset({"digital_signature"})


_REVOCATION_POLICY = CertRevTrustPolicy(RevocationCheckingPolicy.from_legacy("require"))


class TrustStore:
    """Trusted CA certificates and their CRLs.

    Parsing is done once per change: the compiled pyhanko objects are cached and rebuilt only
    when ``version`` moves (``add_ca``/``add_crl``). A fresh, cheap ``ValidationContext`` is
    made per verification because it is bound to the validation moment. Thread-safe.

    Successful path validations are remembered per (certificate, key usage, version) together
    with the interval in which the outcome cannot change: inside the certificate's validity,
    inside every CA's validity, between the latest thisUpdate and the earliest nextUpdate of the
    loaded CRLs, and only for certificates that appear on no loaded CRL at all. Failures are
    never cached.
    """

    def __init__(self) -> None:
        self._cas: dict[bytes, tuple[asn1_x509.Certificate, x509.Certificate]] = {}
        self._crls: dict[bytes, tuple[asn1_crl.CertificateList, x509.CertificateRevocationList]]
        self._crls = {}
        self._version = 0
        self._compiled: _Compiled | None = None
        self._lock = threading.Lock()
        self._ok: dict[tuple[bytes, frozenset[str]], tuple[int, datetime, datetime]] = {}

    @property
    def version(self) -> int:
        return self._version

    def add_ca(self, cert: x509.Certificate | bytes) -> None:
        """Trust ``cert`` (DER, PEM or a ``cryptography`` certificate) as an anchor."""
        der = _cert_der(cert)
        pair = (asn1_x509.Certificate.load(der), x509.load_der_x509_certificate(der))
        with self._lock:
            self._cas[hashlib.sha256(der).digest()] = pair
            self._version += 1

    def add_crl(self, crl: x509.CertificateRevocationList | bytes) -> None:
        """Load a CRL (DER, PEM or ``cryptography`` object). Its signature is checked during
        validation, so loading an unsigned or foreign CRL grants nothing."""
        if isinstance(crl, bytes):
            crl = load_crl(crl)
        der = crl.public_bytes(serialization.Encoding.DER)
        with self._lock:
            self._crls[hashlib.sha256(der).digest()] = (asn1_crl.CertificateList.load(der), crl)
            self._version += 1

    def replace_crls(self, crls: list[x509.CertificateRevocationList]) -> None:
        """Swap all CRLs at once (the periodic CRL refresh)."""
        parsed = {}
        for crl in crls:
            der = crl.public_bytes(serialization.Encoding.DER)
            parsed[hashlib.sha256(der).digest()] = (asn1_crl.CertificateList.load(der), crl)
        with self._lock:
            self._crls = parsed
            self._version += 1

    def _compile(self) -> _Compiled:
        compiled = self._compiled
        if compiled is not None and compiled.version == self._version:
            return compiled
        with self._lock:
            if self._compiled is None or self._compiled.version != self._version:
                self._compiled = self._build()
                self._ok.clear()
            return self._compiled

    def _build(self) -> _Compiled:
        roots = [pair[0] for pair in self._cas.values()]
        crl_objs = [pair[1] for pair in self._crls.values()]
        listed = frozenset(
            (crl.issuer.public_bytes(), entry.serial_number) for crl in crl_objs for entry in crl
        )
        window: tuple[datetime, datetime] | None = None
        if crl_objs and all(c.next_update_utc is not None for c in crl_objs):
            lows = [c.last_update_utc for c in crl_objs]
            lows += [pair[1].not_valid_before_utc for pair in self._cas.values()]
            highs = [c.next_update_utc for c in crl_objs if c.next_update_utc is not None]
            highs += [pair[1].not_valid_after_utc for pair in self._cas.values()]
            window = (max(lows), min(highs))
        ca_certs = [pair[1] for pair in self._cas.values()]
        fast_crls: dict[bytes, tuple[_FastCRL, ...]] = {}
        for anchor_id, (_, ca_cert) in self._cas.items():
            checked = [c for crl in crl_objs if (c := _fast_crl(crl, ca_cert)) is not None]
            fast_crls[anchor_id] = tuple(checked)
        return _Compiled(
            version=self._version,
            trust_manager=SimpleTrustManager.build(trust_roots=roots),
            registry=CertificateRegistry.build(roots),
            crls=tuple(CRLContainer(pair[0]) for pair in self._crls.values()),
            listed=listed,
            window=window,
            store=x509_verification.Store(ca_certs) if ca_certs else None,
            fast_crls=fast_crls,
        )

    def _cached_ok(self, cert_der: bytes, usage: frozenset[str], at: datetime) -> bool:
        compiled = self._compile()
        hit = self._ok.get((hashlib.sha256(cert_der).digest(), usage))
        return hit is not None and hit[0] == compiled.version and hit[1] <= at <= hit[2]

    def _remember_ok(self, cert: x509.Certificate, usage: frozenset[str], version: int) -> None:
        compiled = self._compiled
        if compiled is None or compiled.version != version or compiled.window is None:
            return
        if (cert.issuer.public_bytes(), cert.serial_number) in compiled.listed:
            return  # on a CRL, perhaps with a later revocation date: always ask pyhanko
        low = max(compiled.window[0], cert.not_valid_before_utc)
        high = min(compiled.window[1], cert.not_valid_after_utc)
        if low <= high:
            if len(self._ok) >= _CACHE_LIMIT:
                self._ok.clear()
            key = (hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest(), usage)
            self._ok[key] = (version, low, high)

    def validation_context(self, moment: datetime) -> ValidationContext:
        """A pyhanko validation context at ``moment`` (aware datetime), CRLs required, no
        network fetching."""
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        return self._context(self._compile(), moment)

    @staticmethod
    def _context(compiled: _Compiled, moment: datetime) -> ValidationContext:
        revinfo = RevinfoManager(
            certificate_registry=compiled.registry,
            poe_manager=POEManager(),
            crls=compiled.crls,
            ocsps=(),
        )
        return ValidationContext(
            moment=moment,
            allow_fetching=False,
            revinfo_policy=_REVOCATION_POLICY,
            trust_manager=compiled.trust_manager,
            certificate_registry=compiled.registry,
            revinfo_manager=revinfo,
        )


_FAST_CRL_EXTENSIONS = frozenset({x509.CRLNumber.oid, x509.AuthorityKeyIdentifier.oid})


def _fast_crl(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> _FastCRL | None:
    """``crl`` prepared for the fast path when ``ca`` issued it, else None.

    The checks run once per trust-store change, not per request: same issuer name, the CA's
    key verifies the CRL's signature (``cryptography``), the CA may sign CRLs, and the CRL is
    a plain full CRL. Anything else (IssuingDistributionPoint, delta CRLs, unknown
    extensions, indirect-CRL entry extensions) is left to pyhanko-certvalidator."""
    if crl.issuer.public_bytes() != ca.subject.public_bytes() or crl.next_update_utc is None:
        return None
    try:
        usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.crl_sign or not crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
            return None
    except (x509.ExtensionNotFound, TypeError, ValueError):
        return None
    if any(ext.oid not in _FAST_CRL_EXTENSIONS for ext in crl.extensions):
        return None
    serials = []
    for entry in crl:
        if any(ext.critical for ext in entry.extensions):
            return None
        serials.append(entry.serial_number)
    return _FastCRL(crl.last_update_utc, crl.next_update_utc, frozenset(serials))


def _cert_der(cert: x509.Certificate | bytes) -> bytes:
    if isinstance(cert, bytes):
        cert = load_certificate(cert)
    return cert.public_bytes(serialization.Encoding.DER)


# --------------------------------------------------------------------------- path validation


def _run(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a pyhanko coroutine synchronously.

    Without fetchers the validation coroutines never suspend, so stepping the coroutine once is
    enough and works even inside a running event loop (async views). Should a future version
    suspend, the whole (side-effect free) validation is redone on a private loop in a thread.
    """
    coro = factory()
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, factory()).result()


def _key_usage_check(attribute: str) -> Callable[[Any, x509.Certificate, Any], None]:
    def check(policy: Any, cert: x509.Certificate, usage: Any) -> None:
        if not isinstance(usage, x509.KeyUsage) or not getattr(usage, attribute):
            raise ValueError(f"keyUsage {attribute} required")

    return check


def _extension_policies() -> dict[frozenset[str], x509_verification.ExtensionPolicy]:
    # The web-PKI defaults of cryptography's validator (basicConstraints, AKI, EKU if
    # present...), plus the JPKI profile: a critical certificatePolicies extension is allowed
    # (any policy, as in pyhanko's default), subjectAltName is optional (the authentication
    # certificate has none; the basic information in the signature certificate's is read
    # by jpki.read_basic_info), keyUsage must grant the requested use.
    agnostic = x509_verification.Criticality.AGNOSTIC
    policies = {}
    for usage, attribute in (
        (_SIGNATURE_USAGE, "content_commitment"),  # nonRepudiation
        (_AUTH_USAGE, "digital_signature"),
    ):
        policies[usage] = (
            x509_verification.ExtensionPolicy.webpki_defaults_ee()
            .may_be_present(x509.CertificatePolicies, agnostic, None)
            .may_be_present(x509.SubjectAlternativeName, agnostic, None)
            .require_present(x509.KeyUsage, agnostic, _key_usage_check(attribute))
        )
    return policies


def _ca_policy() -> x509_verification.ExtensionPolicy:
    return x509_verification.ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.CertificatePolicies, x509_verification.Criticality.AGNOSTIC, None
    )


def _fast_accept(
    compiled: _Compiled, cert: x509.Certificate, at: datetime, key_usage: frozenset[str]
) -> bool:
    """True only when ``cert`` is certainly acceptable; False means "ask pyhanko".

    cryptography's Rust validator (RFC 5280 path building, signatures, validity of every
    certificate at ``at``, basic constraints, critical extensions, key usage through the
    policies above) must accept a path of exactly anchor → ``cert``; then a CRL from that
    anchor, verified at load, must be current at ``at`` and not list ``cert``'s serial. Every
    refusal, and every certificate listed on a CRL, goes to pyhanko-certvalidator, which gives
    the refusal code: this path can only accept, never refuse.
    """
    ee_policy = _EE_POLICIES.get(key_usage)
    if compiled.store is None or ee_policy is None:
        return False
    try:
        verifier = (
            x509_verification.PolicyBuilder()
            .store(compiled.store)
            .time(at)
            .extension_policies(ca_policy=_CA_POLICY, ee_policy=ee_policy)
            .build_client_verifier()
        )
        chain = verifier.verify(cert, []).chain
    except (x509_verification.VerificationError, ValueError, TypeError):
        return False
    if len(chain) != 2:
        return False
    anchor_id = chain[1].fingerprint(hashes.SHA256())
    crls = compiled.fast_crls.get(anchor_id, ())
    serial = cert.serial_number
    if any(serial in crl.serials for crl in crls):
        return False
    return any(crl.this_update <= at <= crl.next_update for crl in crls)


def _validate_path(
    cert: x509.Certificate,
    asn1_cert: asn1_x509.Certificate,
    trust: TrustStore,
    at: datetime,
    key_usage: frozenset[str],
) -> None:
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    if trust._cached_ok(asn1_cert.dump(), key_usage, at):
        return
    compiled = trust._compile()
    if _fast_accept(compiled, cert, at, key_usage):
        trust._remember_ok(cert, key_usage, compiled.version)
        return
    _reference_validate(cert, asn1_cert, trust, compiled, at, key_usage)


def _reference_validate(
    cert: x509.Certificate,
    asn1_cert: asn1_x509.Certificate,
    trust: TrustStore,
    compiled: _Compiled,
    at: datetime,
    key_usage: frozenset[str],
) -> None:
    """pyhanko-certvalidator's verdict (the reference validator; gives the refusal codes)."""
    context = trust._context(compiled, at)
    validator = CertificateValidator(asn1_cert, validation_context=context)
    try:
        _run(lambda: validator.async_validate_usage(set(key_usage)))
    except pv_errors.RevokedError as exc:
        raise CertificateRevoked() from exc
    except (pv_errors.ExpiredError, pv_errors.NotYetValidError) as exc:
        raise CertificateExpired() from exc
    except pv_errors.InsufficientRevinfoError as exc:
        raise CertificateUntrusted(
            "失効情報（CRL）を確認できないため、電子証明書を信頼できません。",
            "The certificate cannot be trusted: no current revocation list (CRL) covers it.",
        ) from exc
    except pv_errors.InvalidCertificateError as exc:
        raise CertificateUntrusted(
            "この電子証明書はこの用途に使えません。",
            "The certificate is not allowed for this use.",
        ) from exc
    except pv_errors.PathBuildingError as exc:
        raise CertificateUntrusted(
            "電子証明書の発行元が信頼できる認証局ではありません。",
            "The certificate was not issued by a trusted certification authority.",
        ) from exc
    except (pv_errors.PathError, pv_errors.ValidationError) as exc:
        raise CertificateUntrusted() from exc
    trust._remember_ok(cert, key_usage, compiled.version)


_EE_POLICIES = _extension_policies()
_CA_POLICY = _ca_policy()


# --------------------------------------------------------------------------- CMS


@dataclass(frozen=True)
class VerifiedSignature:
    """A detached CMS signature that passed every check."""

    certificate: x509.Certificate
    basic_info: BasicInfo | None
    signing_time: datetime | None
    payload_sha256: bytes
    certificate_der: bytes  # DER of ``certificate`` (computed once, for fingerprints)


_RSA_SIGNATURE_ALGOS = frozenset({"rsassa_pkcs1v15", "sha256_rsa"})
_DIGEST_INFO_SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def _bad(reason_ja: str, reason_en: str) -> SignatureInvalid:
    return SignatureInvalid(
        f"署名が正しくありません（{reason_ja}）。", f"The signature is not valid: {reason_en}."
    )


@dataclass(frozen=True)
class _ParsedCms:
    signer: asn1_x509.Certificate
    signed_attrs_der: bytes
    signature: bytes
    message_digest: bytes
    signing_time: datetime | None


def _single_attr(by_type: dict[str, list[cms.CMSAttribute]], name: str) -> Any:
    found = by_type.get(name, [])
    if len(found) > 1 or (found and len(found[0]["values"]) != 1):
        raise _bad(f"属性 {name} が重複しています", f"duplicate {name} attribute")
    return found[0]["values"][0] if found else None


def _signer_cert(signed_data: cms.SignedData, signer_info: cms.SignerInfo) -> asn1_x509.Certificate:
    sid = signer_info["sid"]
    certs = [c.chosen for c in signed_data["certificates"] if c.name == "certificate"]
    for cert in certs:
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if cert.serial_number != ias["serial_number"].native:
                continue
            # Byte equality first: the RFC 5280 name comparison (string prep) is slow.
            if cert.issuer.dump() == ias["issuer"].dump() or cert.issuer == ias["issuer"]:
                return cert
        elif sid.name == "subject_key_identifier" and cert.key_identifier == sid.chosen.native:
            return cert
    raise _bad("署名者の証明書が含まれていません", "the signer certificate is not included")


def _parse_cms(signature_der: bytes) -> _ParsedCms:
    try:
        info = cms.ContentInfo.load(signature_der, strict=True)
        if info["content_type"].native != "signed_data":
            raise _bad("SignedData ではありません", "not a CMS SignedData")
        signed_data = info["content"]
        encap = signed_data["encap_content_info"]
        if encap["content"].native is not None:
            raise _bad("分離署名ではありません", "not a detached signature")
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise _bad("署名者が1人ではありません", "exactly one signer is expected")
        signer_info = signer_infos[0]
        if signer_info["digest_algorithm"]["algorithm"].native != "sha256":
            raise _bad("ハッシュ関数が SHA-256 ではありません", "digest algorithm is not SHA-256")
        if signer_info["signature_algorithm"]["algorithm"].native not in _RSA_SIGNATURE_ALGOS:
            raise _bad(
                "署名方式が RSA ではありません", "signature algorithm is not RSA PKCS#1 v1.5"
            )
        attrs = signer_info["signed_attrs"]
        if not len(attrs):
            raise _bad("署名属性がありません", "signed attributes are missing")
        by_type: dict[str, list[cms.CMSAttribute]] = {}
        for attr in attrs:  # one pass: decoding each attribute type is the costly part
            by_type.setdefault(attr["type"].native, []).append(attr)
        content_type = _single_attr(by_type, "content_type")
        digest = _single_attr(by_type, "message_digest")
        signing_time = _single_attr(by_type, "signing_time")
        if content_type is None or content_type.native != encap["content_type"].native:
            raise _bad("content-type 属性が不正です", "content-type attribute mismatch")
        if digest is None:
            raise _bad("message-digest 属性がありません", "message-digest attribute missing")
        signer = _signer_cert(signed_data, signer_info)
        # The signature covers the DER of the attributes as a SET (tag 0x31), not as [0].
        attrs_der = b"\x31" + attrs.dump()[1:]
        return _ParsedCms(
            signer=signer,
            signed_attrs_der=attrs_der,
            signature=signer_info["signature"].native,
            message_digest=digest.native,
            signing_time=signing_time.native if signing_time is not None else None,
        )
    except VerificationError:
        raise
    except Exception as exc:  # any decoding failure of untrusted input is a broken signature
        raise _bad("CMS の構造が不正です", "malformed CMS structure") from exc


def _rsa_key(cert: x509.Certificate) -> rsa.RSAPublicKey:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise _bad("RSA 鍵ではありません", "the certificate key is not RSA")
    return key


def verify_detached_cms(
    payload: bytes, signature_der: bytes, trust: TrustStore, *, at: datetime
) -> VerifiedSignature:
    """Verify a detached CMS SignedData over ``payload`` made with a JPKI signature certificate.

    Guarantees on return: the signature matches ``payload`` bit for bit, the signer certificate
    chains to a CA in ``trust``, is within its validity at ``at``, allows nonRepudiation and is
    not on a current CRL. Raises a :class:`VerificationError` subclass otherwise.
    """
    parsed = _parse_cms(signature_der)
    payload_digest = hashlib.sha256(payload).digest()
    if not hmac.compare_digest(parsed.message_digest, payload_digest):
        raise _bad("書類の内容が署名時と異なります", "the document differs from what was signed")
    try:
        cert = x509.load_der_x509_certificate(parsed.signer.dump())
    except ValueError as exc:
        raise _bad("署名者の証明書が壊れています", "the signer certificate is malformed") from exc
    try:
        _rsa_key(cert).verify(
            parsed.signature, parsed.signed_attrs_der, padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature as exc:
        raise _bad("署名値が一致しません", "the signature value does not match") from exc
    _validate_path(cert, parsed.signer, trust, at, _SIGNATURE_USAGE)
    try:
        info = read_basic_info(cert)
    except JPKIProfileError as exc:
        raise CertificateUntrusted(
            "電子証明書の基本4情報が不正です。", "The certificate's basic information is malformed."
        ) from exc
    return VerifiedSignature(
        cert,
        info,
        parsed.signing_time,
        payload_digest,
        cert.public_bytes(serialization.Encoding.DER),
    )


def verify_auth_signature(
    nonce: bytes, signature: bytes, cert_der: bytes, trust: TrustStore, *, at: datetime
) -> x509.Certificate:
    """Verify a card-login response: an RSA PKCS#1 v1.5 / SHA-256 signature over ``nonce`` by the
    key of a JPKI user-authentication certificate. Same refusal codes as CMS verification."""
    try:
        cert = x509.load_der_x509_certificate(cert_der)
        asn1_cert = asn1_x509.Certificate.load(cert_der, strict=True)
    except ValueError as exc:
        raise _bad("証明書が壊れています", "the certificate is malformed") from exc
    try:
        _rsa_key(cert).verify(signature, nonce, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise _bad("署名値が一致しません", "the signature value does not match") from exc
    if not is_auth_certificate(cert):
        raise CertificateUntrusted(
            "利用者証明用電子証明書ではありません。",
            "This is not a user-authentication certificate.",
        )
    _validate_path(cert, asn1_cert, trust, at, _AUTH_USAGE)
    return cert


def build_detached_cms(
    payload: bytes,
    cert: x509.Certificate,
    sign: Callable[[bytes], bytes],
    *,
    signing_time: datetime | None = None,
    extra_certs: tuple[x509.Certificate, ...] = (),
) -> bytes:
    """DER CMS SignedData (detached, SHA-256 / RSA PKCS#1 v1.5) with signed attributes
    contentType, signingTime and messageDigest and the signer certificate included.

    ``sign`` returns the RSA PKCS#1 v1.5 SHA-256 signature of the bytes given to it, so the key
    may live in software or on a card.
    """
    moment = (signing_time or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    time_choice = "utc_time" if 1950 <= moment.year < 2050 else "generalized_time"
    asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({time_choice: moment})]}),
            cms.CMSAttribute(
                {"type": "message_digest", "values": [hashlib.sha256(payload).digest()]}
            ),
        ]
    )
    signature = sign(attrs.dump())
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}),
            "signature": signature,
        }
    )
    certs = [asn1_cert] + [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in extra_certs
    ]
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "data"},
            "certificates": certs,
            "signer_infos": [signer_info],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


def sign_detached_cms(
    payload: bytes,
    private_key: rsa.RSAPrivateKey,
    cert: x509.Certificate,
    *,
    signing_time: datetime | None = None,
) -> bytes:
    """Sign ``payload`` with a software key into a detached DER CMS (see
    :func:`build_detached_cms`)."""
    return build_detached_cms(
        payload,
        cert,
        lambda data: private_key.sign(data, padding.PKCS1v15(), hashes.SHA256()),
        signing_time=signing_time,
    )


def digest_info_sha256(data: bytes) -> bytes:
    """The PKCS#1 DigestInfo for SHA-256 of ``data`` (what a JPKI card signs)."""
    return _DIGEST_INFO_SHA256_PREFIX + hashlib.sha256(data).digest()
