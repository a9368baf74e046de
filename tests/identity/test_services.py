"""Trust (CAs, CRLs, demo CA, CRL fetch), card issue and revocation, coverage."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.utils import timezone

from kiban.core.errors import Forbidden, KibanError, NotFound, ValidationFailed
from kiban.core.models import AuditEntry
from kiban.identity import jpki
from kiban.identity.cards import CardLockedError, PinError, SoftCard
from kiban.identity.models import Card, RevocationList, TrustedCA
from kiban.identity.services import (
    card_coverage,
    fetch_crls,
    init_demo_ca,
    issue_card,
    load_crl,
    revoke_card,
    revoke_cards_for,
    trust_store,
)
from tests.factories import CHIYODA, actor_for, municipality
from tests.identity.helpers import OPERATOR, info_for, live_pki, resident

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_soft_cards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SoftCard, "kdf_rounds", 1000)


def test_crl_must_be_signed_by_a_trusted_ca_and_never_roll_back() -> None:
    pki = live_pki()
    other = live_pki("Other CA")
    with pytest.raises(ValidationFailed) as err:
        load_crl(actor=OPERATOR, data=pki.crl().public_bytes(serialization.Encoding.DER))
    assert err.value.code == "crl_untrusted"
    pki.trust()
    with pytest.raises(ValidationFailed):
        load_crl(actor=OPERATOR, data=other.crl().public_bytes(serialization.Encoding.DER))
    older = pki.crl()
    newer = pki.crl()
    load_crl(actor=OPERATOR, data=newer.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ValidationFailed) as err:
        load_crl(actor=OPERATOR, data=older.public_bytes(serialization.Encoding.DER))
    assert err.value.code == "crl_outdated"
    assert (
        RevocationList.objects.get().crl_number
        == newer.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    )


def test_trust_changes_need_an_operator() -> None:
    m = municipality()
    pki = live_pki()
    with pytest.raises(Forbidden):
        from kiban.identity.services import add_trusted_ca

        add_trusted_ca(actor=actor_for(m, "municipality_admin"), certificate=pki.ca.certificate)


def test_demo_ca_trusted_only_in_demo_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    row = init_demo_ca(actor=OPERATOR)
    assert row.is_demo and "DEMO" in row.subject
    assert (Path(settings.KEYS_DIR) / "demo-ca" / "ca-key.pem").exists()
    assert trust_store()._compile().crls, "the demo CRL is published at once"
    monkeypatch.setattr(settings, "DEMO", False)
    store = trust_store()
    assert not store._cas, "a demo CA is never trusted outside demo/test"
    with pytest.raises(Forbidden):
        init_demo_ca(actor=OPERATOR)


def _serve(body: bytes) -> tuple[http.server.HTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/ca.crl":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/pkix-crl")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/ca.crl"


@pytest.fixture
def crl_server() -> Iterator[tuple[object, str, object]]:
    pki = live_pki()
    pki.trust()
    person_cert = pki.sig_cert(
        jpki.BasicInfo(name="見本　一郎", sex="1", birth_date=date(1980, 5, 5), address="東京都")
    )
    pki.revoked.append((person_cert.serial_number, person_cert.not_valid_before_utc, None))
    server, url = _serve(pki.crl().public_bytes(serialization.Encoding.DER))
    yield pki, url, person_cert
    server.shutdown()
    server.server_close()


def test_crl_fetch_from_distribution_point(crl_server: tuple[object, str, object]) -> None:
    _pki, url, _cert = crl_server
    TrustedCA.objects.update(crl_url=url)
    rows = fetch_crls(actor=OPERATOR, timeout=5)
    assert len(rows) == 1 and rows[0].entries == 1 and rows[0].source == url
    with pytest.raises(KibanError) as err:
        fetch_crls(actor=OPERATOR, url=url.replace("/ca.crl", "/missing"), timeout=5)
    assert err.value.code == "crl_fetch_failed"


def test_issue_card_from_registry_and_sign(tmp_path: Path) -> None:
    m = municipality()
    person = resident(m, building="メゾン101")
    clerk = actor_for(m, "registry_clerk")
    out = tmp_path / "card.p12"
    card = issue_card(
        actor=clerk,
        municipality=m,
        resident_code=person.resident_code,
        out=out,
        auth_pin="1234",
        sign_pin="abc123",
    )
    assert Card.objects.get(pk=card.pk).person == person
    soft = SoftCard.open(out)
    cert = soft.read_signature_certificate("ABC123")
    assert jpki.read_basic_info(cert) == info_for(person)
    assert format(cert.serial_number, "x") == card.sig_serial
    assert AuditEntry.objects.filter(municipality=m, action="card.issue").exists()
    # Another municipality's clerk cannot issue for this resident.
    other_clerk = actor_for(municipality(CHIYODA[0]), "registry_clerk")
    with pytest.raises(NotFound):
        issue_card(
            actor=other_clerk,
            municipality=m,
            resident_code=person.resident_code,
            out=tmp_path / "x.p12",
            auth_pin="1234",
            sign_pin="abc123",
        )
    with pytest.raises(ValidationFailed):
        issue_card(
            actor=clerk,
            municipality=m,
            resident_code=person.resident_code,
            out=tmp_path / "y.p12",
            auth_pin="12",
            sign_pin="abc123",
        )


def test_signing_pin_locks_after_five_wrong_tries(tmp_path: Path) -> None:
    m = municipality()
    person = resident(m)
    issue_card(
        actor=OPERATOR,
        municipality=m,
        resident_code=person.resident_code,
        out=tmp_path / "c.p12",
        auth_pin="1234",
        sign_pin="abc123",
    )
    card = SoftCard.open(tmp_path / "c.p12")
    for remaining in (4, 3, 2, 1):
        with pytest.raises(PinError) as err:
            card.sign_cms(b"data", "WRONG1")
        assert err.value.remaining_tries == remaining
    with pytest.raises(CardLockedError):
        card.sign_cms(b"data", "WRONG1")
    # Locked for good: even the right PIN is refused, also after reopening the card.
    with pytest.raises(CardLockedError):
        SoftCard.open(tmp_path / "c.p12").sign_cms(b"data", "abc123")


def test_revoke_cards_for_publishes_demo_crl(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    m = municipality()
    person = resident(m)
    card = issue_card(
        actor=OPERATOR,
        municipality=m,
        resident_code=person.resident_code,
        out=tmp_path / "c.p12",
        auth_pin="1234",
        sign_pin="abc123",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert revoke_cards_for(person, "転居") == 1
    card.refresh_from_db()
    assert card.sig_revoked_at is not None and card.revoked_at is None
    crl = x509.load_der_x509_crl(bytes(RevocationList.objects.get().der))
    assert crl.get_revoked_certificate_by_serial_number(int(card.sig_serial, 16)) is not None
    assert crl.get_revoked_certificate_by_serial_number(int(card.auth_serial, 16)) is None
    assert revoke_cards_for(person, "again") == 0


def _years_ago(today: date, years: int) -> date:
    """The day ``years`` before ``today``: the birthday that makes one that old today (a
    29 February gives the 28th, as the age bands do)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def test_coverage_by_town_and_age() -> None:
    m = municipality()
    pki = live_pki()
    today = timezone.localdate()
    # Ages relative to today (no fixed birth date ages out of its band in a few years).
    a = resident(m, town="中区山下町", birth=_years_ago(today, 35))
    resident(m, town="中区山下町", birth=_years_ago(today, 36))
    b = resident(m, town="西区高島", birth=_years_ago(today, 82))
    resident(m, town="西区高島", status="moved_out")
    pki.card(a)
    pki.card(b)
    expired, _, _ = pki.card(resident(m, town="西区高島", birth=_years_ago(today, 37)))
    Card.objects.filter(pk=expired.pk).update(expires_on=today - timedelta(days=1))
    cov = card_coverage(actor=actor_for(m, "registry_clerk"), municipality=m)
    towns = {r.label: (r.residents, r.holders) for r in cov.by_town}
    assert towns == {"中区山下町": (2, 1), "西区高島": (2, 1)}
    ages = {r.label: (r.residents, r.holders) for r in cov.by_age}
    assert ages["30〜39歳"] == (3, 1) and ages["80歳以上"] == (1, 1)
    assert cov.total.residents == 4 and cov.total.percent == "50.0"
    with pytest.raises(Forbidden):
        card_coverage(actor=actor_for(m, "benefits_clerk"), municipality=m)


