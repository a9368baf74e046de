"""JSON API of the identity domain (mounted under /api/v1/ by kiban.api).

* ``POST /municipalities/{code}/applications`` — a resident's signed application. The
  signature is the authentication (no token): whoever holds the card signed it.
* ``POST /auth/card/challenge`` and ``POST /auth/card/login`` — card login.
* ``GET /resident/me`` and ``GET /resident/applications`` — for a resident signed in by card
  (``Authorization: Bearer kbr_...`` from ``mode: token``, or the portal session).
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
from datetime import datetime
from typing import Any, Literal

from django.db import connection
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.security import APIKeyCookie, HttpBearer

from kiban.core.actors import Actor, client_ip, resident_actor
from kiban.core.errors import KibanError, NotFound
from kiban.core.models import Municipality

router = Router(tags=["identity"])


# --------------------------------------------------------------------------- auth


class ResidentTokenAuth(HttpBearer):
    """``Authorization: Bearer kbr_...`` from a card login in token mode."""

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        from kiban.identity.services import find_resident_token

        tok = find_resident_token(token)
        if tok is None:
            return None
        actor = resident_actor(
            person_pk=tok.person_id,
            municipality_code=tok.municipality_id,
            label=f"resident:{tok.person_id}",
            request=request,
        )
        request.kiban_actor = actor  # type: ignore[attr-defined]
        return actor


class ResidentSessionAuth(APIKeyCookie):
    """The portal session of a resident signed in by card (CSRF checked by ninja)."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        from kiban.portal.auth import current_resident, portal_actor

        if current_resident(request) is None:
            return None
        return portal_actor(request)


RESIDENT_AUTH = [ResidentTokenAuth(), ResidentSessionAuth()]


def _resident(request: HttpRequest) -> Actor:
    actor = getattr(request, "kiban_actor", None) or getattr(request, "auth", None)
    if not isinstance(actor, Actor) or actor.kind != "resident" or actor.resident_pk is None:
        raise KibanError(
            "ログインしてください。", "Sign in with your card.", code="unauthorized", status=401
        )
    return actor


def resident_pk(actor: Actor) -> int:
    if actor.resident_pk is None:
        raise KibanError(
            "ログインしてください。", "Sign in with your card.", code="unauthorized", status=401
        )
    return actor.resident_pk


# --------------------------------------------------------------------------- rate limit


