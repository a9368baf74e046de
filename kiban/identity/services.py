"""Identity operations: trust (CAs, CRLs, demo CA), cards, card login, coverage.

Each public function that changes data is one transaction and, where a municipality's
residents are concerned, audited in that municipality's chain. Trust is deployment-wide
(the card issuer is national), so trust changes are logged, not put in a municipal chain.

The cryptography itself lives in the pure modules :mod:`kiban.identity.jpki` and
:mod:`kiban.identity.verify`; this module stores and wires it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# asn1crypto builds a reverse OID map on first use and never refreshes it; modules that
# register CMS attributes later (asn1crypto.tsp, pyhanko's CAdES types, used to sign PDFs)
# must therefore be imported before the first CMS is built in this process.
import asn1crypto.tsp  # noqa: F401  # isort: skip
import pyhanko.sign.general  # noqa: F401  # isort: skip
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from kiban.core import audit
from kiban.core.actors import SYSTEM, Actor
from kiban.core.errors import Forbidden, KibanError, NotFound, ValidationFailed
from kiban.core.kana import normalize_kana
from kiban.core.models import Municipality, Role
from kiban.identity import jpki
from kiban.identity.models import (
    Card,
    LoginChallenge,
    ResidentToken,
    RevocationList,
    TrustedCA,
    fingerprint,
)
from kiban.identity.verify import TrustStore, VerificationError, verify_auth_signature
from kiban.registry.models import OPEN_END, Person, PersonState, Status

log = logging.getLogger(__name__)

CHALLENGE_TTL = timedelta(minutes=5)
TOKEN_TTL = timedelta(hours=8)
DEMO_CA_NAME = "kiban DEMO JPKI CA (NOT FOR PRODUCTION)"
DEMO_AUTH_PIN = "1234"
DEMO_SIGN_PIN = "DEMO1234"
DEMO_CRL_DAYS = 30

__all__ = [
    "CHALLENGE_TTL",
    "Coverage",
    "LoginResult",
    "add_trusted_ca",
    "addresses_match",
    "basic_info_for",
    "card_coverage",
    "card_login",
    "create_challenge",
    "current_state",
    "demo_ca",
    "demo_card_path",
    "fetch_crls",
    "find_resident_token",
    "full_address",
    "init_demo_ca",
    "invalidate_trust",
    "issue_card",
    "issue_resident_token",
    "load_crl",
    "names_match",
    "publish_demo_crl",
    "register_card",
    "revoke_card",
    "revoke_cards_for",
    "session_card_valid",
    "trust_store",
    "verification_refusal",
]


# --------------------------------------------------------------------------- errors


def verification_refusal(exc: VerificationError) -> KibanError:
    """The API/web refusal for a failed signature or certificate check (same code)."""
    return KibanError(exc.message_ja, exc.message_en, code=exc.code, status=422)


def _now() -> datetime:
    return timezone.now()


# --------------------------------------------------------------------------- trust store

_trust_lock = threading.Lock()
_trust_cache: tuple[Any, TrustStore] | None = None


def invalidate_trust() -> None:
    """Forget this process's compiled trust store (other processes notice the DB change)."""
    global _trust_cache
    with _trust_lock:
        _trust_cache = None


def _trust_key() -> tuple[Any, ...]:
    # Plain SQL: this runs on every verification, and compiling the ORM query costs more
    # than running it.
    ca_table, crl_table = TrustedCA._meta.db_table, RevocationList._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ca.id, ca.updated_at, ca.is_demo, crl.fingerprint FROM {ca_table} ca "  # noqa: S608
            f"LEFT JOIN {crl_table} crl ON crl.ca_id = ca.id WHERE ca.active ORDER BY ca.id"
        )
        rows = tuple(tuple(r) for r in cursor.fetchall())
    return (settings.DEMO, rows)


def trust_store() -> TrustStore:
    """The deployment's trust store: active CAs (demo CAs only in demo/test) and their CRLs.

    Compiled once and reused while the trust tables are unchanged (checked with one small
    query per call), so verification stays fast under load.
    """
    global _trust_cache
    key = _trust_key()
    cached = _trust_cache
    if cached is not None and cached[0] == key:
        return cached[1]
    if settings.DEMO and _refresh_stale_demo_crl():
        key = _trust_key()
    store = TrustStore()
    cas = TrustedCA.objects.filter(active=True).select_related("crl")
    for ca in cas:
        if ca.is_demo and not settings.DEMO:
            continue
        store.add_ca(bytes(ca.certificate))
        crl = getattr(ca, "crl", None)
        if crl is not None:
            store.add_crl(bytes(crl.der))
    with _trust_lock:
        _trust_cache = (key, store)
    return store


