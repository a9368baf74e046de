"""Signed-application intake: verify a resident's signed payload, then store it untouched.

Flow of :func:`submit_signed_application`, each step refusing with a stable code:

1. size and shape of the payload (``payload_invalid``), procedure known (``procedure_unknown``);
2. the detached CMS signature, its chain, validity and revocation (``signature_invalid``,
   ``certificate_untrusted``, ``certificate_expired``, ``certificate_revoked``), plus the
   local card records: a signature certificate revoked by :func:`revoke_cards_for` is refused
   even before the next CRL;
3. the signer's 基本4情報 against a CURRENT resident of the municipality
   (``signer_not_resident``);
4. the procedure's own checks (``payload_invalid``, or the procedure's refusal).

Nothing is stored for a refusal except an audit entry. Accepted applications keep payload,
signature and the verification result exactly as received. The same signer submitting the
same payload again gets the existing application back (``created`` False), also when the
two submissions race: the database's unique constraint decides, the loser reads the winner.

What the payload must contain (signed, so it cannot be moved to another procedure or
municipality): a UTF-8 JSON object with ``"procedure"`` equal to the procedure id and
``"municipality"`` equal to the 6-digit code. :func:`build_payload` makes one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from kiban.core import audit
from kiban.core.actors import SYSTEM, Actor, resident_actor
from kiban.core.errors import KibanError, NotFound, ValidationFailed
from kiban.core.models import Municipality
from kiban.identity import jpki
from kiban.identity.models import Card, fingerprint
from kiban.identity.services import (
    addresses_match,
    full_address,
    names_match,
    trust_store,
    verification_refusal,
)
from kiban.identity.verify import (
    SignatureInvalid,
    TrustStore,
    VerificationError,
    VerifiedSignature,
    verify_detached_cms,
)
from kiban.procedures.models import (
    Application,
    ApplicationDocument,
    ApplicationMessage,
    AppStatus,
)
from kiban.registry.models import OPEN_END, Person, PersonState, Status

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_SIGNATURE_BYTES = 64 * 1024
JUMINHYO = "juminhyo-copy-request"
# Procedures kiban knows without a catalog (the catalog, when present, is asked first).
BUILTIN_PROCEDURES = frozenset({JUMINHYO})

__all__ = [
    "JUMINHYO",
    "MAX_PAYLOAD_BYTES",
    "build_payload",
    "submit_signed_application",
    "verify_application",
]


def _refusal(code: str, ja: str, en: str, status: int = 422, details: Any = None) -> KibanError:
    return KibanError(ja, en, code=code, status=status, details=details)


def build_payload(*, municipality: str, procedure_id: str, data: dict[str, Any]) -> bytes:
    """The canonical payload bytes a resident signs for ``procedure_id``."""
    body = dict(data)
    body["procedure"] = procedure_id
    body["municipality"] = municipality
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- procedures


def _catalog() -> Any:
    try:
        from kiban.procedures import catalog
    except ImportError:
        return None
    return catalog


def _procedure(municipality: Municipality, procedure_id: str) -> Any:
    catalog = _catalog()
    found: Any = None
    if catalog is not None and hasattr(catalog, "get_procedure"):
        try:
            found = catalog.get_procedure(municipality, procedure_id)
        except KibanError:
            found = None
    if found is None and procedure_id in BUILTIN_PROCEDURES:
        found = procedure_id
    if not found:
        raise _refusal(
            "procedure_unknown",
            f"手続き「{procedure_id}」はこの自治体では受け付けていません。",
            f"The procedure {procedure_id!r} is not offered by this municipality.",
            status=404,
        )
    return found


def _juminhyo_problems(data: dict[str, Any]) -> list[str]:
    problems = []
    if data.get("scope", "self") not in {"self", "household"}:
        problems.append("scope: self | household")
    for flag in ("include_relationship", "include_honseki", "include_mynumber"):
        if flag in data and not isinstance(data[flag], bool):
            problems.append(f"{flag}: true | false")
    copies = data.get("copies", 1)
    if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= 5:
        problems.append("copies: 1..5")
    return problems


def _validate_payload(procedure: Any, procedure_id: str, data: dict[str, Any]) -> None:
    catalog = _catalog()
    problems: list[Any] = []
    if (
        catalog is not None
        and hasattr(catalog, "validate_payload")
        and not isinstance(procedure, str)
    ):
        problems = list(catalog.validate_payload(procedure, data) or [])
    elif procedure_id == JUMINHYO:
        problems = _juminhyo_problems(data)
    if problems:
        raise _refusal(
            "payload_invalid",
            "申請内容に誤りがあります。",
            "The application data is not valid.",
            details=[p if isinstance(p, dict) else str(p) for p in problems],
        )


def _context_checks(procedure: Any, person: Person, data: dict[str, Any]) -> None:
    """Registry-dependent checks the procedures app defines (household members, towns)."""
    if isinstance(procedure, str):
        return
    # Only procedures that choose household members or a new town need the registry
    # context; skipping the household query for the others keeps intake fast.
    fields = getattr(procedure, "fields", ())
    if (
        not any(getattr(f, "type", "") == "members" for f in fields)
        and getattr(procedure, "effect", "") != "registry.move_within"
    ):
        return
    try:
        from kiban.procedures.services import context_problems
    except ImportError:
        return
    problems = context_problems(procedure, person=person, answers=data)
    if problems:
        raise _refusal(
            "payload_invalid",
            "申請内容に誤りがあります。",
            "The application data is not valid.",
            details=[p if isinstance(p, dict) else str(p) for p in problems],
        )


def _check_eligible(procedure_id: str, person: Person, data: dict[str, Any]) -> None:
    protected = person.protected
    if procedure_id == JUMINHYO and data.get("scope") == "household" and not protected:
        state = PersonState.objects.filter(
            municipality_id=person.municipality_id, person=person, valid_to=OPEN_END
        ).first()
        if state is not None and state.household_id is not None:
            protected = PersonState.objects.filter(
                municipality_id=person.municipality_id,
                household_id=state.household_id,
                valid_to=OPEN_END,
                status=Status.RESIDENT,
                person__protected=True,
            ).exists()
    if procedure_id == JUMINHYO and protected:
        raise _refusal(
            "procedure_unavailable",
            "支援措置の対象の方は、住民票の写しをオンラインで請求できません。"
            "お手数ですが窓口でご相談ください。",
            "Residents under support measures (支援措置) cannot request a certificate of "
            "residence online. Please ask at the municipal office.",
            status=403,
        )


# --------------------------------------------------------------------------- matching


# The signer's context in one statement: the current residents born that day with that sex
# (the candidates for the 基本4情報 match), each row also saying whether a local card record
# revoked the certificate and which application this signed payload already made
# (idempotency). Plain SQL: the three ORM queries it replaces cost several times more to
# compile than to run, and this runs on every submission. The shape (one join, two
# uncorrelated subqueries) is also the cheapest of the variants tried for PostgreSQL to plan.
# Table names are filled in from the models.
_SIGNER_SQL = f"""
SELECT EXISTS (
         SELECT 1 FROM {Card._meta.db_table} WHERE sig_fingerprint = %s
         AND (revoked_at IS NOT NULL OR sig_revoked_at IS NOT NULL)
       ),
       (SELECT id FROM {Application._meta.db_table}
        WHERE municipality_id = %s AND dedupe_key = %s),
       p.id, p.resident_code, p.protected, s.id, s.household_id,
       s.family_name, s.given_name, s.town_name, s.address_detail, s.building
