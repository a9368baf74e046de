"""API: signed applications (201/200/4xx) and card login (challenge, token, replay, revoked)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.test import Client

from kiban.identity.services import revoke_card
from kiban.procedures.models import Application
from tests.factories import CHIYODA, municipality
from tests.identity.helpers import (
    OPERATOR,
    api_body,
    info_for,
    juminhyo_payload,
    live_pki,
    resident,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> dict[str, Any]:
    m = municipality()
    pki = live_pki()
    pki.trust()
    person = resident(m)
    card, auth, sig = pki.card(person)
    return {"m": m, "pki": pki, "person": person, "card": card, "auth": auth, "sig": sig}


def post(client: Client, url: str, body: Any) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(url, data, content_type="application/json")


def test_signed_application_201_then_200(world: dict[str, Any]) -> None:
    m, pki = world["m"], world["pki"]
    payload = juminhyo_payload(m)
    body = api_body(payload, pki.sign(payload, world["sig"]))
    client = Client()  # no token: the signature is the authentication
    first = post(client, f"/api/v1/municipalities/{m.code}/applications", body)
    assert first.status_code == 201, first.content
    again = post(client, f"/api/v1/municipalities/{m.code}/applications", body)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["created"] is False
    assert Application.objects.count() == 1


def test_refusals_are_json_with_code_and_both_languages(world: dict[str, Any]) -> None:
    m, pki = world["m"], world["pki"]
    payload = juminhyo_payload(m)
    signature = pki.sign(payload, world["sig"])
    url = f"/api/v1/municipalities/{m.code}/applications"
    cases = [
        (api_body(juminhyo_payload(m, scope="household"), signature), 422, "signature_invalid"),
        (api_body(payload, signature, procedure="unknown-proc"), 404, "procedure_unknown"),
        (
            json.dumps(
                {"procedure": "juminhyo-copy-request", "payload": "!!", "signature": "AA=="}
            ),
            422,
            "payload_invalid",
        ),
    ]
    for body, status, code in cases:
        res = post(Client(), url, body)
        assert res.status_code == status, res.content
        assert res.json()["code"] == code
        assert res.json()["message_ja"] and res.json()["message_en"]
    big = base64.b64encode(b" " * (1024 * 1024 + 10)).decode()
    res = post(
        Client(), url, {"procedure": "juminhyo-copy-request", "payload": big, "signature": "AA=="}
    )
    assert res.status_code == 413 and res.json()["code"] == "payload_invalid"
    # Another tenant's endpoint does not accept it.
    other = municipality(CHIYODA[0])
    res = post(
        Client(), f"/api/v1/municipalities/{other.code}/applications", api_body(payload, signature)
    )
    assert res.status_code == 422 and res.json()["code"] == "payload_invalid"
    assert Application.objects.count() == 0


def _login(
    world: dict[str, Any], client: Client, mode: str = "token", nonce: str | None = None
) -> Any:
    if nonce is None:
        challenge = post(client, "/api/v1/auth/card/challenge", {"mode": mode})
        assert challenge.status_code == 200
        nonce = challenge.json()["nonce"]
    der = world["auth"].public_bytes(serialization.Encoding.DER)
    signature = world["pki"].raw_sign(nonce.encode("ascii"))
    return post(
        client,
        "/api/v1/auth/card/login",
        {
            "nonce": nonce,
            "mode": mode,
            "certificate": base64.b64encode(der).decode(),
            "signature": base64.b64encode(signature).decode(),
        },
    ), nonce


def test_card_login_token_mode(world: dict[str, Any]) -> None:
    res, _ = _login(world, Client())
    assert res.status_code == 200, res.content
    token = res.json()["token"]
    assert token.startswith("kbr_") and res.json()["municipality"] == world["m"].code
    me = Client(headers={"Authorization": f"Bearer {token}"}).get("/api/v1/resident/me")
    assert me.status_code == 200 and me.json()["name"] == "見本\u3000花子"
    assert Client().get("/api/v1/resident/me").status_code == 401


def test_login_replay_refused(world: dict[str, Any]) -> None:
    client = Client()
    res, nonce = _login(world, client)
    assert res.status_code == 200
    replay, _ = _login(world, client, nonce=nonce)
    assert replay.status_code == 400 and replay.json()["code"] == "challenge_invalid"
    unknown, _ = _login(world, client, nonce="made-up-nonce")
    assert unknown.status_code == 400


def test_failed_login_burns_the_nonce(world: dict[str, Any]) -> None:
    client = Client()
    nonce = post(client, "/api/v1/auth/card/challenge", {}).json()["nonce"]
    der = world["auth"].public_bytes(serialization.Encoding.DER)
    bad = post(
        client,
        "/api/v1/auth/card/login",
        {
            "nonce": nonce,
            "mode": "token",
            "certificate": base64.b64encode(der).decode(),
            "signature": base64.b64encode(world["pki"].raw_sign(b"something else")).decode(),
        },
    )
    assert bad.status_code == 422 and bad.json()["code"] == "signature_invalid"
    retry, _ = _login(world, client, nonce=nonce)
    assert retry.status_code == 400


def test_revoked_card_cannot_log_in_and_its_token_dies(world: dict[str, Any]) -> None:
    res, _ = _login(world, Client())
    token = res.json()["token"]
    revoke_card(actor=OPERATOR, card=world["card"], reason="紛失")
    res, _ = _login(world, Client())
    assert res.status_code == 401 and res.json()["code"] == "certificate_revoked"
    me = Client(headers={"Authorization": f"Bearer {token}"}).get("/api/v1/resident/me")
    assert me.status_code == 401


def test_crl_revoked_auth_certificate_refused(world: dict[str, Any]) -> None:
    world["pki"].revoke(world["auth"])
    res, _ = _login(world, Client())
    assert res.status_code == 422 and res.json()["code"] == "certificate_revoked"


def test_unregistered_card_refused(world: dict[str, Any]) -> None:
    stranger = resident(world["m"], family="未登録", given="太郎")
    world = {**world, "auth": world["pki"].auth_cert()}
    del stranger
    res, _ = _login(world, Client())
    assert res.status_code == 401 and res.json()["code"] == "card_unknown"


def test_session_mode_needs_the_browser_that_asked(world: dict[str, Any]) -> None:
    asker = Client()
    nonce = post(asker, "/api/v1/auth/card/challenge", {"mode": "session"}).json()["nonce"]
    res, _ = _login(world, Client(), mode="session", nonce=nonce)
    assert res.status_code == 400
    asker2 = Client()
    res, _ = _login(world, asker2, mode="session")
    assert res.status_code == 200 and "sessionid" in res.cookies
    assert asker2.get("/mypage/").status_code == 200
    apps = asker2.get("/api/v1/resident/applications")
    assert apps.status_code == 200 and apps.json() == []


def test_my_applications_listed_only_for_me(world: dict[str, Any]) -> None:
    m, pki = world["m"], world["pki"]
    payload = juminhyo_payload(m)
    post(
        Client(),
        f"/api/v1/municipalities/{m.code}/applications",
        api_body(payload, pki.sign(payload, world["sig"])),
    )
    other = resident(m, family="他人", given="次郎")
    other_payload = juminhyo_payload(m, include_honseki=True)
    post(
        Client(),
        f"/api/v1/municipalities/{m.code}/applications",
        api_body(other_payload, pki.sign(other_payload, pki.sig_cert(info_for(other)))),
    )
    assert Application.objects.count() == 2
    token = _login(world, Client())[0].json()["token"]
    mine = (
        Client(headers={"Authorization": f"Bearer {token}"})
        .get("/api/v1/resident/applications")
        .json()
    )
    assert len(mine) == 1 and mine[0]["procedure"] == "juminhyo-copy-request"