def _ca_row_for(cert: x509.Certificate) -> TrustedCA | None:
    return TrustedCA.objects.filter(
        fingerprint=fingerprint(cert.public_bytes(serialization.Encoding.DER))
    ).first()


def add_trusted_ca(
    *,
    actor: Actor,
    certificate: bytes | x509.Certificate,
    is_demo: bool = False,
    crl_url: str | None = None,
) -> TrustedCA:
    """Trust an issuing CA (PEM or DER). Idempotent: re-adding re-activates it.

    Only the operator (CLI) or a platform operator may change trust.
    """
    if actor.kind not in {"operator", "system"} and not actor.is_platform_operator:
        raise Forbidden()
    try:
        cert = (
            certificate
            if isinstance(certificate, x509.Certificate)
            else jpki.load_certificate(certificate)
        )
    except ValueError as exc:
        raise ValidationFailed(
            "CA証明書を読み込めません（PEM または DER）。",
            "Cannot read the CA certificate (PEM or DER expected).",
            code="certificate_invalid",
        ) from exc
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise ValidationFailed(
            "認証局（CA）の証明書ではありません。",
            "This is not a certification authority (CA) certificate.",
            code="certificate_invalid",
        )
    der = cert.public_bytes(serialization.Encoding.DER)
    url = crl_url if crl_url is not None else _crl_url_of(cert)
    with transaction.atomic():
        row, _created = TrustedCA.objects.update_or_create(
            fingerprint=fingerprint(der),
            defaults={
                "subject": cert.subject.rfc4514_string()[:500],
                "certificate": der,
                "not_after": cert.not_valid_after_utc,
                "is_demo": is_demo,
                "active": True,
                "crl_url": url or "",
            },
        )
    log.info("trust: %s added CA %s (%s)", actor.id, row.subject, row.fingerprint)
    invalidate_trust()
    return row


def _crl_url_of(cert: x509.Certificate) -> str:
    try:
        dps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return ""
    for dp in dps:
        for name in dp.full_name or []:
            if isinstance(name, x509.UniformResourceIdentifier):
                return str(name.value)
    return ""


def load_crl(*, actor: Actor, data: bytes, source: str = "") -> RevocationList:
    """Load a CRL (DER or PEM) for a trusted CA, replacing the one loaded before.

    Refused unless it is signed by a trusted CA; a CRL older than the loaded one (lower
    CRL number or earlier thisUpdate) is refused too, so nobody can roll revocations back.
    """
    if actor.kind not in {"operator", "system"} and not actor.is_platform_operator:
        raise Forbidden()
    try:
        crl = jpki.load_crl(data)
    except ValueError as exc:
        raise ValidationFailed(
            "CRL を読み込めません（PEM または DER）。",
            "Cannot read the CRL (PEM or DER expected).",
            code="crl_invalid",
        ) from exc
    issuer_ca: TrustedCA | None = None
    for ca in TrustedCA.objects.filter(active=True):
        cert = x509.load_der_x509_certificate(bytes(ca.certificate))
        if cert.subject != crl.issuer:
            continue
        public_key = cert.public_key()
        if isinstance(public_key, rsa.RSAPublicKey) and crl.is_signature_valid(public_key):
            issuer_ca = ca
            break
    if issuer_ca is None:
        raise ValidationFailed(
            "この CRL は信頼している認証局が発行したものではありません（署名を確認できません）。",
            "This CRL was not issued by a trusted CA (its signature does not verify).",
            code="crl_untrusted",
        )
    try:
        number: int | None = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = None
    der = crl.public_bytes(serialization.Encoding.DER)
    with transaction.atomic():
        existing = RevocationList.objects.select_for_update().filter(ca=issuer_ca).first()
        if existing is not None:
            older = crl.last_update_utc < existing.this_update or (
                number is not None
                and existing.crl_number is not None
                and number < existing.crl_number
            )
            if older:
                raise ValidationFailed(
                    "読み込み済みの CRL より古い CRL です。",
                    "This CRL is older than the one already loaded.",
                    code="crl_outdated",
                )
        row, _ = RevocationList.objects.update_or_create(
            ca=issuer_ca,
            defaults={
                "der": der,
                "fingerprint": fingerprint(der),
                "crl_number": number,
                "this_update": crl.last_update_utc,
                "next_update": crl.next_update_utc,
                "entries": len(crl),
                "source": source[:500],
            },
        )
    log.info(
        "trust: %s loaded CRL #%s for %s (%d entries)",
        actor.id,
        number,
        issuer_ca.subject,
        len(crl),
    )
    invalidate_trust()
    return row


