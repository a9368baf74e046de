"""Console access: sign-in required, second factor for admin roles, role checks."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from kiban.core.actors import Actor, staff_actor
from kiban.core.errors import Forbidden
from kiban.core.models import Municipality

F = TypeVar("F", bound=Callable[..., HttpResponse])


def console_actor(request: HttpRequest) -> Actor:
    actor = getattr(request, "kiban_actor", None)
    if actor is None:
        actor = staff_actor(request.user, request)  # type: ignore[arg-type]
        request.kiban_actor = actor  # type: ignore[attr-defined]
    return actor


def console_municipality(request: HttpRequest) -> Municipality:
    user: Any = request.user
    if user.municipality is None:
        raise Forbidden(
            "基盤運用者は住民の情報を閲覧できません。",
            "Platform operators cannot read residents' data.",
        )
    return cast(Municipality, user.municipality)


def staff_required(*roles: str) -> Callable[[F], F]:
    """Sign-in (and TOTP for admin roles) required; with roles, one of them is required."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user: Any = request.user
            if not user.is_authenticated:
                return redirect(f"/console/login/?next={request.path}")
            if user.needs_second_factor and not user.is_verified():
                return redirect(f"/console/otp/?next={request.path}")
            if roles and not user.has_role(*roles):
                raise Forbidden()
            console_actor(request)
            return view(request, *args, **kwargs)

        return cast(F, wrapper)

    return decorator
