"""The JSON API under /api/v1/: one django-ninja router per domain.

Clients authenticate with a per-municipality bearer token (``Authorization: Bearer
kbn_...``); staff signed in to the console may also call it with their session (CSRF
checked). Every handler resolves the acting ``Actor`` with ``actor_of(request)`` and the
services check role and municipality.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import APIKeyCookie, HttpBearer

from kiban.core.actors import Actor, staff_actor, token_actor
from kiban.core.errors import KibanError
from kiban.core.models import ApiToken


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        tok = ApiToken.find(token)
        if tok is None:
            return None
        actor = token_actor(tok, request)
        request.kiban_actor = actor  # type: ignore[attr-defined]
        return actor


class StaffSessionAuth(APIKeyCookie):
    """Console session; ninja's cookie auth enforces CSRF for unsafe methods."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if user.needs_second_factor and not user.is_verified():
            return None
        actor = staff_actor(user, request)
        request.kiban_actor = actor  # type: ignore[attr-defined]
        return actor


def actor_of(request: HttpRequest) -> Actor:
    actor = getattr(request, "kiban_actor", None)
    if actor is None:
        actor = getattr(request, "auth", None)
    if not isinstance(actor, Actor):
        raise AuthenticationError()
    return actor


api = NinjaAPI(
    title="kiban API",
    version="1",
    description=(
        "kiban — 自治体の基盤 / open-source municipal platform. Staff and API clients "
        "authenticate with a per-municipality bearer token. Errors are JSON with "
        "`code`, `message_ja` and `message_en`."
    ),
    auth=[TokenAuth(), StaffSessionAuth()],
    urls_namespace="api-v1",
    docs_url="/docs",
)


def _error(request: HttpRequest, body: dict[str, Any], status: int) -> HttpResponse:
    return api.create_response(request, body, status=status)


@api.exception_handler(KibanError)
def _kiban_error(request: HttpRequest, exc: KibanError) -> HttpResponse:
    return _error(request, exc.as_dict(), exc.status)


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    return _error(
        request,
        {
            "code": "invalid_request",
            "message_ja": "リクエストの形式が正しくありません。",
            "message_en": "The request is not in the expected form.",
            "details": exc.errors,
        },
        422,
    )


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(
        request,
        {
            "code": "unauthorized",
            "message_ja": "認証が必要です。有効なトークンを指定してください。",
            "message_en": "Authentication required: send a valid bearer token.",
        },
        401,
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(
        request,
        {"code": "http_error", "message_ja": str(exc), "message_en": str(exc)},
        exc.status_code,
    )


def _mount() -> None:
    from kiban.benefits.api import router as benefits_router
    from kiban.core.api import router as core_router
    from kiban.identity.api import router as identity_router
    from kiban.procedures.api import router as procedures_router
    from kiban.registry.api import router as registry_router

    api.add_router("/", core_router)
    api.add_router("/", registry_router)
    api.add_router("/", identity_router)
    api.add_router("/", procedures_router)
    api.add_router("/", benefits_router)


_mount()
