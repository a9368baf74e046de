"""Certificates of residence: signed PDF, verified independently; protection honoured."""

from __future__ import annotations

import hashlib
import io
import re
import zlib

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kiban.core.actors import operator_actor
from kiban.core.errors import Forbidden, ValidationFailed
from kiban.core.models import AuditEntry, Role
from kiban.registry import bulk, certificates, signing
from kiban.registry.models import OPEN_END, Person, PersonState
from tests.factories import actor_for, municipality, staff

pytestmark = pytest.mark.django_db
OP = operator_actor("test")


@pytest.fixture
def head() -> PersonState:
    m = municipality()
    bulk.generate(actor=OP, municipality=m, residents=80, seed=5)
    state = (
        PersonState.objects.filter(
            municipality=m, is_head=True, valid_to=OPEN_END, status="resident"
        )
        .exclude(honseki="")
        .select_related("person")
        .order_by("id")
    )
    # A household with at least two members, to exercise the household form.
    for s in state:
        members = PersonState.objects.filter(
            municipality=m, household=s.household, valid_to=OPEN_END, status="resident"
        ).count()
        if members >= 2:
            return s
    raise AssertionError("no multi-person household")


def _issue(state: PersonState, **kw: object) -> certificates.IssuedCertificate:
    return certificates.issue_certificate(
        actor=actor_for(municipality(), Role.REGISTRY_CLERK),
        municipality=municipality(),
        resident_code=state.person.resident_code,
        **kw,  # type: ignore[arg-type]
    )


def _signed_data(contents: bytes) -> cms.ContentInfo:
    """The CMS in a signature's /Contents ``<hex…>``, which is zero-padded to its reserved
    size: parse one DER value and ignore what follows it (stripping the zeros would also cut
    a signature whose last byte happens to be zero, one in 256)."""
    return cms.ContentInfo.load(bytes.fromhex(contents.strip(b"<>").decode()), strict=False)


def test_signed_data_keeps_a_signature_that_ends_in_a_zero_byte(head: PersonState) -> None:
    pdf = _issue(head).pdf
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)", pdf)
    assert m is not None
    info = _signed_data(pdf[int(m.group(2)) : int(m.group(3))])
    signer_info = info["content"]["signer_infos"][0]
    signer_info["signature"] = signer_info["signature"].native[:-1] + b"\x00"
    der = info.dump(force=True)
    assert der[-1] == 0  # the signature is the last thing in the CMS
    padded = b"<" + der.hex().encode() + b"00" * 64 + b">"
    assert _signed_data(padded).dump() == der


def _independent_check(pdf: bytes) -> x509.Certificate:
    """Verify the CMS signature over the ByteRange with asn1crypto + cryptography only."""
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert m is not None
    a, b, c, d = (int(x) for x in m.groups())
    assert a == 0 and c + d == len(pdf)  # the signature covers the whole file
    signed = pdf[a : a + b] + pdf[c : c + d]
    info = _signed_data(pdf[a + b : c])
    signed_data = info["content"]
    signer_info = signed_data["signer_infos"][0]
    attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attrs["message_digest"].native == hashlib.sha256(signed).digest()
    serial = signer_info["sid"].chosen["serial_number"].native
    cert_der = next(
        c.chosen.dump() for c in signed_data["certificates"] if c.chosen.serial_number == serial
    )
    cert = x509.load_der_x509_certificate(cert_der)
    # Signed attributes are signed as a SET (tag 0x31), not with their implicit [0] tag.
    to_verify = signer_info["signed_attrs"].untag().dump()
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signer_info["signature"].native, to_verify, padding.PKCS1v15(), hashes.SHA256())
    return cert


def test_certificate_signature_verifies_independently(head: PersonState) -> None:
    issued = _issue(head)
    cert = _independent_check(issued.pdf)
    ca = signing.ca_certificate()
    assert cert.issuer == ca.subject
    ca_key = ca.public_key()
    assert isinstance(ca_key, rsa.RSAPublicKey)
    assert cert.signature_hash_algorithm is not None
    ca_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())
    assert "141003" in cert.subject.rfc4514_string()


def test_pyhanko_validation_api_accepts_it(head: PersonState) -> None:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    issued = _issue(head, household=True, include_relationship=True)
    root = asn1_x509.Certificate.load(signing.ca_certificate().public_bytes(Encoding.DER))
    sig = PdfFileReader(io.BytesIO(issued.pdf)).embedded_signatures[0]
    status = validate_pdf_signature(sig, ValidationContext(trust_roots=[root]))
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line


def test_verify_reports_valid_and_the_municipality(head: PersonState) -> None:
    report = certificates.verify_certificate(_issue(head).pdf)
    assert report.valid and report.intact and report.trusted
    assert report.municipality_code == "141003"


def test_changing_one_byte_breaks_verification(head: PersonState) -> None:
    pdf = bytearray(_issue(head).pdf)
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)", pdf)
    assert m is not None
    position = int(m.group(2)) // 2  # inside the signed range, in the page content
    pdf[position] ^= 0x01
    report = certificates.verify_certificate(bytes(pdf))
    assert not report.valid
    with pytest.raises(AssertionError):
        _independent_check(bytes(pdf))


