"""Signed-application intake: every refusal code, idempotency (also concurrent), tenancy."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.core.errors import KibanError
from kiban.core.models import AuditEntry
from kiban.identity.intake import (
    build_payload,
    submit_signed_application,
    verify_application,
)
from kiban.identity.services import revoke_cards_for
from kiban.procedures.models import Application
from tests.factories import CHIYODA, municipality
from tests.identity.helpers import info_for, juminhyo_payload, live_pki, now, resident

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup() -> dict[str, Any]:
    m = municipality()
    pki = live_pki()
    pki.trust()
    person = resident(m)
    cert = pki.sig_cert(info_for(person))
    return {"m": m, "pki": pki, "person": person, "cert": cert}


def submit(
    m: Any, payload: bytes, signature: bytes, procedure: str = "juminhyo-copy-request", **kw: Any
) -> tuple[Application, bool]:
    return submit_signed_application(
        municipality=m,
        procedure_id=procedure,
        payload=payload,
        signature=signature,
        fulfil=False,
        **kw,
    )


def refusal(m: Any, payload: bytes, signature: bytes, **kw: Any) -> KibanError:
    before = Application.objects.count()
    audits = AuditEntry.objects.filter(action="application.refused").count()
    with pytest.raises(KibanError) as info:
        submit(m, payload, signature, **kw)
    assert Application.objects.count() == before, "nothing is stored for a refusal"
    assert AuditEntry.objects.filter(action="application.refused").count() == audits + 1
    assert 400 <= info.value.status < 500
    assert info.value.message_ja and info.value.message_en
    return info.value


def test_accepts_and_keeps_evidence_untouched(setup: dict[str, Any]) -> None:
    m, pki, person, cert = setup["m"], setup["pki"], setup["person"], setup["cert"]
    payload = juminhyo_payload(m)
    signature = pki.sign(payload, cert)
    app, created = submit(m, payload, signature)
    assert created
    app.refresh_from_db()
    assert bytes(app.payload) == payload and app.signature is not None
    assert bytes(app.signature) == signature
    assert app.person == person and app.status == "submitted"
    assert app.verification["result"] == "valid"
    assert app.verification["certificate"]["serial"] == format(cert.serial_number, "x")
    assert AuditEntry.objects.filter(
        action="application.submitted", subject_id=str(app.pk)
    ).exists()


def test_signature_invalid_when_payload_altered(setup: dict[str, Any]) -> None:
    m, pki, cert = setup["m"], setup["pki"], setup["cert"]
    signature = pki.sign(juminhyo_payload(m), cert)
    altered = juminhyo_payload(m, scope="household")
    assert refusal(m, altered, signature).code == "signature_invalid"
    assert refusal(m, juminhyo_payload(m), b"\x30\x03garbage").code == "signature_invalid"


def test_certificate_untrusted_from_another_ca(setup: dict[str, Any]) -> None:
    m, person = setup["m"], setup["person"]
    other = live_pki("Untrusted CA")
    cert = other.sig_cert(info_for(person))
    payload = juminhyo_payload(m)
    assert refusal(m, payload, other.sign(payload, cert)).code == "certificate_untrusted"


def test_certificate_expired(setup: dict[str, Any]) -> None:
    m, pki, person = setup["m"], setup["pki"], setup["person"]
    cert = pki.sig_cert(
        info_for(person), not_before=now() - timedelta(days=9), not_after=now() - timedelta(days=1)
    )
    payload = juminhyo_payload(m)
    assert refusal(m, payload, pki.sign(payload, cert)).code == "certificate_expired"


def test_certificate_revoked_by_crl(setup: dict[str, Any]) -> None:
    m, pki, cert = setup["m"], setup["pki"], setup["cert"]
    payload = juminhyo_payload(m)
    signature = pki.sign(payload, cert)
    pki.revoke(cert)
    assert refusal(m, payload, signature).code == "certificate_revoked"


def test_address_change_revokes_signature_certificate(setup: dict[str, Any]) -> None:
    m, pki, person = setup["m"], setup["pki"], setup["person"]
    _card, _auth, sig = pki.card(person)
    payload = juminhyo_payload(m)
    signature = pki.sign(payload, sig)
    assert revoke_cards_for(person, "転居") == 1
    # Refused from the card records at once, before the CA's next CRL.
    assert refusal(m, payload, signature).code == "certificate_revoked"


def test_signer_not_resident(setup: dict[str, Any]) -> None:
    m, pki, person = setup["m"], setup["pki"], setup["person"]
    payload = juminhyo_payload(m)
    wrong_name = info_for(person).__class__(
        name="見本　太郎",
        sex="2",
        birth_date=person.birth_date,
        address=info_for(person).address,
    )
    signature = pki.sign(payload, pki.sig_cert(wrong_name))
    assert refusal(m, payload, signature).code == "signer_not_resident"
    moved = resident(m, family="転出", given="済子", status="moved_out")
    signature = pki.sign(payload, pki.sig_cert(info_for(moved)))
    assert refusal(m, payload, signature).code == "signer_not_resident"


def test_name_and_address_are_compared_normalised(setup: dict[str, Any]) -> None:
    m, pki = setup["m"], setup["pki"]
    person = resident(m, family="山田", given="太郎", sex="1", detail="1-2-3", building="ハイツ101")
    info = info_for(person)
    # Half-width digits/kana, other spaces, no 方書: still the same resident.
    variant = info.__class__(
        name="山田 太郎",
        sex="1",
        birth_date=person.birth_date,
        address=info.address.replace("\u3000ハイツ101", "").replace("1-2-3", "１－２－３"),
    )
    payload = juminhyo_payload(m)
    app, created = submit(m, payload, pki.sign(payload, pki.sig_cert(variant)))
    assert created and app.person == person


def test_procedure_unknown_and_payload_invalid(setup: dict[str, Any]) -> None:
    m, pki, cert = setup["m"], setup["pki"], setup["cert"]
    payload = build_payload(municipality=m.code, procedure_id="no-such", data={})
    err = refusal(m, payload, pki.sign(payload, cert), procedure="no-such")
    assert err.code == "procedure_unknown"
    for bad in (b"not json", b"[1]", juminhyo_payload(m, scope="everyone")):
        assert refusal(m, bad, pki.sign(bad, cert)).code == "payload_invalid"
    # Signed for one procedure, submitted as another: the payload names the procedure.
    other = build_payload(municipality=m.code, procedure_id="tenshutsu", data={})
    assert refusal(m, other, pki.sign(other, cert)).code == "payload_invalid"
    huge = b" " * (1024 * 1024 + 1)
    err = refusal(m, huge, b"x")
    assert err.code == "payload_invalid" and err.status == 413


def test_protected_person_refused(setup: dict[str, Any]) -> None:
    m, pki = setup["m"], setup["pki"]
    person = resident(m, family="保護", given="対象", protected=True)
    payload = juminhyo_payload(m)
    err = refusal(m, payload, pki.sign(payload, pki.sig_cert(info_for(person))))
    assert err.code == "procedure_unavailable" and "支援措置" in err.message_ja


def test_tenancy_signed_for_one_municipality_refused_by_another(setup: dict[str, Any]) -> None:
    m, pki, cert = setup["m"], setup["pki"], setup["cert"]
    other = municipality(CHIYODA[0])
    payload = juminhyo_payload(m)
    assert refusal(other, payload, pki.sign(payload, cert)).code == "payload_invalid"
    # Even when the payload names the other municipality, the signer is not its resident.
    payload = juminhyo_payload(other)
    assert refusal(other, payload, pki.sign(payload, cert)).code == "signer_not_resident"


def test_same_signed_payload_is_one_application(setup: dict[str, Any]) -> None:
    m, pki, cert = setup["m"], setup["pki"], setup["cert"]
    payload = juminhyo_payload(m)
    first, created = submit(m, payload, pki.sign(payload, cert))
    again, created_again = submit(m, payload, pki.sign(payload, cert))  # re-signed
    assert created and not created_again and again.pk == first.pk
    # Another resident signing the very same bytes gets their own application.
    twin = resident(m, family="別人", given="花子")
    theirs, created_theirs = submit(m, payload, pki.sign(payload, pki.sig_cert(info_for(twin))))
    assert created_theirs and theirs.pk != first.pk and theirs.person == twin


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_create_one_application() -> None:
    m = municipality()
    pki = live_pki()
    pki.trust()
    person = resident(m)
    payload = juminhyo_payload(m)
    signature = pki.sign(payload, pki.sig_cert(info_for(person)))
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        try:
            barrier.wait()
            for _attempt in range(200):
                try:
                    app, created = submit(m, payload, signature)
                    break
                except OperationalError as exc:
                    # The in-memory SQLite test database (shared cache) answers "table is
                    # locked" instead of waiting like a file database with busy timeout.
                    if "locked" not in str(exc):
                        raise
                    time.sleep(0.01)
            results.append((app.pk, created))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Application.objects.filter(municipality=m).count() == 1


def test_verify_application_rechecks_stored_evidence(setup: dict[str, Any]) -> None:
    m, pki, cert = setup["m"], setup["pki"], setup["cert"]
    payload = juminhyo_payload(m)
    app, _ = submit(m, payload, pki.sign(payload, cert))
    report = verify_application(app.pk)
    assert report.ok and report.certificate_now == "valid"
    pki.revoke(cert)
    report = verify_application(app.pk)
    # Revoked since: the signature made before stays valid evidence; the status is reported.
    assert report.signature_valid and report.certificate_now == "certificate_revoked"
    Application.objects.filter(pk=app.pk).update(payload=payload.replace(b"self", b"selg"))
    report = verify_application(app.pk)
    assert not report.ok and not report.payload_intact and not report.signature_valid


def test_juminhyo_request_is_issued_and_downloadable(setup: dict[str, Any]) -> None:
    m, pki, person, cert = setup["m"], setup["pki"], setup["person"], setup["cert"]
    payload = juminhyo_payload(m, include_relationship=True)
    app, created = submit_signed_application(
        municipality=m,
        procedure_id="juminhyo-copy-request",
        payload=payload,
        signature=pki.sign(payload, cert),
        channel="portal",
    )
    assert created and app.status == "approved"
    docs = list(app.documents.filter(kind="juminhyo"))
    assert len(docs) == 1 and bytes(docs[0].content).startswith(b"%PDF")
    assert app.person == person
    assert AuditEntry.objects.filter(
        municipality=m, action="application.approved", subject_id=str(app.pk)
    ).exists()


@given(
    detail=st.text(alphabet="0123456789-ｱｲｳｴｵﾊﾞｰ", min_size=1, max_size=12),
    spaces=st.sampled_from([" ", "\u3000", "  ", ""]),
)
@settings(max_examples=60, deadline=None)
def test_address_matching_ignores_width_and_spacing(detail: str, spaces: str) -> None:
    from unittest.mock import Mock

    from kiban.core.kana import normalize_kana
    from kiban.identity.services import addresses_match

    m = Mock(prefecture="神奈川県")
    m.name = "横浜市"
    state = Mock(town_name="中区山下町", address_detail=normalize_kana(detail), building="")
    # What a card might carry: half-width forms and other spacing, same address.
    assert addresses_match(f"神奈川県{spaces}横浜市中区山下町{spaces}{detail}", state, m)
    assert not addresses_match(f"神奈川県横浜市中区山下町{detail}9", state, m)
