"""The fast intake path keeps every check: trust changes apply at once (also those made by
another process), the one-statement signer lookup, the plain-SQL municipality and audit
writes store what the ORM would."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from kiban.core import audit
from kiban.core.actors import SYSTEM
from kiban.core.errors import KibanError
from kiban.core.models import AuditEntry, AuditHead
from kiban.identity import services
from kiban.identity.intake import build_payload, submit_signed_application
from kiban.identity.models import RevocationList, fingerprint
from kiban.identity.verify import verify_detached_cms
from kiban.procedures.models import Application
from kiban.registry.models import PersonState
from tests.factories import municipality
from tests.identity.helpers import api_body, info_for, juminhyo_payload, live_pki, now, resident

pytestmark = pytest.mark.django_db


def _submit(
    m: Any, payload: bytes, signature: bytes, procedure: str = "juminhyo-copy-request"
) -> tuple[Application, bool]:
    return submit_signed_application(
        municipality=m, procedure_id=procedure, payload=payload, signature=signature, fulfil=False
    )


def _refused(m: Any, payload: bytes, signature: bytes) -> str:
    with pytest.raises(KibanError) as info:
        _submit(m, payload, signature)
    return str(info.value.code)


def test_new_crl_revokes_on_the_next_submission_in_this_process() -> None:
    m = municipality()
    pki = live_pki()
    pki.trust()
    person = resident(m)
    cert = pki.sig_cert(info_for(person))
    first = juminhyo_payload(m, copies=1)
    _, created = _submit(m, first, pki.sign(first, cert))
    assert created  # accepted: the trust store is compiled and the success remembered
    second = juminhyo_payload(m, copies=2)
    pki.revoke(cert)  # kiban identity crl load, in this process
    assert _refused(m, second, pki.sign(second, cert)) == "certificate_revoked"


def test_crl_loaded_by_another_process_applies_on_the_next_submission() -> None:
    """Another worker loads the CRL: this process's compiled trust store is not told, but
    the trust key (one small query per submission) changes, so the next one sees it."""
    m = municipality()
    pki = live_pki()
    pki.trust()
    person = resident(m)
    cert = pki.sig_cert(info_for(person))
    first = juminhyo_payload(m, copies=1)
    _submit(m, first, pki.sign(first, cert))
    store_before = services.trust_store()
    # What load_crl in another process leaves in the shared database (no invalidate_trust()
    # here: that only reaches the process that calls it).
    pki.revoked.append((cert.serial_number, now(), None))
    der = pki.crl().public_bytes(serialization.Encoding.DER)
    row = RevocationList.objects.get(
        ca__fingerprint=fingerprint(pki.ca.certificate.public_bytes(serialization.Encoding.DER))
    )
    RevocationList.objects.filter(pk=row.pk).update(der=der, fingerprint=fingerprint(der))
    assert services.trust_store() is not store_before
    second = juminhyo_payload(m, copies=2)
    assert _refused(m, second, pki.sign(second, cert)) == "certificate_revoked"


def test_signer_lookup_is_one_statement_and_picks_the_matching_resident() -> None:
    m = municipality()
    pki = live_pki()
    pki.trust()
    born = date(1985, 6, 7)
    # Same birth date and sex: only name and address tell them apart.
    others = [resident(m, given=f"別人{i}", birth=born, detail=f"{i}番地") for i in range(3)]
    signer = resident(m, given="本人", birth=born, detail="9番地", building="コーポ１０１")
    moved = resident(m, given="本人", birth=born, detail="8番地", status="moved_out")
    payload = juminhyo_payload(m)
    signature = pki.sign(payload, pki.sig_cert(info_for(signer)))
    with CaptureQueriesContext(connection) as queries:
        app, created = _submit(m, payload, signature)
    assert created and app.person_id == signer.pk
    assert app.person_id not in {p.pk for p in [*others, moved]}
    before_insert = []
    for q in queries.captured_queries:
        if q["sql"].lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "INSERT")):
            break
        before_insert.append(q["sql"])
    signer_reads = [
        sql
        for sql in before_insert
        if any(
            t in sql for t in ("identity_card", "registry_personstate", "procedures_application")
        )
    ]
    assert len(signer_reads) == 1, signer_reads  # card, idempotency and resident together
    assert app.person.birth_date == born and app.person.resident_code == signer.resident_code


def test_lookup_objects_load_deferred_fields_on_access() -> None:
    from kiban.identity.intake import _signer_lookup

    m = municipality()
    person = resident(m, protected=True)
    info = info_for(person)
    signer = _signer_lookup(m, info, "0" * 64, "1" * 64)
    assert not signer.card_revoked and signer.existing_application is None
    [(found, state)] = signer.candidates
    assert found.pk == person.pk and found.protected is True and found.sex == person.sex
    assert found.created_at == person.created_at  # deferred, loaded on access
    assert state.valid_from == date(2020, 1, 1) and state.person is found
    assert state.full_name == PersonState.objects.get(person=person).full_name
    # No certificate information (not a signature certificate): no candidates, flags still.
    none = _signer_lookup(m, None, "0" * 64, "1" * 64)
    assert none.candidates == [] and none.card_revoked is False


def test_revoked_card_wins_over_not_resident_and_repeat_returns_the_first() -> None:
    m = municipality()
    pki = live_pki()
    pki.trust()
    person = resident(m)
    _card, _auth, sig = pki.card(person)
    payload = juminhyo_payload(m)
    signature = pki.sign(payload, sig)
    first, created = _submit(m, payload, signature)
    again, created_again = _submit(m, payload, pki.sign(payload, sig))
    assert created and not created_again and again.pk == first.pk
    assert Application.objects.filter(municipality=m).count() == 1
    # The person moves within the city: the card's signature certificate is revoked and its
    # 基本4情報 no longer match; the revocation is the reason given.
    services.revoke_cards_for(person, "転居")
    PersonState.objects.filter(person=person).update(address_detail="2番地")
    other = juminhyo_payload(m, copies=3)
    assert _refused(m, other, pki.sign(other, sig)) == "certificate_revoked"


def test_verified_signature_carries_the_certificate_bytes() -> None:
    pki = live_pki()
    m = municipality()
    person = resident(m)
    cert = pki.sig_cert(info_for(person))
    from kiban.identity.verify import TrustStore

    store = TrustStore()
    store.add_ca(pki.ca.certificate)
    store.add_crl(pki.crl())
    payload = b'{"a":1}'
    verified = verify_detached_cms(payload, pki.sign(payload, cert), store, at=now())
    assert verified.certificate_der == cert.public_bytes(serialization.Encoding.DER)


def test_api_reads_municipality_settings_and_refuses_inactive() -> None:
    m = municipality()
    pki = live_pki()
    pki.trust()
    person = resident(m)
    cert = pki.sig_cert(info_for(person))
    payload = build_payload(
        municipality=m.code, procedure_id="inquiry", data={"topic": "質問", "message": "本文"}
    )
    body = api_body(payload, pki.sign(payload, cert), procedure="inquiry")
    url = f"/api/v1/municipalities/{m.code}/applications"
    client = Client()
    # settings (JSON) as stored: a disabled procedure is unknown here.
    m.settings = {**m.settings, "disabled_procedures": ["inquiry"]}
    m.save()
    refused = client.post(url, body, content_type="application/json")
    assert refused.status_code == 404 and refused.json()["code"] == "procedure_unknown"
    m.settings = {k: v for k, v in m.settings.items() if k != "disabled_procedures"}
    m.save()
    accepted = client.post(url, body, content_type="application/json")
    assert accepted.status_code == 201, accepted.content
    app = Application.objects.get(pk=accepted.json()["id"])
    assert bytes(app.payload) == payload
    assert base64.b64encode(bytes(app.signature or b"")).decode() == json.loads(body)["signature"]
    m.active = False
    m.save()
    gone = client.post(url, body, content_type="application/json")
    assert gone.status_code == 404


def test_audit_record_stores_what_it_hashed() -> None:
    m = municipality()
    details = {"名前": "テスト", "n": 3, "nested": {"list": [1, "二"]}, "when": date(2026, 1, 2)}
    entry = audit.record(
        municipality=m,
        actor=SYSTEM,
        action="test.fast",
        subject_type="thing",
        subject_id="42",
        purpose="確認" * 150,
        details=details,
    )
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert not entry._state.adding
    for field in ("seq", "at", "actor_kind", "actor_id", "action", "subject_id", "prev_hash"):
        assert getattr(stored, field) == getattr(entry, field), field
    assert stored.details == {
        "名前": "テスト",
        "n": 3,
        "nested": {"list": [1, "二"]},
        "when": "2026-01-02",
    }
    assert stored.subject_id == "42" and len(stored.purpose) == 200
    assert AuditHead.objects.get(municipality=m).last_hash == stored.hash
    assert audit.verify_chain(m.code) is None
    with pytest.raises(RuntimeError):
        entry.save()  # still append-only