def test_a_pdf_signed_by_another_deployment_is_not_trusted(
    head: PersonState, tmp_path: object, settings: object
) -> None:
    pdf = _issue(head).pdf
    settings.KEYS_DIR = tmp_path / "other-deployment"  # type: ignore[attr-defined, operator]
    report = certificates.verify_certificate(pdf)
    assert report.intact and not report.trusted and not report.valid


def _to_unicode_text(pdf: bytes) -> str:
    """Characters the embedded font subsets map to (from their ToUnicode CMaps)."""
    chars = []
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            data = zlib.decompressobj().decompress(m.group(1))
        except zlib.error:
            data = m.group(1)
        if b"begincmap" in data:
            for hexcode in re.findall(rb"<[0-9A-Fa-f]{2}>\s*<([0-9A-Fa-f]{4})>", data):
                chars.append(chr(int(hexcode, 16)))
    return "".join(chars)


def test_pdf_embeds_the_japanese_font_and_carries_the_name(head: PersonState) -> None:
    issued = _issue(head)
    assert b"/FontFile2" in issued.pdf
    assert b"IPAexGothic" in issued.pdf
    text = _to_unicode_text(issued.pdf)
    for ch in head.family_name + head.given_name + "住民票の写し令和":
        assert ch in text
    assert issued.issue_no.encode() in issued.pdf  # in the document title


def test_issue_numbers_are_sequential_per_municipality(head: PersonState) -> None:
    numbers = [_issue(head).issue_no for _ in range(3)]
    seqs = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    assert AuditEntry.objects.filter(action="registry.certificate.issue").count() == 3


def test_mynumber_needs_a_purpose(head: PersonState) -> None:
    with pytest.raises(ValidationFailed):
        _issue(head, include_mynumber=True)
    issued = _issue(head, include_mynumber=True, purpose="年金手続")
    assert certificates.verify_certificate(issued.pdf).valid


def test_protected_person_is_refused_and_the_attempt_audited(head: PersonState) -> None:
    Person.objects.filter(pk=head.person_id).update(protected=True)
    head.person.refresh_from_db()
    with pytest.raises(Forbidden) as caught:
        _issue(head)
    assert "支援措置" in caught.value.message_ja and "support measure" in caught.value.message_en
    refused = AuditEntry.objects.filter(action="registry.certificate.refused")
    assert refused.count() == 1 and refused.get().subject_id == head.person.resident_code
    assert not AuditEntry.objects.filter(action="registry.certificate.issue").exists()


def test_household_certificate_refused_when_a_member_is_protected(head: PersonState) -> None:
    other = (
        PersonState.objects.filter(household=head.household, valid_to=OPEN_END)
        .exclude(person_id=head.person_id)
        .first()
    )
    assert other is not None
    Person.objects.filter(pk=other.person_id).update(protected=True)
    assert _issue(head).pdf  # the individual certificate is fine
    with pytest.raises(Forbidden):
        _issue(head, household=True)


def test_other_roles_and_tenants_cannot_issue(head: PersonState) -> None:
    from kiban.core.errors import NotFound
    from tests.factories import CHIYODA

    with pytest.raises(Forbidden):
        certificates.issue_certificate(
            actor=actor_for(municipality(), Role.BENEFITS_CLERK),
            municipality=municipality(),
            resident_code=head.person.resident_code,
        )
    other = municipality(CHIYODA[0])
    with pytest.raises(NotFound):
        certificates.issue_certificate(
            actor=actor_for(other, Role.REGISTRY_CLERK),
            municipality=municipality(),
            resident_code=head.person.resident_code,
        )


def test_console_form_and_download(head: PersonState) -> None:
    from django.test import RequestFactory

    from kiban.console.registry_cert_views import issue

    user = staff(municipality(), Role.REGISTRY_CLERK)
    url = f"/console/registry/persons/{head.person.resident_code}/certificate/"
    factory = RequestFactory()

    def call(method: str, data: dict[str, str] | None = None) -> object:
        request = getattr(factory, method)(url, data or {})
        request.user = user
        request._dont_enforce_csrf_checks = True
        return issue(request, head.person.resident_code)

    page = call("get")
    assert page.status_code == 200  # type: ignore[attr-defined]
    assert "住民票の写し" in page.content.decode()  # type: ignore[attr-defined]
    bad = call("post", {"household": "person", "include_mynumber": "on"})
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert "利用目的" in bad.content.decode()  # type: ignore[attr-defined]
    ok = call("post", {"household": "household", "include_relationship": "on"})
    assert ok["Content-Type"] == "application/pdf"  # type: ignore[index]
    assert certificates.verify_certificate(ok.content).valid  # type: ignore[attr-defined]
    Person.objects.filter(pk=head.person_id).update(protected=True)
    with pytest.raises(Forbidden):
        call("post", {"household": "person"})
    page = call("get")
    assert head.given_name not in page.content.decode()  # type: ignore[attr-defined]
