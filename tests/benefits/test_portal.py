"""Resident portal: registering one's own 公金受取口座 (the notice's online application)."""

from __future__ import annotations

import pytest
from django.test import Client

from kiban.benefits.models import BankAccount
from kiban.benefits.testcity import generate_city
from kiban.core.actors import Actor
from kiban.core.models import AuditEntry, Municipality
from kiban.portal.auth import SESSION_KEY
from kiban.registry.models import OPEN_END, PersonState
from tests.benefits.conftest import BASE, household_program

pytestmark = pytest.mark.django_db


def _signed_in(monkeypatch: pytest.MonkeyPatch, person_id: int, code: str) -> Client:
    import kiban.identity.services as identity

    monkeypatch.setattr(identity, "session_card_valid", lambda **kw: True)
    client = Client()
    session = client.session
    session[SESSION_KEY] = {"person": person_id, "municipality": code, "card": 1}
    session.save()
    return client


def test_resident_registers_own_account_from_the_qr_link(
    muni: Municipality, op: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate_city(muni, households=10, base_date=BASE, seed=8)
    household_program(muni, op)
    state = PersonState.objects.filter(
        municipality=muni, valid_to=OPEN_END, status="resident"
    ).first()
    assert state is not None
    url = f"/benefits/{muni.code}/flat/account/"
    assert Client().get(url).status_code == 302  # sign-in required
    client = _signed_in(monkeypatch, state.person_id, muni.code)
    page = client.get(url)
    assert page.status_code == 200 and "定額給付金テスト" in page.content.decode()
    bad = client.post(url, {"bank_code": "0001", "branch_code": "001", "account_type": "1",
                            "account_number": "1234567", "holder_kana": "タニン　ナマエ"})  # fmt: skip
    assert bad.status_code == 422 and "error-summary" in bad.content.decode()
    assert not BankAccount.objects.exists()
    ok = client.post(url, {"bank_code": "0001", "branch_code": "001", "account_type": "1",
                           "account_number": "1234567",
                           "holder_kana": f"{state.family_kana}　{state.given_kana}"})  # fmt: skip
    assert ok.status_code == 302
    acc = BankAccount.objects.get()
    assert acc.person_id == state.person_id and acc.registered_via == "portal"
    assert AuditEntry.objects.filter(action="benefits.account.registered",
                                     actor_kind="resident").exists()  # fmt: skip
    mine = client.get("/benefits/")
    assert mine.status_code == 200 and "****567" in mine.content.decode()
    # Another municipality's program link is not found.
    assert client.get("/benefits/131016/flat/account/").status_code == 404