def test_demo_crl_is_served_at_its_distribution_point() -> None:
    from django.test import Client

    init_demo_ca(actor=OPERATOR)
    res = Client().get("/identity/demo-ca.crl")
    assert res.status_code == 200 and res["Content-Type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(res.content)
    assert "DEMO" in crl.issuer.rfc4514_string()


def test_registry_address_and_name_changes_revoke_the_signature_certificate(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    """JPKI: recording a 転居 (or a name change) revokes the holder's signature cert."""
    from kiban.registry.services import Address, record_move_within, record_name_change

    m = municipality()
    mover, renamed = resident(m), resident(m, given="次郎", given_kana="ジロウ", sex="1")
    cards = {}
    for p in (mover, renamed):
        cards[p.pk] = issue_card(
            actor=OPERATOR,
            municipality=m,
            resident_code=p.resident_code,
            out=tmp_path / f"{p.pk}.p12",
            auth_pin="1234",
            sign_pin="abc123",
        )
    clerk = actor_for(m, "registry_clerk")
    with django_capture_on_commit_callbacks(execute=True):
        record_move_within(
            actor=clerk,
            municipality=m,
            persons=[mover],
            event_date=date(2026, 11, 1),
            reported_date=date(2026, 11, 2),
            address=Address(
                postcode="2310023",
                town_code="0001000",
                town_name="中区山下町",
                address_detail="2番地",
            ),
        )
    cards[mover.pk].refresh_from_db()
    cards[renamed.pk].refresh_from_db()
    assert cards[mover.pk].sig_revoked_at is not None
    assert cards[renamed.pk].sig_revoked_at is None
    crl = x509.load_der_x509_crl(bytes(RevocationList.objects.get().der))
    assert crl.get_revoked_certificate_by_serial_number(int(cards[mover.pk].sig_serial, 16))
    record_name_change(
        actor=clerk,
        municipality=m,
        person=renamed,
        event_date=date(2026, 11, 3),
        reported_date=date(2026, 11, 3),
        family_name="新姓",
        family_kana="シンセイ",
    )
    cards[renamed.pk].refresh_from_db()
    assert cards[renamed.pk].sig_revoked_at is not None


def test_revocations_within_one_second_keep_the_demo_crl_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each revocation re-publishes the demo CRL. Several within one second must not date it
    in the future: a CRL not yet valid makes every signature of the CA untrusted."""
    from kiban.identity import services as identity_services
    from kiban.identity.intake import submit_signed_application
    from tests.identity.helpers import juminhyo_payload

    frozen = datetime.now(UTC).replace(microsecond=0)

    class OneSecond(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return frozen.astimezone(tz) if tz is not None else frozen.replace(tzinfo=None)

    monkeypatch.setattr(identity_services, "datetime", OneSecond)  # every publish in one second
    m = municipality()
    people = [resident(m, given=f"利用者{i}", detail=f"{i}番地") for i in range(4)]
    cards = [
        issue_card(
            actor=OPERATOR,
            municipality=m,
            resident_code=p.resident_code,
            out=tmp_path / f"{i}.p12",
            auth_pin="1234",
            sign_pin="abc123",
        )
        for i, p in enumerate(people)
    ]
    for card in cards[:3]:
        revoke_card(actor=actor_for(m, "registry_clerk"), card=card, reason="紛失")
    crl = RevocationList.objects.get()
    assert crl.entries == 6  # three cards, two certificates each
    assert crl.this_update <= frozen
    payload = juminhyo_payload(m)
    signature = SoftCard.open(tmp_path / "3.p12").sign_cms(payload, "abc123")
    app, created = submit_signed_application(
        municipality=m,
        procedure_id="juminhyo-copy-request",
        payload=payload,
        signature=signature,
        fulfil=False,
    )
    assert created and app.person_id == people[3].pk
