"""Demo seeding for identity: the demo CA and soft cards for a few demo residents.

Cards are written to ``KEYS_DIR/cards/<municipality>-<住民票コード>.p12`` with the demo PINs
(authentication ``1234``, signing ``DEMO1234``) so the portal's demo sign-in can use them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from kiban.core.actors import operator_actor
from kiban.core.models import Municipality
from kiban.identity.models import Card
from kiban.identity.services import (
    DEMO_AUTH_PIN,
    DEMO_SIGN_PIN,
    demo_card_path,
    init_demo_ca,
    issue_card,
)
from kiban.registry.models import OPEN_END, PersonState, Status

DEMO_CARDS = 10


def seed(
    *,
    municipality: Municipality,
    residents: int,
    out: Any = None,
    cards: int = DEMO_CARDS,
) -> int:
    """Give up to ``cards`` adult demo residents a soft card (idempotent). Returns how many
    cards were issued now."""
    if not settings.DEMO:
        return 0
    actor = operator_actor("demo-seed")
    init_demo_ca(actor=actor)
    states = (
        PersonState.objects.filter(
            municipality=municipality,
            valid_to=OPEN_END,
            status=Status.RESIDENT,
            person__protected=False,
        )
        .select_related("person")
        .order_by("person_id")
    )
    issued = 0
    have = 0
    for state in states.iterator(chunk_size=200):
        if have >= cards:
            break
        person = state.person
        if person.birth_date.year > 2008:
            continue  # adults only: a nicer demo
        path = demo_card_path(municipality.code, person.resident_code)
        if path.exists() and Card.objects.filter(person=person, revoked_at__isnull=True).exists():
            have += 1
            continue
        issue_card(
            actor=actor,
            municipality=municipality,
            resident_code=person.resident_code,
            out=path,
            auth_pin=DEMO_AUTH_PIN,
            sign_pin=DEMO_SIGN_PIN,
            overwrite=True,
        )
        issued += 1
        have += 1
    if out is not None and issued:
        out.print(
            f"{municipality.name}: {issued} demo cards / デモ用カード "
            f"(PIN {DEMO_AUTH_PIN}, signing {DEMO_SIGN_PIN})"
        )
    return issued