def fetch_crls(
    *, actor: Actor, url: str | None = None, timeout: float = 10.0
) -> list[RevocationList]:
    """Download and load the CRL of every trusted CA from its distribution point (or ``url``).

    Plain HTTP GET with a timeout (CRLs are signed, so transport security is not needed
    for integrity). A failing CA does not stop the others; the errors are raised together
    at the end so a timer unit reports failure.
    """
    targets: list[tuple[str, str]] = []
    if url:
        targets.append(("(given)", url))
    else:
        for ca in TrustedCA.objects.filter(active=True).exclude(crl_url=""):
            if ca.is_demo and not settings.DEMO:
                continue
            targets.append((ca.subject, ca.crl_url))
    loaded: list[RevocationList] = []
    problems: list[str] = []
    for label, target in targets:
        if not target.startswith(("http://", "https://")):
            problems.append(f"{label}: unsupported URL {target}")
            continue
        try:
            with urllib.request.urlopen(target, timeout=timeout) as response:  # noqa: S310
                body = response.read(50 * 1024 * 1024)
            loaded.append(load_crl(actor=actor, data=body, source=target))
        except KibanError as exc:
            problems.append(f"{label}: {exc.message_en}")
        except (OSError, ValueError) as exc:
            problems.append(f"{label}: {exc}")
    if problems:
        raise KibanError(
            "CRL の取得に失敗したものがあります。",
            "Some CRLs could not be fetched.",
            code="crl_fetch_failed",
            status=502,
            details=problems,
        )
    return loaded


# --------------------------------------------------------------------------- demo CA


def _demo_dir() -> Path:
    return Path(settings.KEYS_DIR) / "demo-ca"


def demo_ca() -> jpki.CAKeyPair | None:
    """The demo CA with its private key, when this deployment created one (demo only)."""
    if not settings.DEMO:
        return None
    folder = _demo_dir()
    cert_path, key_path = folder / "ca.pem", folder / "ca-key.pem"
    if not cert_path.exists() or not key_path.exists():
        return None
    cert = jpki.load_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        return None
    return jpki.CAKeyPair(cert, key, _crl_url_of(cert) or None)


def _refuse_outside_demo() -> None:
    if not settings.DEMO:
        raise Forbidden(
            "デモ用認証局は本番環境では使えません。",
            "The demo CA cannot be used in production mode.",
            code="demo_only",
        )


