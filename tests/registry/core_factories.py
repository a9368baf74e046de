"""Synthetic registry data for the core registry tests (no real personal data)."""

from __future__ import annotations

from datetime import date
from typing import Any

from kiban.core.actors import Actor
from kiban.core.models import Municipality
from kiban.registry import services
from kiban.registry.models import Person, PersonState, RegistryEvent
from kiban.registry.services import Address, NewPerson

ADDRESS = Address(
    postcode="2310023",
    town_code="0001000",
    town_name="山下町",
    address_detail="1番地",
    building="",
)
OTHER_ADDRESS = Address(
    postcode="2310001",
    town_code="0002000",
    town_name="新港",
    address_detail="2丁目3番4号",
    building="みなとハイツ101",
)


def new_person(
    family: str = "山田",
    given: str = "太郎",
    family_kana: str = "ヤマダ",
    given_kana: str = "タロウ",
    birth: date = date(1980, 4, 1),
    sex: str = "1",
    *,
    head: bool = False,
    relationship: str = "",
    **extra: Any,
) -> NewPerson:
    return NewPerson(
        family_name=family,
        given_name=given,
        family_kana=family_kana,
        given_kana=given_kana,
        birth_date=birth,
        sex=sex,
        is_head=head,
        relationship=relationship or ("" if head else "妻"),
        **extra,
    )


def family(
    actor: Actor,
    m: Municipality,
    *,
    on: date = date(2020, 4, 1),
    address: Address = ADDRESS,
    family_name: str = "山田",
    family_kana: str = "ヤマダ",
) -> tuple[RegistryEvent, Person, Person]:
    """A couple moving in together: (event, head, spouse)."""
    event = services.record_move_in(
        actor=actor,
        municipality=m,
        event_date=on,
        reported_date=on,
        persons=[
            new_person(
                family_name, "太郎", family_kana, "タロウ", date(1980, 4, 1), "1", head=True
            ),
            new_person(family_name, "花子", family_kana, "ハナコ", date(1982, 6, 15), "2"),
        ],
        address=address,
    )
    codes = event.details["resident_codes"]
    head = Person.objects.get(municipality=m, resident_code=codes[0])
    spouse = Person.objects.get(municipality=m, resident_code=codes[1])
    return event, head, spouse


def current(person: Person) -> PersonState:
    return PersonState.objects.get(person=person, valid_to=date(9999, 12, 31))