FROM {PersonState._meta.db_table} s JOIN {Person._meta.db_table} p ON p.id = s.person_id
WHERE s.municipality_id = %s AND s.valid_to = %s AND s.status = %s
  AND p.birth_date = %s AND p.sex = %s
"""  # noqa: S608 (constant text: only table names are filled in)
# When there is no candidate (a refusal either way): is the certificate revoked locally?
_CARD_REVOKED_SQL = f"""
SELECT EXISTS (
  SELECT 1 FROM {Card._meta.db_table} WHERE sig_fingerprint = %s
  AND (revoked_at IS NOT NULL OR sig_revoked_at IS NOT NULL)
)
"""  # noqa: S608
_PERSON_FIELDS = ["id", "municipality_id", "resident_code", "birth_date", "sex", "protected"]
_STATE_FIELDS = [
    "id",
    "municipality_id",
    "person_id",
    "valid_to",
    "status",
    "household_id",
    "family_name",
    "given_name",
    "town_name",
    "address_detail",
    "building",
]


def _card_revoked(cert_fp: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_CARD_REVOKED_SQL, [cert_fp])
        return bool(cursor.fetchone()[0])


@dataclass(frozen=True)
class _Signer:
    """What the database knows about a verified signer (see :func:`_signer_lookup`)."""

    card_revoked: bool
    existing_application: int | None
    candidates: list[tuple[Person, PersonState]]


def _signer_lookup(
    municipality: Municipality, info: jpki.BasicInfo | None, cert_fp: str, dedupe_key: str
) -> _Signer:
    """Card revocation of ``cert_fp``, the application already made under ``dedupe_key`` and
    the resident candidates for ``info``: one query when there are candidates, else a second
    one for the card records (the submission is refused then, ``existing_application`` None).

    The candidates are the current residents of ``municipality`` born on ``info``'s birth
    date with its sex (none without ``info``). At city scale this wants an index on the
    registry's Person (municipality, birth_date, sex); without one the database reads every
    current resident of the municipality. They are loaded with the fields intake reads; the
    other fields stay deferred and load on access, as with ``QuerySet.only``.
    """
    if info is None or info.birth_date is None:
        return _Signer(_card_revoked(cert_fp), None, [])
    code = municipality.code
    ops = connection.ops
    params = [
        cert_fp,
        code,
        dedupe_key,
        code,
        ops.adapt_datefield_value(OPEN_END),
        Status.RESIDENT.value,
        ops.adapt_datefield_value(info.birth_date),
        info.sex,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_SIGNER_SQL, params)
        rows = cursor.fetchall()
    if not rows:
        return _Signer(_card_revoked(cert_fp), None, [])
    alias = connection.alias
    candidates: list[tuple[Person, PersonState]] = []
    for _, _, person_id, resident_code, protected, state_id, *state_values in rows:
        # birth_date and sex are the ones the query matched; status and valid_to likewise.
        person = Person.from_db(
            alias,
            _PERSON_FIELDS,
            [person_id, code, resident_code, info.birth_date, info.sex, bool(protected)],
        )
        state = PersonState.from_db(
            alias,
            _STATE_FIELDS,
            [state_id, code, person_id, OPEN_END, Status.RESIDENT.value, *state_values],
        )
        state.person = person
        candidates.append((person, state))
    revoked, existing = rows[0][0], rows[0][1]
    return _Signer(bool(revoked), int(existing) if existing is not None else None, candidates)


def _matching_resident(
    municipality: Municipality, info: jpki.BasicInfo, candidates: list[tuple[Person, PersonState]]
) -> tuple[Person, PersonState] | None:
    """The candidate whose name and address are ``info``'s, compared normalised."""
    for person, state in candidates:
        if names_match(info.name, state) and addresses_match(info.address, state, municipality):
            return person, state
    return None