def init_demo_ca(*, actor: Actor, force: bool = False) -> TrustedCA:
    """Create (or reuse) the demo issuing CA under KEYS_DIR, trust it and publish its CRL.

    Refused in production mode. Its name says DEMO, it is stored with ``is_demo`` and it is
    never trusted outside demo and test settings.
    """
    _refuse_outside_demo()
    existing = demo_ca()
    if existing is not None and not force:
        row = _ca_row_for(existing.certificate)
        if row is not None and row.active:
            return row
        row = add_trusted_ca(actor=actor, certificate=existing.certificate, is_demo=True)
        publish_demo_crl(actor=actor)
        return row
    crl_url = f"{settings.PORTAL_BASE_URL.rstrip('/')}/identity/demo-ca.crl"
    ca = jpki.build_demo_ca(common_name=DEMO_CA_NAME, crl_url=crl_url)
    folder = _demo_dir()
    folder.mkdir(parents=True, exist_ok=True)
    key_path = folder / "ca-key.pem"
    key_path.write_bytes(
        ca.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    (folder / "ca.pem").write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    row = add_trusted_ca(actor=actor, certificate=ca.certificate, is_demo=True)
    publish_demo_crl(actor=actor, ca=ca)
    return row


def publish_demo_crl(*, actor: Actor = SYSTEM, ca: jpki.CAKeyPair | None = None) -> bytes | None:
    """Re-issue the demo CA's CRL from the card records and load it. Returns its DER."""
    ca = ca or demo_ca()
    if ca is None:
        return None
    issuer = fingerprint(ca.certificate.public_bytes(serialization.Encoding.DER))
    revoked: list[tuple[int, datetime, x509.ReasonFlags | None]] = []
    for card in Card.objects.filter(issuer_fingerprint=issuer).filter(
        Q(revoked_at__isnull=False) | Q(sig_revoked_at__isnull=False)
    ):
        if card.revoked_at is not None:
            revoked.append((int(card.auth_serial, 16), card.revoked_at, None))
        when = card.sig_revoked_at or card.revoked_at
        assert when is not None
        reason = x509.ReasonFlags.affiliation_changed if card.sig_revoked_at else None
        revoked.append((int(card.sig_serial, 16), when, reason))
    row = TrustedCA.objects.filter(fingerprint=issuer).first()
    previous = RevocationList.objects.filter(ca=row).first() if row else None
    number = (previous.crl_number or 0) + 1 if previous else 1
    now = datetime.now(UTC).replace(microsecond=0)
    # Never dated before the CRL already loaded (load_crl refuses an older one), and never
    # after now: several revocations within one second used to add a second each, and a CRL
    # dated in the future is not yet valid, so every signature of the CA was refused until
    # the clock caught up. The same date with a higher CRL number is a newer CRL.
    if previous is not None and previous.this_update > now:
        now = previous.this_update
    crl = jpki.build_crl(
        ca,
        revoked,
        this_update=now,
        next_update=now + timedelta(days=DEMO_CRL_DAYS),
        crl_number=number,
    )
    der = crl.public_bytes(serialization.Encoding.DER)
    if row is not None:
        load_crl(actor=actor, data=der, source="demo-ca")
    return der


def demo_crl_der() -> bytes | None:
    """The currently loaded demo CRL (served at /identity/demo-ca.crl in demo settings)."""
    ca = demo_ca()
    if ca is None:
        return None
    row = TrustedCA.objects.filter(
        fingerprint=fingerprint(ca.certificate.public_bytes(serialization.Encoding.DER))
    ).first()
    crl = RevocationList.objects.filter(ca=row).first() if row else None
    return bytes(crl.der) if crl else None


def _refresh_stale_demo_crl() -> bool:
    soon = _now() + timedelta(days=1)
    stale = TrustedCA.objects.filter(active=True, is_demo=True).filter(
        Q(crl__isnull=True) | Q(crl__next_update__lt=soon)
    )
    if not stale.exists() or demo_ca() is None:
        return False
    publish_demo_crl()
    return True


# --------------------------------------------------------------------------- registry view


def current_state(person: Person) -> PersonState | None:
    """The person's current registry state (valid_to = OPEN_END)."""
    return (
        PersonState.objects.filter(
            municipality_id=person.municipality_id, person=person, valid_to=OPEN_END
        )
        .order_by("-valid_from")
        .first()
    )


def full_address(state: PersonState, municipality: Municipality) -> str:
    """都道府県 + 市区町村 + 町字 + 番地以下 (+ full-width space + 方書), as on the card.

    The registry may keep the 町字 with or without the prefecture and municipality; the
    missing leading parts are added from the municipality.
    """
    town = state.town_name or ""
    if not town.startswith(municipality.prefecture or "\0"):
        if not town.startswith(municipality.name or "\0"):
            town = f"{municipality.name}{town}"
        town = f"{municipality.prefecture}{town}"
    base = f"{town}{state.address_detail or ''}"
    return f"{base}\u3000{state.building}" if state.building else base


_HYPHEN_LIKE = str.maketrans(
    {c: "－" for c in "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2500\uff70ー"}
)


def _norm(text: str) -> str:
    """Comparison form: kiban.core.kana width/kana normalisation, no spaces, one hyphen.

    Kanji are not changed (variant kanji of a registered name are distinct on purpose).
    """
    return "".join(normalize_kana(text).split()).translate(_HYPHEN_LIKE)


def names_match(cert_name: str, state: PersonState) -> bool:
    return _norm(cert_name) == _norm(f"{state.family_name}{state.given_name}")


def addresses_match(cert_address: str, state: PersonState, municipality: Municipality) -> bool:
    """The card's address equals the registry address, with or without the 方書."""
    wanted = _norm(cert_address)
    full = full_address(state, municipality)
    candidates = {_norm(full), _norm(full.split("\u3000")[0])}
    return wanted in candidates


def basic_info_for(person: Person, state: PersonState | None = None) -> jpki.BasicInfo:
    """The 基本4情報 the registry holds for ``person``, in certificate form."""
    state = state or current_state(person)
    if state is None:
        raise NotFound("住民", "resident")
    return jpki.BasicInfo(
        name=state.full_name,
        sex=person.sex,
        birth_date=person.birth_date,
        address=full_address(state, person.municipality),
    )


def _current_resident(municipality: Municipality, resident_code: str) -> tuple[Person, PersonState]:
    person = Person.objects.filter(municipality=municipality, resident_code=resident_code).first()
    state = current_state(person) if person else None
    if person is None or state is None or state.status != Status.RESIDENT:
        raise NotFound("住民", "resident")
    return person, state


# --------------------------------------------------------------------------- cards


def _serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def register_card(
    *,
    actor: Actor,
    municipality: Municipality,
    person: Person,
    auth_cert: x509.Certificate,
    sig_cert: x509.Certificate,
    backend: str = "pcsc",
) -> Card:
    """Record that ``person`` holds a card with these two certificates (e.g. read at the
    counter with a PC/SC reader). The auth certificate is then accepted for their login."""
    actor.require(municipality, Role.REGISTRY_CLERK)
    if person.municipality_id != municipality.code:
        raise NotFound("住民", "resident")
    if sig_cert.issuer != auth_cert.issuer:
        raise ValidationFailed(
            "2つの電子証明書の発行者が一致しません。",
            "The two certificates have different issuers.",
        )
    issuer = TrustedCA.objects.filter(
        active=True, subject=auth_cert.issuer.rfc4514_string()
    ).first()
    with transaction.atomic():
        card = Card.objects.create(
            municipality=municipality,
            person=person,
            issuer_fingerprint=issuer.fingerprint if issuer else "",
            auth_serial=_serial_hex(auth_cert),
            auth_fingerprint=fingerprint(_der(auth_cert)),
            sig_serial=_serial_hex(sig_cert),
            sig_fingerprint=fingerprint(_der(sig_cert)),
            issued_on=auth_cert.not_valid_before_utc.date(),
            expires_on=min(auth_cert.not_valid_after_utc, sig_cert.not_valid_after_utc).date(),
            backend=backend,
        )
        audit.record(
            municipality=municipality,
            actor=actor,
            action="card.register",
            subject_type="person",
            subject_id=str(person.pk),
            details={"card": card.pk, "auth_serial": card.auth_serial, "backend": backend},
        )
    return card


def issue_card(
    *,
    actor: Actor,
    municipality: Municipality,
    resident_code: str,
    out: Path,
    auth_pin: str,
    sign_pin: str,
    valid_years: int = 5,
    overwrite: bool = False,
) -> Card:
    """Issue a demo soft card to a current resident and record it.

    The signature certificate carries the registry's 基本4情報; both certificates come from
    the demo CA (created on first use), so this works in demo and test settings only.
    """
    actor.require(municipality, Role.REGISTRY_CLERK)
    _refuse_outside_demo()
    from kiban.identity.cards import PinFormatError, SoftCard

    person, state = _current_resident(municipality, resident_code)
    ca = demo_ca()
    if ca is None:
        init_demo_ca(actor=SYSTEM)  # demo settings only (checked above)
        ca = demo_ca()
        assert ca is not None
    info = basic_info_for(person, state)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    end = min(start + timedelta(days=365 * valid_years), ca.certificate.not_valid_after_utc)
    sig_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    auth_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sig_cert = jpki.issue_signature_certificate(
        ca, sig_key.public_key(), info, not_before=start, not_after=end
    )
    auth_cert = jpki.issue_auth_certificate(
        ca, auth_key.public_key(), not_before=start, not_after=end
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        SoftCard.create(
            out,
            sig_key,
            sig_cert,
            auth_key,
            auth_cert,
            ca.certificate,
            auth_pin,
            sign_pin,
            overwrite=overwrite,
        )
    except PinFormatError as exc:
        raise ValidationFailed(exc.message_ja, exc.message_en, code="pin_format") from exc
    except FileExistsError as exc:
        raise ValidationFailed(
            f"ファイル {out} は既にあります。",
            f"The file {out} already exists.",
            code="file_exists",
        ) from exc
    with transaction.atomic():
        card = Card.objects.create(
            municipality=municipality,
            person=person,
            issuer_fingerprint=fingerprint(_der(ca.certificate)),
            auth_serial=_serial_hex(auth_cert),
            auth_fingerprint=fingerprint(_der(auth_cert)),
            sig_serial=_serial_hex(sig_cert),
            sig_fingerprint=fingerprint(_der(sig_cert)),
            issued_on=start.date(),
            expires_on=end.date(),
            backend="soft",
        )
        audit.record(
            municipality=municipality,
            actor=actor,
            action="card.issue",
            subject_type="person",
            subject_id=str(person.pk),
            details={
                "card": card.pk,
                "auth_serial": card.auth_serial,
                "sig_serial": card.sig_serial,
                "expires_on": card.expires_on.isoformat(),
            },
        )
    return card


def revoke_cards_for(person: Person, reason: str, *, actor: Actor = SYSTEM) -> int:
    """Revoke the signature certificates of ``person``'s cards (JPKI on a name or address
    change). Returns how many were revoked.

    Call it from the registry service that records the change, inside its transaction:
    ``revoke_cards_for(person, "転居")``. The cards stay usable for login (the
    authentication certificate carries no personal data); new signatures need a new
    signature certificate. In demo settings the demo CRL is re-published at once.
    """
    now = _now()
    with transaction.atomic():
        cards = list(
            Card.objects.select_for_update().filter(
                municipality_id=person.municipality_id,
                person=person,
                revoked_at__isnull=True,
                sig_revoked_at__isnull=True,
            )
        )
        for card in cards:
            card.sig_revoked_at = now
            card.revoke_reason = reason[:200]
            card.save(update_fields=["sig_revoked_at", "revoke_reason"])
        if cards:
            audit.record(
                municipality=person.municipality_id,
                actor=actor,
                action="card.signature_revoked",
                subject_type="person",
                subject_id=str(person.pk),
                purpose=reason,
                details={"cards": [c.pk for c in cards]},
            )
    if cards and settings.DEMO:
        # After commit: the CRL must not list a revocation that was rolled back.
        transaction.on_commit(lambda: publish_demo_crl(actor=SYSTEM))
    return len(cards)


def revoke_card(*, actor: Actor, card: Card, reason: str) -> Card:
    """Revoke a whole card (lost, returned, holder moved away): no login, no signature."""
    actor.require(card.municipality_id, Role.REGISTRY_CLERK)
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card.pk)
        if card.revoked_at is None:
            card.revoked_at = _now()
            card.revoke_reason = reason[:200]
            card.save(update_fields=["revoked_at", "revoke_reason"])
            ResidentToken.objects.filter(card=card, revoked_at__isnull=True).update(
                revoked_at=card.revoked_at
            )
            audit.record(
                municipality=card.municipality_id,
                actor=actor,
                action="card.revoked",
                subject_type="person",
                subject_id=str(card.person_id),
                purpose=reason,
                details={"card": card.pk},
            )
    if settings.DEMO:
        publish_demo_crl(actor=SYSTEM)
    return card


def demo_card_path(municipality_code: str, resident_code: str) -> Path:
    """Where the demo seed stores a resident's soft card."""
    return Path(settings.KEYS_DIR) / "cards" / f"{municipality_code}-{resident_code}.p12"


# --------------------------------------------------------------------------- login


def create_challenge() -> LoginChallenge:
    """A fresh single-use nonce, valid for five minutes."""
    now = _now()
    # Housekeeping: expired challenges are useless; delete a few on the way.
    LoginChallenge.objects.filter(expires_at__lt=now - timedelta(hours=1)).delete()
    return LoginChallenge.objects.create(
        nonce=secrets.token_urlsafe(32), expires_at=now + CHALLENGE_TTL
    )


def _nonce_refused() -> KibanError:
    return KibanError(
        "ログイン用のチャレンジが無効です（期限切れ・使用済み）。もう一度やり直してください。",
        "The login challenge is invalid, expired or already used. Start again.",
        code="challenge_invalid",
        status=400,
    )


@dataclass(frozen=True)
class LoginResult:
    person: Person
    card: Card


def _consume_nonce(nonce: str) -> None:
    now = _now()
    used = LoginChallenge.objects.filter(
        nonce=nonce, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if used != 1:
        raise _nonce_refused()


def card_login(
    *,
    nonce: str,
    certificate: bytes,
    signature: bytes,
    source_ip: str = "",
    at: datetime | None = None,
) -> LoginResult:
    """Check a card-login response and return the resident it identifies.

    The nonce is consumed first, whatever the outcome, so a response can never be replayed.
    The signature must be the authentication key's RSA/SHA-256 signature over the nonce's
    ASCII bytes; the certificate must chain to a trusted CA, be valid and unrevoked, and
    belong to a recorded, unrevoked card of a current resident.
    """
    _consume_nonce(nonce)
    moment = at or _now()
    try:
        verify_auth_signature(
            nonce.encode("ascii"), signature, certificate, trust_store(), at=moment
        )
    except VerificationError as exc:
        raise verification_refusal(exc) from exc
    card = (
        Card.objects.select_related("person", "person__municipality")
        .filter(auth_fingerprint=fingerprint(certificate))
        .first()
    )
    if card is None:
        raise KibanError(
            "このカードは登録されていません。お住まいの市区町村にお問い合わせください。",
            "This card is not registered with any municipality using kiban.",
            code="card_unknown",
            status=401,
        )
    if card.revoked_at is not None or card.expires_on < moment.date():
        raise KibanError(
            "このカードは失効しています。",
            "This card has been revoked or has expired.",
            code="certificate_revoked",
            status=401,
        )
    state = current_state(card.person)
    if state is None or state.status != Status.RESIDENT:
        raise KibanError(
            "現在この市区町村の住民として登録されていません。",
            "You are not currently registered as a resident of this municipality.",
            code="signer_not_resident",
            status=403,
        )
    with transaction.atomic():
        audit.record(
            municipality=card.municipality_id,
            actor=Actor(
                kind="resident",
                id=f"resident:{card.person_id}",
                label=state.full_name,
                municipality_code=card.municipality_id,
                source_ip=source_ip,
                resident_pk=card.person_id,
            ),
            action="resident.login",
            subject_type="person",
            subject_id=str(card.person_id),
            details={"card": card.pk},
        )
    return LoginResult(card.person, card)


def session_card_valid(*, person: Person, card_id: int | None) -> bool:
    """Whether a portal session started with ``card_id`` may continue."""
    if card_id is None:
        return False
    card = Card.objects.filter(pk=card_id, person=person, revoked_at__isnull=True).first()
    if card is None or card.expires_on < timezone.localdate():
        return False
    state = current_state(person)
    return state is not None and state.status == Status.RESIDENT


def issue_resident_token(*, result: LoginResult) -> tuple[ResidentToken, str]:
    """A bearer token for a resident app after card login (shown once)."""
    import hashlib

    raw = "kbr_" + secrets.token_urlsafe(32)
    tok = ResidentToken.objects.create(
        municipality_id=result.person.municipality_id,
        person=result.person,
        card=result.card,
        digest=hashlib.sha256(raw.encode()).hexdigest(),
        prefix=raw[:12],
        expires_at=_now() + TOKEN_TTL,
    )
    return tok, raw


def find_resident_token(raw: str) -> ResidentToken | None:
    """The live resident token for ``raw`` (card still valid), or None."""
    import hashlib

    if not raw.startswith("kbr_"):
        return None
    tok = (
        ResidentToken.objects.select_related("person", "card")
        .filter(
            digest=hashlib.sha256(raw.encode()).hexdigest(),
            revoked_at__isnull=True,
            expires_at__gt=_now(),
        )
        .first()
    )
    if tok is None or tok.card.revoked_at is not None:
        return None
    return tok


def demo_login(*, person: Person, source_ip: str = "") -> LoginResult:
    """Portal demo sign-in: run the real challenge-response with the resident's demo soft
    card (demo PIN) on the server. Demo and test settings only."""
    _refuse_outside_demo()
    from kiban.identity.cards import SoftCard

    path = demo_card_path(person.municipality_id, person.resident_code)
    if not path.exists():
        raise NotFound("デモ用カード", "demo card")
    card = SoftCard.open(path)
    challenge = create_challenge()
    signature = card.sign_with_auth_key(challenge.nonce.encode("ascii"), DEMO_AUTH_PIN)
    return card_login(
        nonce=challenge.nonce,
        certificate=_der(card.read_auth_certificate()),
        signature=signature,
        source_ip=source_ip,
    )


def demo_residents(municipality: Municipality | None = None) -> list[tuple[Person, str]]:
    """Residents with a demo soft card on disk, with their display name (demo only)."""
    if not settings.DEMO:
        return []
    cards = Card.objects.filter(backend="soft", revoked_at__isnull=True).select_related(
        "person", "municipality"
    )
    if municipality is not None:
        cards = cards.filter(municipality=municipality)
    seen: set[int] = set()
    out: list[tuple[Person, str]] = []
    for card in cards.order_by("municipality_id", "pk")[:200]:
        person = card.person
        if person.pk in seen:
            continue
        if not demo_card_path(person.municipality_id, person.resident_code).exists():
            continue
        state = current_state(person)
        if state is None or state.status != Status.RESIDENT:
            continue
        seen.add(person.pk)
        out.append((person, state.full_name))
    return out


# --------------------------------------------------------------------------- coverage

AGE_BANDS: tuple[tuple[int, int | None], ...] = (
    (0, 14),
    (15, 19),
    (20, 29),
    (30, 39),
    (40, 49),
    (50, 59),
    (60, 69),
    (70, 79),
    (80, None),
)


@dataclass(frozen=True)
class CoverageRow:
    label: str
    residents: int
    holders: int

    @property
    def rate(self) -> float:
        return self.holders / self.residents if self.residents else 0.0

    @property
    def percent(self) -> str:
        return f"{self.rate * 100:.1f}"


@dataclass(frozen=True)
class Coverage:
    on: date
    total: CoverageRow
    by_town: list[CoverageRow]
    by_age: list[CoverageRow]


def _years_before(on: date, years: int) -> date:
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February
        return on.replace(year=on.year - years, day=28)


def card_coverage(*, actor: Actor, municipality: Municipality, on: date | None = None) -> Coverage:
    """Card holders among current residents (普及率), by town and by age band.

    Two set-based queries over the current registry states; a holder is a resident with an
    unrevoked, unexpired card.
    """
    actor.require(municipality, Role.REGISTRY_CLERK)
    on = on or timezone.localdate()
    holder = Exists(
        Card.objects.filter(
            municipality=municipality,
            person=OuterRef("person"),
            revoked_at__isnull=True,
            expires_on__gte=on,
        )
    )
    current = PersonState.objects.filter(
        municipality=municipality, valid_to=OPEN_END, status=Status.RESIDENT
    )
    towns = (
        current.values("town_name")
        .annotate(residents=Count("id"), holders=Count("id", filter=holder))
        .order_by("town_name")
    )
    by_town = [CoverageRow(t["town_name"] or "—", t["residents"], t["holders"]) for t in towns]
    aggregates: dict[str, Any] = {}
    for i, (low, high) in enumerate(AGE_BANDS):
        # Age >= low  <=>  born on or before on - low years; age <= high <=> born after
        # on - (high + 1) years.
        cond = Q(person__birth_date__lte=_years_before(on, low))
        if high is not None:
            cond &= Q(person__birth_date__gt=_years_before(on, high + 1))
        aggregates[f"r{i}"] = Count("id", filter=cond)
        aggregates[f"h{i}"] = Count("id", filter=cond & holder)
    counts = current.aggregate(**aggregates) if aggregates else {}
    by_age = []
    for i, (low, high) in enumerate(AGE_BANDS):
        label = f"{low}〜{high}歳" if high is not None else f"{low}歳以上"
        by_age.append(CoverageRow(label, counts[f"r{i}"] or 0, counts[f"h{i}"] or 0))
    total = CoverageRow("合計", sum(r.residents for r in by_town), sum(r.holders for r in by_town))
    return Coverage(on=on, total=total, by_town=by_town, by_age=by_age)


def active_cards(person: Person) -> Iterable[Card]:
    return Card.objects.filter(
        municipality_id=person.municipality_id, person=person, revoked_at__isnull=True
    ).order_by("-issued_on")
