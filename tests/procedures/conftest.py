"""Shared setup for the procedures tests: a household in the registry, a demo card, staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kiban.core.actors import Actor, operator_actor, staff_actor
from kiban.core.models import Municipality, StaffUser
from kiban.registry import services as registry
from kiban.registry.models import Person
from kiban.registry.services import Address, NewPerson
from tests import factories

HOME = Address(postcode="2310023", town_code="0001000", town_name="山下町", address_detail="1番地")


@dataclass
class Household:
    m: Municipality
    head: Person
    spouse: Person
    child: Person
    clerk: Actor


def make_household(
    m: Municipality, clerk: Actor, family: str = "見本", kana: str = "ミホン"
) -> Household:
    on = timezone.localdate() - timedelta(days=400)
    event = registry.record_move_in(
        actor=clerk,
        municipality=m,
        event_date=on,
        reported_date=on,
        persons=[
            NewPerson(
                family,
                "太郎",
                kana,
                "タロウ",
                date(1985, 4, 1),
                "1",
                is_head=True,
                relationship="世帯主",
            ),
            NewPerson(family, "花子", kana, "ハナコ", date(1987, 6, 15), "2", relationship="妻"),
            NewPerson(
                family, "一郎", kana, "イチロウ", on - timedelta(days=30), "1", relationship="子"
            ),
        ],
        address=HOME,
    )
    codes = event.details["resident_codes"]
    people = [Person.objects.get(municipality=m, resident_code=c) for c in codes]
    return Household(m, people[0], people[1], people[2], clerk)


@pytest.fixture
def household(db: Any) -> Household:
    m = factories.municipality()
    clerk = staff_actor(factories.staff(m, "registry_clerk"))
    return make_household(m, clerk)


@pytest.fixture
def reviewer(household: Household) -> StaffUser:
    """Citizens-division reviewer: reviews applications and may record registry events."""
    return factories.staff(household.m, "procedures_reviewer", "registry_clerk")


def give_card(person: Person) -> None:
    from kiban.identity.services import (
        DEMO_AUTH_PIN,
        DEMO_SIGN_PIN,
        demo_card_path,
        init_demo_ca,
        issue_card,
    )

    actor = operator_actor("test")
    init_demo_ca(actor=actor)
    issue_card(
        actor=actor,
        municipality=person.municipality,
        resident_code=person.resident_code,
        out=demo_card_path(person.municipality_id, person.resident_code),
        auth_pin=DEMO_AUTH_PIN,
        sign_pin=DEMO_SIGN_PIN,
        overwrite=True,
    )


def resident_client(person: Person) -> Client:
    """A portal client signed in as ``person`` with the demo card sign-in."""
    give_card(person)
    client = Client()
    r = client.post("/login/demo/", {"person": person.pk, "next": "/procedures/"})
    assert r.status_code == 302, r.content[:500]
    return client


def signed(person: Person, procedure_id: str, answers: dict[str, Any]) -> tuple[bytes, bytes]:
    """(payload, detached CMS) signed with the person's demo card (issued when missing)."""
    import uuid

    from kiban.identity.cards import SoftCard
    from kiban.identity.services import DEMO_SIGN_PIN, demo_card_path
    from kiban.procedures.services import canonical_payload

    path = demo_card_path(person.municipality_id, person.resident_code)
    if not path.exists():
        give_card(person)
    payload = canonical_payload(
        person.municipality, procedure_id, {"_nonce": uuid.uuid4().hex, **answers}
    )
    return payload, SoftCard.open(path).sign_cms(payload, DEMO_SIGN_PIN)


def submit(person: Person, procedure_id: str, answers: dict[str, Any]) -> Any:
    """Submit a signed application through identity's intake; returns the Application."""
    from kiban.identity.intake import submit_signed_application

    payload, signature = signed(person, procedure_id, answers)
    app, created = submit_signed_application(
        municipality=person.municipality,
        procedure_id=procedure_id,
        payload=payload,
        signature=signature,
        channel="portal",
    )
    assert created
    return app


def move_out_answers(
    h: Household, *, days: int = 10, movers: list[Person] | None = None
) -> dict[str, Any]:
    return {
        "planned_date": (timezone.localdate() + timedelta(days=days)).isoformat(),
        "movers": [p.resident_code for p in (movers or [h.head, h.spouse, h.child])],
        "new_postcode": "1000001",
        "new_address": "東京都千代田区千代田1番1号",
    }


def serve_static(browser_page: Any) -> None:
    """Serve /static/ from the source tree in a Playwright page's context.

    pytest-django's live server does not serve static files while DEBUG is off, and the
    screenshots and the contrast checks need the real stylesheet.
    """
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "kiban" / "static"

    def handle(route: Any) -> None:
        rel = route.request.url.split("/static/", 1)[1].split("?", 1)[0]
        target = (root / rel).resolve()
        if root in target.parents and target.is_file():
            route.fulfill(path=str(target))
        else:
            route.fulfill(status=404, body="not found")

    browser_page.context.route("**/static/**", handle)