def _verification_record(
    verified: VerifiedSignature, cert_fp: str, at: datetime, trust_version: int
) -> dict[str, Any]:
    cert = verified.certificate
    info = verified.basic_info
    return {
        "result": "valid",
        "verified_at": at.isoformat(),
        "signing_time": verified.signing_time.isoformat() if verified.signing_time else None,
        "certificate": {
            "serial": format(cert.serial_number, "x"),
            "issuer": cert.issuer.rfc4514_string(),
            "fingerprint": cert_fp,
            "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat(),
        },
        "basic_info": {
            "name": info.name,
            "sex": info.sex,
            "birth_date": info.birth_date_code,
            "address": info.address,
        }
        if info
        else None,
        "trust_version": trust_version,
    }


# --------------------------------------------------------------------------- intake


def _anonymous(channel: str, source_ip: str) -> Actor:
    return Actor(kind="api", id=f"signed-submission:{channel}", label=channel, source_ip=source_ip)


def _refuse(
    municipality: Municipality,
    exc: KibanError,
    *,
    procedure_id: str,
    payload_sha: str,
    actor: Actor,
) -> KibanError:
    with transaction.atomic():
        audit.record(
            municipality=municipality,
            actor=actor,
            action="application.refused",
            subject_type="procedure",
            subject_id=procedure_id[:64],
            details={"code": exc.code, "payload_sha256": payload_sha},
        )
    return exc


