"""住民票の写し (certificate of residence): a signed PDF, and its verification.

The PDF is drawn with reportlab with a Japanese font embedded (``settings.PDF_FONT_PATH``,
IPAex Gothic), so it renders the same everywhere, then signed with the municipality's key
as a PAdES baseline-B signature (pyHanko). Anyone holding the deployment's signing CA
certificate can check that the municipality issued it and that no byte changed since.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from kiban.core import audit
from kiban.core.actors import Actor
from kiban.core.crypto import decrypt
from kiban.core.errors import Forbidden, NotFound, ValidationFailed
from kiban.core.models import Municipality, Role
from kiban.core.pdflayout import BREAK, fit_lines, fit_size
from kiban.core.wareki import format_wareki
from kiban.registry import signing
from kiban.registry.addresses import full_address
from kiban.registry.models import (
    CertificateIssue,
    EventKind,
    Person,
    PersonState,
    RegistryEvent,
    Sex,
    Status,
)

__all__ = [
    "IssuedCertificate",
    "VerificationReport",
    "issue_certificate",
    "verify_certificate",
]

FONT = "IPAexGothic"
SIGNATURE_FIELD = "KibanSignature"


@dataclass(frozen=True)
class IssuedCertificate:
    pdf: bytes
    issue_no: str


@dataclass
class _Line:
    """One person as printed."""

    name: str
    kana: str
    birth: str
    sex: str
    relationship: str
    became_resident: str
    settled: str
    previous_address: str
    mynumber: str
    resident_code: str


@dataclass
class _Document:
    title: str
    issue_no: str
    issued_on: date
    address: str  # full: 都道府県 + 市区町村 + 町字 + 番地以下 (+ 方書)
    head_name: str  # printed only when 世帯主の氏名と続柄 was requested; else ""
    honseki: str
    lines: list[_Line]
    municipality_name: str
    letterhead: str
    include_relationship: bool
    include_honseki: bool
    include_mynumber: bool
    notes: list[str] = field(default_factory=list)


# --- gathering the record ------------------------------------------------------------------


def _current_state(municipality: Municipality, person: Person, day: date) -> PersonState | None:
    return (
        PersonState.objects.filter(
            municipality=municipality, person=person, valid_from__lte=day, valid_to__gt=day
        )
        .select_related("household")
        .first()
    )


def _dates(municipality: Municipality, person: Person, state: PersonState) -> tuple[date, date]:
    """(住民となった日, 住定日): start of the residence here and at the current address."""
    states = list(
        PersonState.objects.filter(
            municipality=municipality, person=person, valid_from__lte=state.valid_from
        ).order_by("valid_from", "id")
    )
    became = settled = state.valid_from
    address = (state.town_code, state.address_detail, state.building)
    same_address = True
    for s in reversed(states):
        if s.status != Status.RESIDENT:
            break
        became = s.valid_from
        same_address = same_address and (s.town_code, s.address_detail, s.building) == address
        if same_address:
            settled = s.valid_from
    return became, settled


def _previous_address(municipality: Municipality, person: Person) -> str:
    event = (
        RegistryEvent.objects.filter(
            municipality=municipality,
            person=person,
            kind__in=[EventKind.MOVE_IN, EventKind.MOVE_WITHIN],
        )
        .order_by("-event_date", "-id")
        .first()
    )
    if event is None or not isinstance(event.details, dict):
        return ""
    return str(event.details.get("place") or event.details.get("previous_address") or "")


def _line(
    municipality: Municipality,
    state: PersonState,
    include_mynumber: bool,
) -> _Line:
    person = state.person
    became, settled = _dates(municipality, person, state)
    mynumber = ""
    if include_mynumber and person.mynumber_enc:
        mynumber = decrypt(person.mynumber_enc)
    return _Line(
        name=state.full_name,
        kana=state.full_kana,
        birth=format_wareki(person.birth_date),
        sex="男" if person.sex == Sex.MALE else "女",
        relationship=state.relationship,
        became_resident=format_wareki(became),
        settled=format_wareki(settled),
        previous_address=_previous_address(municipality, person),
        mynumber=mynumber,
        resident_code=person.resident_code,
    )


def _refuse_protected(
    *, actor: Actor, municipality: Municipality, resident_code: str, purpose: str
) -> None:
    # The refusal is audited in its own transaction, so it survives the error below.
    audit.record(
        municipality=municipality,
        actor=actor,
        action="registry.certificate.refused",
        subject_type="person",
        subject_id=resident_code,
        purpose=purpose,
        details={"reason": "protected"},
    )
    raise Forbidden(
        "この住民票は支援措置の対象のため、交付できません。担当窓口にご相談ください。",
        "This record is under a support measure (DV/stalking protection) and cannot be "
        "issued. Please consult the responsible office.",
        code="protected_person",
    )


def issue_certificate(
    *,
    actor: Actor,
    municipality: Municipality,
    resident_code: str,
    household: bool = False,
    include_relationship: bool = False,
    include_honseki: bool = False,
    include_mynumber: bool = False,
    purpose: str = "",
    as_of: date | None = None,
) -> IssuedCertificate:
    """Issue a signed 住民票の写し for one resident (個人票) or the household (世帯連記式).

    ``include_relationship`` is the request's 「世帯主の氏名と続柄」: it prints the head of
    household's name and each person's 続柄; without it neither is printed.

    Needs the registry clerk role (or the resident asking for their own record). My Number
    is printed only with ``include_mynumber`` and a stated ``purpose``. A person under a
    support measure (支援措置), or a household with one, is refused to anyone but the
    person themself; the refusal is audited (``registry.certificate.refused``). Issuance
    takes the next per-municipality issue number and is audited
    (``registry.certificate.issue``) in the same transaction.
    """
    self_request = actor.kind == "resident"
    if self_request:
        actor.require(municipality)
    else:
        actor.require(municipality, Role.REGISTRY_CLERK)
    if include_mynumber and not purpose.strip():
        raise ValidationFailed(
            "個人番号を記載するには利用目的を入力してください。",
            "Enter the purpose to include the My Number.",
            code="purpose_required",
            details=[{"field": "purpose"}],
        )
    day = as_of or timezone.localdate()
    person = Person.objects.filter(municipality=municipality, resident_code=resident_code).first()
    if person is None or (self_request and actor.resident_pk != person.pk):
        raise NotFound("住民", "resident")
    state = _current_state(municipality, person, day)
    if state is None or state.status != Status.RESIDENT:
        raise ValidationFailed(
            "この方は現在住民ではないため、住民票の写しは交付できません（除票の写しは未対応です）。",
            "This person is not currently a resident, so no certificate of residence can be "
            "issued (certificates of removed records are not supported).",
            code="not_resident",
        )
    states = [state]
    if household and state.household_id is not None:
        states = list(
            PersonState.objects.filter(
                municipality=municipality,
                household_id=state.household_id,
                valid_from__lte=day,
                valid_to__gt=day,
                status=Status.RESIDENT,
            )
            .select_related("person")
            .order_by("-is_head", "person__birth_date", "person__resident_code")
        )
    if any(s.person.protected for s in states) and not self_request:
        _refuse_protected(
            actor=actor, municipality=municipality, resident_code=resident_code, purpose=purpose
        )
    head = next((s for s in states if s.is_head), None)
    if head is None and state.household_id is not None:
        head = PersonState.objects.filter(
            municipality=municipality,
            household_id=state.household_id,
            valid_from__lte=day,
            valid_to__gt=day,
            is_head=True,
        ).first()
    letterhead = str(municipality.setting("letterhead") or "") or (
        f"{municipality.prefecture}{municipality.name}長"
    )
    lines = [_line(municipality, s, include_mynumber) for s in states]
    options = {
        "relationship": include_relationship,
        "honseki": include_honseki,
        "mynumber": include_mynumber,
    }
    with transaction.atomic():
        # Lock the municipality row: issue numbers are gap-free and never reused.
        Municipality.objects.select_for_update().filter(code=municipality.code).first()
        seq = (
            CertificateIssue.objects.filter(municipality=municipality).aggregate(m=Max("seq"))["m"]
            or 0
        ) + 1
        issue_no = f"{municipality.code}-{seq:08d}"
        document = _Document(
            title="住民票の写し（世帯全員）" if household else "住民票の写し",
            issue_no=issue_no,
            issued_on=day,
            address=full_address(
                state.town_name,
                state.address_detail,
                state.building,
                lg_code=municipality.code,
                prefecture=municipality.prefecture,
                municipality_name=municipality.name,
                town_code=state.town_code,
                postcode=state.postcode,
            ),
            head_name=head.full_name if head and include_relationship else "",
            honseki=state.honseki,
            lines=lines,
            municipality_name=f"{municipality.prefecture}{municipality.name}",
            letterhead=letterhead,
            include_relationship=include_relationship,
            include_honseki=include_honseki and bool(state.honseki),
            include_mynumber=include_mynumber,
        )
        pdf = sign_pdf(render_pdf(document), municipality)
        digest = hashlib.sha256(pdf).hexdigest()
        CertificateIssue.objects.create(
            municipality=municipality,
            seq=seq,
            issue_no=issue_no,
            person=person,
            household=household,
            options=options,
            purpose=purpose[:200],
            issued_by=actor.id[:64],
            sha256=digest,
        )
        audit.record(
            municipality=municipality,
            actor=actor,
            action="registry.certificate.issue",
            subject_type="person",
            subject_id=resident_code,
            purpose=purpose,
            details={
                "issue_no": issue_no,
                "household": household,
                "persons": len(lines),
                **options,
                "sha256": digest,
            },
        )
    return IssuedCertificate(pdf, issue_no)


# --- drawing -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _register_font(path: str) -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont(FONT, path))
    return FONT


def render_pdf(doc: _Document) -> bytes:
    """Draw the certificate (A4 portrait). The font is embedded (subset)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    font = _register_font(str(settings.PDF_FONT_PATH))
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=A4, invariant=True, pageCompression=1)
    c.setTitle(f"{doc.title} {doc.issue_no}")
    c.setAuthor(doc.municipality_name)
    c.setSubject(f"kiban-certificate {doc.issue_no}")
    c.setCreator("kiban")
    width, height = A4
    left, right = 18 * mm, width - 18 * mm

    def text(x: float, y: float, value: str, size: float, limit: float | None = None) -> None:
        """Draw at ``size``, shrunk (down to 6 pt) so it fits before ``limit`` / the margin."""
        room = (limit if limit is not None else right) - x
        c.setFont(font, fit_size(value, font, size, room))
        c.drawString(x, y, value)

    def labelled(x: float, y: float, label: str, value: str, size: float) -> float:
        """``label`` then ``value`` within the margins: shrunk, else wrapped with the
        continuation under the value; returns the next line's y."""
        room = right - x - c.stringWidth(label, font, size)
        fitted, rows = fit_lines(value, font, size, room, minimum=7, single_minimum=8)
        c.setFont(font, fitted)
        c.drawString(x, y, label)
        indent = x + c.stringWidth(label, font, fitted)
        for i, row in enumerate(rows):
            if i:
                y -= fitted * 1.4
            c.drawString(indent, y, row)
        return y - 6 * mm

    def header() -> float:
        c.setFont(font, 9)
        c.drawRightString(right, height - 14 * mm, f"発行番号 第{doc.issue_no}号")
        c.setFont(font, 18)
        c.drawCentredString(width / 2, height - 26 * mm, doc.title)
        y = height - 40 * mm
        # A long address wraps preferably after the space before the 方書.
        y = labelled(left, y, "住所　", doc.address.replace("\u3000", "\u3000" + BREAK), 10)
        if doc.head_name:
            text(left, y, f"世帯主　{doc.head_name}", 10)
            y -= 6 * mm
        if doc.include_honseki:
            y = labelled(left, y, "本籍　", doc.honseki, 10)
        c.line(left, y, right, y)
        return y - 6 * mm

    y = header()
    block = 30 * mm if not doc.include_mynumber else 35 * mm
    for n, line in enumerate(doc.lines, start=1):
        if y - block < 50 * mm:
            c.showPage()
            y = header()
        text(left, y, f"{n}.　フリガナ　{line.kana}", 8)
        y -= 6 * mm
        text(left, y, f"氏名　{line.name}", 13, left + 88 * mm)
        text(left + 90 * mm, y, f"生年月日　{line.birth}　　性別　{line.sex}", 10)
        y -= 6 * mm
        rel = f"続柄　{line.relationship}　　" if doc.include_relationship else ""
        text(left, y, f"{rel}住民となった日　{line.became_resident}　　住定日　{line.settled}", 10)
        y -= 6 * mm
        if line.previous_address:
            text(left, y, f"前住所　{line.previous_address}", 10)
            y -= 6 * mm
        if doc.include_mynumber:
            text(left, y, f"個人番号　{line.mynumber or '（記載なし）'}", 10)
            y -= 6 * mm
        c.setLineWidth(0.3)
        c.line(left, y + 2 * mm, right, y + 2 * mm)
        y -= 4 * mm
    c.setFont(font, 10)
    y = max(y - 6 * mm, 40 * mm)
    c.drawString(left, y, "この写しは、住民票の原本と相違ないことを証明する。")
    y -= 8 * mm
    c.drawString(left, y, format_wareki(doc.issued_on))
    c.setFont(font, 13)
    c.drawRightString(right, y - 8 * mm, doc.letterhead)
    text(
        left,
        14 * mm,
        "この証明書には発行団体の電子署名があります。"
        "「kiban registry verify-certificate」で検証できます。",
        7,
    )
    c.showPage()
    c.save()
    return buffer.getvalue()


