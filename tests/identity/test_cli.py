"""`kiban identity ...`, `kiban card ...` and `kiban applications verify`."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from kiban.cli import _mount_domains, app
from kiban.identity.cards import SoftCard
from kiban.identity.models import Card, RevocationList, TrustedCA
from kiban.identity.services import trust_store
from kiban.identity.verify import verify_detached_cms
from kiban.procedures.models import Application
from tests.factories import municipality
from tests.identity.helpers import info_for, juminhyo_payload, live_pki, resident

pytestmark = pytest.mark.django_db

_mount_domains()
runner = CliRunner()


@pytest.fixture(autouse=True)
def _fast_soft_cards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SoftCard, "kdf_rounds", 1000)


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_trust_add_and_crl_load(tmp_path: Path) -> None:
    pki = live_pki()
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki.ca.certificate.public_bytes(serialization.Encoding.PEM))
    crl = tmp_path / "ca.crl"
    crl.write_bytes(pki.crl().public_bytes(serialization.Encoding.DER))
    run("identity", "trust", "add", str(ca))
    run("identity", "crl", "load", str(crl))
    assert TrustedCA.objects.count() == 1 and RevocationList.objects.count() == 1
    assert "CRL #" in run("identity", "trust", "list")
    bad = runner.invoke(app, ["identity", "crl", "load", str(ca)])
    assert bad.exit_code == 1 and "CRL" in bad.output


def test_demo_ca_card_issue_sign_and_verify(tmp_path: Path) -> None:
    m = municipality()
    person = resident(m)
    run("identity", "demo-ca", "init")
    card_file = tmp_path / "card.p12"
    run(
        "card",
        "issue",
        "--municipality",
        m.code,
        "--resident",
        person.resident_code,
        "--out",
        str(card_file),
        "--auth-pin",
        "1234",
        "--sign-pin",
        "abc123",
    )
    assert Card.objects.filter(person=person).count() == 1
    doc = tmp_path / "request.json"
    payload = juminhyo_payload(m)
    doc.write_bytes(payload)
    run("card", "sign", "--card", str(card_file), "--sign-pin", "abc123", str(doc))
    signature = (tmp_path / "request.json.p7s").read_bytes()
    from django.utils import timezone

    verified = verify_detached_cms(payload, signature, trust_store(), at=timezone.now())
    assert verified.basic_info == info_for(person)
    wrong = runner.invoke(
        app, ["card", "sign", "--card", str(card_file), "--sign-pin", "wrong1", str(doc)]
    )
    assert wrong.exit_code == 1 and "残り4回" in wrong.output


def test_demo_ca_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.conf import settings

    monkeypatch.setattr(settings, "DEMO", False)
    result = runner.invoke(app, ["identity", "demo-ca", "init"])
    assert result.exit_code == 1 and "production" in result.output


def test_applications_verify(tmp_path: Path) -> None:
    from kiban.identity.intake import submit_signed_application

    m = municipality()
    pki = live_pki()
    pki.trust()
    person = resident(m)
    payload = juminhyo_payload(m)
    app_row, _ = submit_signed_application(
        municipality=m,
        procedure_id="juminhyo-copy-request",
        payload=payload,
        signature=pki.sign(payload, pki.sig_cert(info_for(person))),
        fulfil=False,
    )
    assert "OK" in run("applications", "verify", str(app_row.pk))
    Application.objects.filter(pk=app_row.pk).update(payload=payload + b" ")
    bad = runner.invoke(app, ["applications", "verify", str(app_row.pk)])
    assert bad.exit_code == 1 and "FAILED" in bad.output