def submit_signed_application(
    *,
    municipality: Municipality,
    procedure_id: str,
    payload: bytes,
    signature: bytes,
    channel: str = "api",
    at: datetime | None = None,
    source_ip: str = "",
    fulfil: bool = True,
) -> tuple[Application, bool]:
    """Verify and store a signed application; ``(application, created)``.

    Guarantees: a stored application's signature verified over exactly ``payload`` with a
    trusted, valid, unrevoked signature certificate whose 基本4情報 match the linked person,
    a current resident of ``municipality``. Refusals raise :class:`KibanError` (4xx) and
    store only an audit entry. Repeats return the first application with ``created`` False.
    For 住民票の写し requests the certificate is issued at once (``fulfil``).
    """
    if channel not in {"api", "portal"}:
        raise ValueError(f"unknown channel {channel!r}")
    moment = at or timezone.now()
    payload_sha = hashlib.sha256(payload).hexdigest()
    trust = trust_store()
    try:
        checked = _checked(
            trust, municipality, procedure_id, payload, payload_sha, signature, moment
        )
    except KibanError as exc:
        raise _refuse(
            municipality,
            exc,
            procedure_id=procedure_id,
            payload_sha=payload_sha,
            actor=_anonymous(channel, source_ip),
        ) from exc
    if checked.existing_application is not None:
        existing = Application.objects.filter(pk=checked.existing_application).first()
        if existing is not None:
            return existing, False
    person, state = checked.person, checked.state
    resident = resident_actor(
        person_pk=person.pk,
        municipality_code=municipality.code,
        label=state.full_name,
    )
    resident = dataclasses.replace(resident, source_ip=source_ip)
    try:
        with transaction.atomic():
            app = Application.objects.create(
                municipality=municipality,
                procedure_id=procedure_id,
                person=person,
                channel=channel,
                status=AppStatus.SUBMITTED,
                payload=payload,
                payload_sha256=payload_sha,
                signature=signature,
                verification=_verification_record(
                    checked.verified, checked.cert_fp, moment, trust.version
                ),
                dedupe_key=checked.dedupe_key,
            )
            # Last in the transaction: the chain head stays locked only until the commit.
            audit.record(
                municipality=municipality,
                actor=resident,
                action="application.submitted",
                subject_type="application",
                subject_id=str(app.pk),
                details={
                    "procedure": procedure_id,
                    "channel": channel,
                    "payload_sha256": payload_sha,
                    "person": person.pk,
                },
            )
    except KibanError as exc:
        # Ledger rules of the procedures app (e.g. one pending application per event).
        raise _refuse(
            municipality,
            exc,
            procedure_id=procedure_id,
            payload_sha=payload_sha,
            actor=_anonymous(channel, source_ip),
        ) from exc
    except IntegrityError as exc:
        # A concurrent submission of the same signed payload won the race.
        winner = Application.objects.filter(
            municipality=municipality, dedupe_key=checked.dedupe_key
        ).first()
        if winner is not None:
            return winner, False
        conflict = KibanError(
            "同じ手続きの申請が処理中です。",
            "An application for the same matter is pending.",
            code="application_pending",
            status=409,
        )
        raise _refuse(
            municipality,
            conflict,
            procedure_id=procedure_id,
            payload_sha=payload_sha,
            actor=_anonymous(channel, source_ip),
        ) from exc
    if fulfil and procedure_id == JUMINHYO:
        fulfil_juminhyo(app)
        app.refresh_from_db()
    return app, True


@dataclass(frozen=True)
class _Accepted:
    """A submission that passed every check (see :func:`_checked`)."""

    person: Person
    state: PersonState
    verified: VerifiedSignature
    cert_fp: str
    dedupe_key: str
    existing_application: int | None