class _RateLimiter:
    """Per-client token bucket, per process (put a proxy limit in front in production).

    ``KIBAN_INTAKE_RATE`` submissions per second per client address (default 50, burst
    4x); 0 disables the limit.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        rate = float(os.environ.get("KIBAN_INTAKE_RATE", "50"))
        if rate <= 0:
            return True
        burst = rate * 4
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return False
            if len(self._buckets) > 10_000:
                self._buckets.clear()
            self._buckets[key] = (tokens - 1, now)
            return True


_limiter = _RateLimiter()


def _rate_limited(request: HttpRequest) -> None:
    if not _limiter.allow(client_ip(request)):
        raise KibanError(
            "送信が多すぎます。しばらくしてからもう一度お試しください。",
            "Too many requests; try again shortly.",
            code="rate_limited",
            status=429,
        )


# Intake runs this on every submission; as plain SQL it costs a fifth of the ORM query
# (kiban.core.services.get_municipality, same rule: an active municipality or 404).
_MUNICIPALITY_FIELDS = ("code", "name", "name_en", "prefecture", "settings", "active")
_MUNICIPALITY_SQL = (
    f"SELECT {', '.join(_MUNICIPALITY_FIELDS)} FROM {Municipality._meta.db_table} "  # noqa: S608
    "WHERE code = %s AND active = %s"
)


def _active_municipality(code: str) -> Municipality:
    """The active municipality ``code`` (other fields deferred); NotFound otherwise."""
    with connection.cursor() as cursor:
        cursor.execute(_MUNICIPALITY_SQL, [code, True])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("団体", "municipality")
    values = list(row)
    settings_field = Municipality._meta.get_field("settings")
    values[4] = settings_field.from_db_value(values[4], None, connection)  # type: ignore[arg-type]
    values[5] = bool(values[5])
    return Municipality.from_db(connection.alias, list(_MUNICIPALITY_FIELDS), values)


def _b64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        code = "payload_invalid" if field == "payload" else "signature_invalid"
        raise KibanError(
            f"{field} が正しい base64 ではありません。",
            f"{field} is not valid base64.",
            code=code,
            status=422,
        ) from exc


# --------------------------------------------------------------------------- applications


class SignedApplicationIn(Schema):
    procedure: str
    payload: str  # base64 of the UTF-8 JSON form data
    signature: str  # base64 of the DER detached CMS SignedData


class ApplicationOut(Schema):
    id: int
    status: str
    procedure: str
    created: bool


@router.post(
    "/municipalities/{code}/applications",
    auth=None,
    response={200: ApplicationOut, 201: ApplicationOut},
    summary="Submit a signed application (authenticated by its My Number card signature)",
)
def submit_application(
    request: HttpRequest, code: str, body: SignedApplicationIn
) -> tuple[int, dict[str, Any]]:
    from kiban.identity.intake import MAX_PAYLOAD_BYTES, submit_signed_application

    _rate_limited(request)
    if len(body.payload) > (MAX_PAYLOAD_BYTES * 4) // 3 + 4:
        raise KibanError(
            "申請データが大きすぎます（上限 1 MB）。",
            "The application data is too large (limit 1 MB).",
            code="payload_invalid",
            status=413,
        )
    m = _active_municipality(code)
    payload = _b64(body.payload, "payload")
    signature = _b64(body.signature, "signature")
    app, created = submit_signed_application(
        municipality=m,
        procedure_id=body.procedure,
        payload=payload,
        signature=signature,
        channel="api",
        source_ip=client_ip(request),
    )
    out = {"id": app.pk, "status": app.status, "procedure": app.procedure_id, "created": created}
    return (201 if created else 200), out


# --------------------------------------------------------------------------- card login


class ChallengeIn(Schema):
    mode: Literal["session", "token"] = "token"


class ChallengeOut(Schema):
    nonce: str
    expires_at: datetime
    sign: str


SESSION_NONCE_KEY = "kiban_card_nonce"


@router.post(
    "/auth/card/challenge",
    auth=None,
    response=ChallengeOut,
    summary="Card login, step 1: a single-use nonce (valid 5 minutes)",
)
def card_challenge(request: HttpRequest, body: ChallengeIn | None = None) -> dict[str, Any]:
    from kiban.identity.services import create_challenge

    _rate_limited(request)
    challenge = create_challenge()
    if body is not None and body.mode == "session":
        # A session login must come from the browser that asked for the challenge (login CSRF).
        request.session[SESSION_NONCE_KEY] = challenge.nonce
    return {
        "nonce": challenge.nonce,
        "expires_at": challenge.expires_at,
        "sign": "RSA PKCS#1 v1.5 SHA-256 over the ASCII bytes of nonce, "
        "with the card's user-authentication key",
    }


class LoginIn(Schema):
    nonce: str
    certificate: str  # base64 DER of the user-authentication certificate
    signature: str  # base64 of the signature over the nonce
    mode: Literal["session", "token"] = "session"


class LoginOut(Schema):
    mode: str
    municipality: str
    name: str
    token: str | None = None
    expires_at: datetime | None = None


@router.post(
    "/auth/card/login",
    auth=None,
    response=LoginOut,
    summary="Card login, step 2: the signed nonce; a portal session or a token",
)
def card_login_view(request: HttpRequest, body: LoginIn) -> dict[str, Any]:
    from kiban.identity.services import card_login, current_state, issue_resident_token
    from kiban.portal.auth import login_resident

    if body.mode == "session" and request.session.get(SESSION_NONCE_KEY) != body.nonce:
        raise KibanError(
            "このブラウザで発行されたチャレンジではありません。",
            "This challenge was not issued to this browser session.",
            code="challenge_invalid",
            status=400,
        )
    result = card_login(
        nonce=body.nonce,
        certificate=_b64(body.certificate, "certificate"),
        signature=_b64(body.signature, "signature"),
        source_ip=client_ip(request),
    )
    state = current_state(result.person)
    name = state.full_name if state else ""
    out: dict[str, Any] = {
        "mode": body.mode,
        "municipality": result.person.municipality_id,
        "name": name,
    }
    if body.mode == "token":
        tok, raw = issue_resident_token(result=result)
        out.update(token=raw, expires_at=tok.expires_at)
    else:
        request.session.pop(SESSION_NONCE_KEY, None)
        login_resident(request, person=result.person, card_id=result.card.pk)
    return out


# --------------------------------------------------------------------------- resident


class ResidentOut(Schema):
    municipality: str
    name: str
    kana: str
    address: str


class MyApplicationOut(Schema):
    id: int
    procedure: str
    status: str
    created_at: datetime
    documents: list[str]


@router.get(
    "/resident/me",
    auth=RESIDENT_AUTH,
    response=ResidentOut,
    summary="The resident signed in by card",
)
def resident_me(request: HttpRequest) -> dict[str, Any]:
    from kiban.identity.services import current_state, full_address
    from kiban.registry.models import Person

    actor = _resident(request)
    person = Person.objects.select_related("municipality").get(pk=resident_pk(actor))
    state = current_state(person)
    return {
        "municipality": person.municipality_id,
        "name": state.full_name if state else "",
        "kana": state.full_kana if state else "",
        "address": full_address(state, person.municipality) if state else "",
    }


@router.get(
    "/resident/applications",
    auth=RESIDENT_AUTH,
    response=list[MyApplicationOut],
    summary="The signed-in resident's applications",
)
def resident_applications(request: HttpRequest) -> list[dict[str, Any]]:
    from kiban.procedures.models import Application

    actor = _resident(request)
    apps = (
        Application.objects.filter(
            municipality_id=actor.municipality_code, person_id=resident_pk(actor)
        )
        .prefetch_related("documents")
        .order_by("-created_at")[:200]
    )
    return [
        {
            "id": a.pk,
            "procedure": a.procedure_id,
            "status": a.status,
            "created_at": a.created_at,
            "documents": [d.filename for d in a.documents.all()],
        }
        for a in apps
    ]