# --- signing and verification ------------------------------------------------------------


def sign_pdf(pdf: bytes, municipality: Municipality) -> bytes:
    """Sign ``pdf`` as the municipality: PAdES baseline B (no timestamp), one signature."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    s = signing.municipality_signer(municipality)
    signer = signers.SimpleSigner(
        signing_cert=s.asn1_cert(),
        signing_key=s.asn1_key(),
        cert_registry=SimpleCertificateStore.from_certs(s.asn1_chain()),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason="住民票の写しの発行 / certificate of residence",
        location=f"{municipality.prefecture}{municipality.name}",
        name=municipality.name,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    out = signers.sign_pdf(writer, meta, signer=signer)
    return bytes(out.getvalue())


@dataclass(frozen=True)
class VerificationReport:
    """Outcome of checking a certificate PDF's signature."""

    valid: bool
    intact: bool  # the signed bytes are unchanged and the signature matches them
    trusted: bool  # the signer's certificate chains to the kiban signing CA
    covers_whole_file: bool  # nothing was appended after signing
    signer: str  # signer certificate's common name
    municipality_code: str  # from the signer certificate's serialNumber attribute
    signed_at: datetime | None
    reason_ja: str
    reason_en: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "intact": self.intact,
            "trusted": self.trusted,
            "covers_whole_file": self.covers_whole_file,
            "signer": self.signer,
            "municipality_code": self.municipality_code,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
            "reason_ja": self.reason_ja,
            "reason_en": self.reason_en,
        }