def _checked(
    trust: TrustStore,
    municipality: Municipality,
    procedure_id: str,
    payload: bytes,
    payload_sha: str,
    signature: bytes,
    moment: datetime,
) -> _Accepted:
    if len(payload) > MAX_PAYLOAD_BYTES or len(signature) > MAX_SIGNATURE_BYTES:
        raise _refusal(
            "payload_invalid",
            "申請データが大きすぎます（上限 1 MB）。",
            "The application data is too large (limit 1 MB).",
            status=413,
        )
    procedure = _procedure(municipality, procedure_id)
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _refusal(
            "payload_invalid",
            "申請データが UTF-8 の JSON ではありません。",
            "The payload is not UTF-8 JSON.",
        ) from exc
    if not isinstance(data, dict):
        raise _refusal(
            "payload_invalid",
            "申請データは JSON オブジェクトにしてください。",
            "The payload must be a JSON object.",
        )
    if data.get("procedure") != procedure_id or data.get("municipality") != municipality.code:
        raise _refusal(
            "payload_invalid",
            "署名された申請データの手続き・自治体が、送信先と一致しません。",
            "The signed payload names a different procedure or municipality than the "
            "one it was sent to.",
        )
    try:
        verified = verify_detached_cms(payload, signature, trust, at=moment)
    except VerificationError as exc:
        raise verification_refusal(exc) from exc
    cert_fp = fingerprint(verified.certificate_der)
    dedupe_key = hashlib.sha256(f"signed:{payload_sha}:{cert_fp}".encode()).hexdigest()
    signer = _signer_lookup(municipality, verified.basic_info, cert_fp, dedupe_key)
    if signer.card_revoked:
        raise _refusal(
            "certificate_revoked",
            "署名用電子証明書は失効しています（氏名・住所の変更など）。新しい証明書で署名してください。",
            "The signature certificate has been revoked (e.g. after a change of name or "
            "address); sign again with the new certificate.",
        )
    if verified.basic_info is None:
        raise _refusal(
            "certificate_untrusted",
            "署名用電子証明書ではありません。",
            "This is not a signature certificate.",
        )
    found = _matching_resident(municipality, verified.basic_info, signer.candidates)
    if found is None:
        raise _refusal(
            "signer_not_resident",
            "署名者の基本4情報（氏名・性別・生年月日・住所）が、この自治体の住民記録と一致しません。",
            "The signer's name, sex, birth date and address do not match a current resident "
            "of this municipality.",
            status=403,
        )
    person, state = found
    _validate_payload(procedure, procedure_id, data)
    _context_checks(procedure, person, data)
    _check_eligible(procedure_id, person, data)
    return _Accepted(person, state, verified, cert_fp, dedupe_key, signer.existing_application)


# --------------------------------------------------------------------------- fulfilment


def fulfil_juminhyo(app: Application) -> None:
    """Issue the 住民票の写し for an accepted request and approve the application.

    Approval goes through the procedures workflow (``kiban.procedures.services.decide``) as
    the system actor, whose effect ``identity.juminhyo_copy`` issues the signed PDF with
    purpose 本人請求 and stores it for download, in one transaction with the decision. If
    issuing fails, the application stays submitted for a clerk and the reason is logged.
    """
    try:
        from kiban.procedures.services import decide
    except ImportError:
        _fulfil_directly(app)
        return
    try:
        decide(
            actor=SYSTEM,
            municipality=app.municipality,
            application_id=app.pk,
            decision="approve",
            reason="",
        )
    except KibanError as exc:
        log.warning("juminhyo for application %s not issued: %s", app.pk, exc)


