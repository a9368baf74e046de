"""Resident sign-in for the portal (My Number card login).

A resident signs in by card challenge-response (see :mod:`kiban.identity.services`); the
session then remembers the person and the card used. Every later request re-checks that
the card is still valid (not revoked, not expired) and that the person is still a resident
of the municipality, so revoking a card ends its sessions at the next click.

Stable API for the other portal pages:

* :func:`resident_required` — view decorator; redirects to ``/login/?next=...`` otherwise.
* :func:`current_resident` — ``(Person, Municipality)`` or ``None``.
* :func:`portal_actor` — the :class:`~kiban.core.actors.Actor` of the signed-in resident.
* :func:`login_resident` / :func:`logout_resident` — used by the login views.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from kiban.core.actors import Actor, resident_actor
from kiban.core.errors import Forbidden

if TYPE_CHECKING:
    from kiban.core.models import Municipality
    from kiban.registry.models import Person

SESSION_KEY = "kiban_resident"
F = TypeVar("F", bound=Callable[..., HttpResponse])

__all__ = [
    "SESSION_KEY",
    "current_resident",
    "login_resident",
    "logout_resident",
    "portal_actor",
    "resident_label",
    "resident_required",
]


def login_resident(request: HttpRequest, *, person: Person, card_id: int | None) -> None:
    """Start a resident session (new session key, so a fixed session id cannot be reused)."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = {
        "person": person.pk,
        "municipality": person.municipality_id,
        "card": card_id,
    }
    for attr in ("_kiban_resident", "kiban_actor"):
        if hasattr(request, attr):
            delattr(request, attr)


def logout_resident(request: HttpRequest) -> None:
    """End the resident session (staff console sign-in, if any, is ended too: one session)."""
    request.session.flush()
    for attr in ("_kiban_resident", "kiban_actor"):
        if hasattr(request, attr):
            delattr(request, attr)


def _load(request: HttpRequest) -> tuple[Person, Municipality] | None:
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict) or "person" not in data:
        return None
    from kiban.identity.services import session_card_valid
    from kiban.registry.models import Person

    person = (
        Person.objects.select_related("municipality")
        .filter(pk=data["person"], municipality_id=data.get("municipality"))
        .first()
    )
    if person is None or not session_card_valid(person=person, card_id=data.get("card")):
        request.session.pop(SESSION_KEY, None)
        return None
    return person, person.municipality


def current_resident(request: HttpRequest) -> tuple[Person, Municipality] | None:
    """The signed-in resident and their municipality, or ``None`` (cached per request)."""
    if not hasattr(request, "_kiban_resident"):
        request._kiban_resident = _load(request)  # type: ignore[attr-defined]
    return cast("tuple[Person, Municipality] | None", request._kiban_resident)  # type: ignore[attr-defined]


def resident_label(person: Person) -> str:
    """Display name of the resident from their current registry state."""
    from kiban.registry.models import OPEN_END

    state = (
        person.states.filter(municipality_id=person.municipality_id, valid_to=OPEN_END)
        .order_by("-valid_from")
        .first()
    )
    return state.full_name if state is not None else person.resident_code


def portal_actor(request: HttpRequest) -> Actor:
    """The acting resident; raises :class:`Forbidden` when nobody is signed in."""
    actor = getattr(request, "kiban_actor", None)
    if isinstance(actor, Actor) and actor.kind == "resident":
        return actor
    found = current_resident(request)
    if found is None:
        raise Forbidden(
            "ログインしてください。", "Please sign in with your My Number card.", status=401
        )
    person, municipality = found
    actor = resident_actor(
        person_pk=person.pk,
        municipality_code=municipality.code,
        label=resident_label(person),
        request=request,
    )
    request.kiban_actor = actor  # type: ignore[attr-defined]
    return actor


def resident_required(view: F) -> F:
    """Require a signed-in resident; otherwise redirect to the card login page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if current_resident(request) is None:
            return redirect(f"/login/?next={quote(request.get_full_path())}")
        portal_actor(request)
        return view(request, *args, **kwargs)

    return cast(F, wrapper)