def _invalid(reason_ja: str, reason_en: str, **kw: Any) -> VerificationReport:
    base: dict[str, Any] = {
        "valid": False,
        "intact": False,
        "trusted": False,
        "covers_whole_file": False,
        "signer": "",
        "municipality_code": "",
        "signed_at": None,
    }
    base.update(kw)
    return VerificationReport(reason_ja=reason_ja, reason_en=reason_en, **base)


def verify_certificate(pdf: bytes) -> VerificationReport:
    """Check the PDF's signature against the deployment's signing CA; never raises.

    Valid means: exactly one signature, cryptographically intact, covering the whole file,
    by a certificate that chains to a trusted root (``signing.trust_roots()``).
    """
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except Exception as e:  # any parse failure means "not a valid certificate"
        return _invalid("PDFとして読み取れません。", f"Not a readable PDF ({type(e).__name__}).")
    if len(signatures) != 1:
        return _invalid(
            f"電子署名の数が1ではありません（{len(signatures)}）。",
            f"Expected exactly one signature, found {len(signatures)}.",
        )
    sig = signatures[0]
    roots = [asn1_x509.Certificate.load(c.public_bytes(_der())) for c in signing.trust_roots()]
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    try:
        status = validate_pdf_signature(sig, signer_validation_context=context)
    except SignatureValidationError as e:
        return _invalid("署名を検証できません。", f"The signature cannot be validated: {e}")
    except Exception as e:  # a damaged file must give a report, not a crash
        return _invalid(
            "署名を検証できません（ファイルが壊れています）。",
            f"The signature cannot be validated ({type(e).__name__}: {e}).",
        )
    cert = status.signing_cert
    signer = ""
    code = ""
    if cert is not None:
        attrs = cert.subject.native
        signer = str(attrs.get("common_name", ""))
        code = str(attrs.get("serial_number", ""))
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    common: dict[str, Any] = {
        "intact": bool(status.intact and status.valid),
        "trusted": bool(status.trusted),
        "covers_whole_file": whole,
        "signer": signer,
        "municipality_code": code,
        "signed_at": status.signer_reported_dt,
    }
    if not (status.intact and status.valid):
        return _invalid(
            "署名後に内容が改変されています（署名が一致しません）。",
            "The document was modified after signing (the signature does not match).",
            **common,
        )
    if not whole:
        return _invalid(
            "署名の後にデータが追加されています。",
            "Data was appended to the document after it was signed.",
            **common,
        )
    if not status.trusted:
        return _invalid(
            "署名者の証明書が信頼できる発行元（kiban署名CA）につながりません。",
            "The signer's certificate does not chain to a trusted issuer (kiban signing CA).",
            **common,
        )
    return VerificationReport(
        valid=True,
        reason_ja=f"有効な署名です（署名者: {signer}）。",
        reason_en=f"Valid signature by {signer}.",
        **common,
    )


def _der() -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.DER