def _fulfil_directly(app: Application) -> None:
    try:
        from kiban.registry.certificates import issue_certificate
    except ImportError:
        log.warning("registry certificates unavailable; application %s left for a clerk", app.pk)
        return
    data = json.loads(bytes(app.payload).decode("utf-8"))
    try:
        with transaction.atomic():
            issued = issue_certificate(
                actor=SYSTEM,
                municipality=app.municipality,
                resident_code=app.person.resident_code,
                household=data.get("scope", "self") == "household",
                include_relationship=bool(data.get("include_relationship", False)),
                include_honseki=bool(data.get("include_honseki", False)),
                include_mynumber=bool(data.get("include_mynumber", False)),
                purpose="本人請求",
            )
            ApplicationDocument.objects.create(
                application=app,
                kind="juminhyo",
                filename=f"juminhyo-{issued.issue_no}.pdf",
                content_type="application/pdf",
                content=issued.pdf,
            )
            Application.objects.filter(pk=app.pk).update(
                status=AppStatus.APPROVED,
                decided_by=SYSTEM.id,
                decided_at=timezone.now(),
            )
            ApplicationMessage.objects.create(
                application=app,
                from_staff=True,
                author=SYSTEM.id,
                status_after=AppStatus.APPROVED,
                text="住民票の写しを交付しました。 / Your certificate of residence is ready.",
            )
            audit.record(
                municipality=app.municipality,
                actor=SYSTEM,
                action="application.approved",
                subject_type="application",
                subject_id=str(app.pk),
                purpose="本人請求",
                details={"procedure": app.procedure_id, "issue_no": str(issued.issue_no)},
            )
    except KibanError as exc:
        log.warning("juminhyo for application %s not issued: %s", app.pk, exc)


# --------------------------------------------------------------------------- re-check


@dataclass(frozen=True)
class VerificationReport:
    application_id: int
    municipality: str
    procedure_id: str
    payload_intact: bool
    signature_valid: bool
    certificate_now: str  # "valid" or a refusal code
    signer_matches_person: bool
    stored_verification: dict[str, Any]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return self.payload_intact and self.signature_valid and self.signer_matches_person

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def verify_application(app_id: int) -> VerificationReport:
    """Re-check an application's stored evidence with today's trust store.

    ``payload_intact``: the stored payload still hashes to the stored digest.
    ``signature_valid``: the stored CMS still verifies over the stored payload (the crypto,
    independent of trust). ``certificate_now``: the certificate's status today (it may have
    expired or been revoked since; that does not invalidate a signature made before).
    ``signer_matches_person``: the certificate's basic information is the one recorded at
    submission, and it belongs to the linked person's recorded card or registry identity.
    """
    app = Application.objects.select_related("person").filter(pk=app_id).first()
    if app is None:
        raise NotFound("申請", "application")
    payload = bytes(app.payload)
    signature = bytes(app.signature) if app.signature is not None else b""
    problems: list[str] = []
    intact = hashlib.sha256(payload).hexdigest() == app.payload_sha256
    if not intact:
        problems.append("payload does not match its stored SHA-256 / 申請データのハッシュ不一致")
    signature_valid = False
    certificate_now = "signature_invalid"
    matches = False
    try:
        verified = verify_detached_cms(payload, signature, trust_store(), at=timezone.now())
        signature_valid, certificate_now = True, "valid"
        cert = verified.certificate
    except SignatureInvalid as exc:
        problems.append(f"signature: {exc.message_en}")
        cert = None
    except VerificationError as exc:
        signature_valid, certificate_now = True, exc.code
        cert = _signer_certificate(signature)
    if cert is not None:
        der = cert.public_bytes(serialization.Encoding.DER)
        stored = (app.verification or {}).get("certificate", {})
        matches = stored.get("fingerprint") == fingerprint(der)
        if not matches:
            problems.append("signer certificate differs from the one recorded at submission")
    return VerificationReport(
        application_id=app.pk,
        municipality=app.municipality_id,
        procedure_id=app.procedure_id,
        payload_intact=intact,
        signature_valid=signature_valid,
        certificate_now=certificate_now,
        signer_matches_person=matches,
        stored_verification=app.verification or {},
        problems=problems,
    )


def _signer_certificate(signature: bytes) -> Any:
    from asn1crypto import cms
    from cryptography import x509

    try:
        info = cms.ContentInfo.load(signature)
        for c in info["content"]["certificates"]:
            cert = x509.load_der_x509_certificate(c.chosen.dump())
            if jpki.is_signature_certificate(cert):
                return cert
    except (ValueError, KeyError, TypeError):
        return None
    return None


def registry_address(person: Person) -> str:
    """The current full address of ``person`` (as a signature certificate would carry it)."""
    state = PersonState.objects.filter(
        municipality_id=person.municipality_id, person=person, valid_to=OPEN_END
    ).first()
    if state is None:
        raise ValidationFailed("住民記録がありません。", "No registry record.")
    return full_address(state, person.municipality)
