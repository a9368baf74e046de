"""Portal: demo card sign-in, my page, the 住民票の写し request flow, logout, revocation."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from kiban.identity import demo
from kiban.identity.cards import SoftCard
from kiban.identity.models import Card
from kiban.identity.services import DEMO_SIGN_PIN, revoke_card
from kiban.procedures.models import Application, ApplicationDocument
from tests.factories import CHIYODA, logged_in_client, municipality, staff
from tests.identity.helpers import OPERATOR, live_pki, resident

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_soft_cards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SoftCard, "kdf_rounds", 1000)


@pytest.fixture
def seeded() -> dict[str, Any]:
    m = municipality()
    person = resident(m)
    protected = resident(m, family="保護", given="対象", protected=True)
    assert demo.seed(municipality=m, residents=0, cards=2) == 1  # protected: no demo card
    return {"m": m, "person": person, "protected": protected}


def sign_in(client: Client, person: Any, next_url: str = "/mypage/") -> Any:
    return client.post("/login/demo/", {"person": person.pk, "next": next_url})


def test_login_page_lists_demo_cards_only_in_demo(
    seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    page = Client().get("/login/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "デモ用カードでログイン" in text and "見本" in text
    monkeypatch.setattr(settings, "DEMO", False)
    text = Client().get("/login/").content.decode()
    assert "デモ用カードでログイン" not in text
    assert sign_in(Client(), seeded["person"]).status_code == 404


def test_resident_pages_need_sign_in_and_logout_ends_it(seeded: dict[str, Any]) -> None:
    client = Client()
    res = client.get("/mypage/")
    assert res.status_code == 302 and res["Location"].startswith("/login/?next=")
    res = sign_in(client, seeded["person"])
    assert res.status_code == 302 and res["Location"] == "/mypage/"
    page = client.get("/mypage/")
    assert page.status_code == 200 and "見本\u3000花子" in page.content.decode()
    assert (
        sign_in(Client(), seeded["person"], next_url="https://evil.example/")["Location"]
        == "/mypage/"
    )
    client.post("/logout/")
    assert client.get("/mypage/").status_code == 302


def test_revoking_the_card_ends_the_session(seeded: dict[str, Any]) -> None:
    client = Client()
    sign_in(client, seeded["person"])
    assert client.get("/mypage/").status_code == 200
    revoke_card(actor=OPERATOR, card=Card.objects.get(person=seeded["person"]), reason="紛失")
    assert client.get("/mypage/").status_code == 302
    res = sign_in(Client(), seeded["person"])
    assert res["Location"] == "/login/"  # refused with a message


def test_juminhyo_request_flow_in_the_portal(seeded: dict[str, Any]) -> None:
    client = Client()
    sign_in(client, seeded["person"])
    form = client.get("/juminhyo/")
    assert form.status_code == 200
    res = client.post("/juminhyo/", {"scope": "self", "include_relationship": "on"})
    assert res.status_code == 302 and res["Location"] == "/juminhyo/confirm/"
    confirm = client.get("/juminhyo/confirm/")
    assert "juminhyo-copy-request" in confirm.content.decode()
    wrong = client.post("/juminhyo/confirm/", {"method": "demo", "sign_pin": "WRONG99"})
    assert wrong.status_code == 200 and "暗証番号が違います" in wrong.content.decode()
    assert Application.objects.count() == 0
    done = client.post("/juminhyo/confirm/", {"method": "demo", "sign_pin": DEMO_SIGN_PIN})
    assert done.status_code == 302
    app = Application.objects.get()
    assert app.channel == "portal" and app.status == "approved"
    doc = ApplicationDocument.objects.get(application=app, kind="juminhyo")
    page = client.get("/mypage/").content.decode()
    assert f"/mypage/documents/{doc.pk}/" in page
    pdf = client.get(f"/mypage/documents/{doc.pk}/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # Nobody else can download it.
    other = resident(seeded["m"], family="他人", given="三郎")
    demo.seed(municipality=seeded["m"], residents=0, cards=3)
    stranger = Client()
    sign_in(stranger, other)
    assert stranger.get(f"/mypage/documents/{doc.pk}/").status_code == 404


def test_protected_person_sees_why_online_request_is_unavailable(
    seeded: dict[str, Any],
) -> None:
    # The protected resident has no demo card; sign them in directly through the session.
    from kiban.portal.auth import SESSION_KEY

    card, _, _ = live_pki().card(seeded["protected"])
    client = Client()
    session = client.session
    session[SESSION_KEY] = {
        "person": seeded["protected"].pk,
        "municipality": seeded["m"].code,
        "card": card.pk,
    }
    session.save()
    page = client.get("/juminhyo/")
    assert page.status_code == 200 and "支援措置" in page.content.decode()
    assert '<form method="post" novalidate>' not in page.content.decode()


def test_console_coverage_page(seeded: dict[str, Any]) -> None:
    clerk = logged_in_client(staff(seeded["m"], "registry_clerk"))
    page = clerk.get("/console/identity/coverage/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "<svg" in text and "中区山下町" in text
    assert 'data-testid="total-holders">1<' in text
    other = logged_in_client(staff(municipality(CHIYODA[0]), "registry_clerk"))
    assert "中区山下町" not in other.get("/console/identity/coverage/").content.decode()
    assert (
        logged_in_client(staff(seeded["m"], "benefits_clerk"))
        .get("/console/identity/coverage/")
        .status_code
        == 403
    )
