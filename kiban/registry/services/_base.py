"""Shared building blocks of the registry services: inputs, checks and state succession."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from django.utils import timezone

from kiban.core import audit, crypto
from kiban.core.actors import Actor
from kiban.core.errors import Conflict, NotFound, ValidationFailed
from kiban.core.identifiers import (
    IdentifierError,
    generate_resident_code,
    normalize_digits,
    validate_mynumber,
    validate_resident_code,
)
from kiban.core.kana import is_katakana_name, normalize_kana, search_key
from kiban.core.models import Municipality, Role
from kiban.registry.models import (
    OPEN_END,
    PERSON_FACTS,
    EventKind,
    Household,
    Person,
    PersonState,
    RegistryEvent,
    Sex,
    Status,
)
from kiban.registry.signals import basic_info_changed

HEAD = "世帯主"
LODGER = "同居人"
CHILD = "子"

PersonRef = Person | str
HouseholdChangeKind = Literal["new_household", "join", "change_head"]

_rng = random.SystemRandom()


@dataclass(frozen=True)
class Address:
    """An address in the municipality: 町字 (as code and name), 番地以下 and 方書."""

    postcode: str
    town_code: str
    town_name: str
    address_detail: str
    building: str = ""


@dataclass(frozen=True)
class NewPerson:
    """A person entering the registry (転入 or 出生).

    ``resident_code`` is the 住民票コード the person already holds (it is national and
    follows them); leave it empty to issue a new one. A person who once lived here and
    moved away is recognised by it and returns with their history.
    """

    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    sex: str
    relationship: str = ""
    is_head: bool = False
    nationality: str = ""
    honseki: str = ""
    resident_code: str = ""
    mynumber: str = ""


# --- helpers ------------------------------------------------------------------------------


def _invalid(ja: str, en: str, field: str | None = None, **extra: Any) -> ValidationFailed:
    details: dict[str, Any] | None = None
    if field is not None or extra:
        details = {**({"field": field} if field is not None else {}), **extra}
    return ValidationFailed(ja, en, details=details)


def _require_clerk(actor: Actor, municipality: Municipality) -> None:
    actor.require(municipality, Role.REGISTRY_CLERK)


def _today() -> date:
    return timezone.localdate()


def _resolve_person(municipality: Municipality, ref: PersonRef) -> Person:
    if isinstance(ref, Person):
        if ref.municipality_id != municipality.code:
            raise NotFound("住民", "resident")
        return ref
    code = normalize_digits(str(ref))
    person = Person.objects.filter(municipality=municipality, resident_code=code).first()
    if person is None:
        raise NotFound("住民", "resident")
    return person


def _resolve_persons(municipality: Municipality, refs: Iterable[PersonRef]) -> list[Person]:
    seen: dict[int, Person] = {}
    for ref in refs:
        person = _resolve_person(municipality, ref)
        seen.setdefault(person.pk, person)
    # A fixed order (by key) for locking, so concurrent events cannot deadlock.
    return [seen[pk] for pk in sorted(seen)]


def _resolve_household(municipality: Municipality, household: Household | str) -> Household:
    if isinstance(household, Household):
        if household.municipality_id != municipality.code:
            raise NotFound("世帯", "household")
        return household
    found = Household.objects.filter(municipality=municipality, household_no=household).first()
    if found is None:
        raise NotFound("世帯", "household")
    return found


def _current_state(person: Person) -> PersonState:
    # Lock the person first: events on one person are serialised, and the state read
    # after the lock is the one the previous event committed (READ COMMITTED takes a
    # fresh snapshot per statement), so a concurrent second event sees the first.
    Person.objects.select_for_update().filter(pk=person.pk).values_list("pk").first()
    state = (
        PersonState.objects.select_for_update()
        .filter(municipality_id=person.municipality_id, person=person, valid_to=OPEN_END)
        .first()
    )
    if state is None:  # a Person always has a current state; guard against bad imports
        raise _invalid(
            f"住民票コード{person.resident_code}の現在の記録がありません。",
            f"Resident {person.resident_code} has no current record.",
        )
    return state


def _resident_state(person: Person, field: str) -> PersonState:
    state = _current_state(person)
    if state.status == Status.DECEASED:
        raise _invalid(
            f"{state.full_name}さんは死亡が記録されています。",
            f"{person.resident_code} is recorded as deceased.",
            field,
            resident_code=person.resident_code,
        )
    if state.status != Status.RESIDENT:
        raise _invalid(
            f"{state.full_name}さんは住民ではありません（転出済み）。",
            f"{person.resident_code} is not a resident (moved out).",
            field,
            resident_code=person.resident_code,
        )
    return state


def _check_dates(event_date: date, reported_date: date, *, event_may_follow: bool = False) -> None:
    if reported_date > _today():
        raise _invalid(
            "届出日が未来の日付です。",
            "The reported date is in the future.",
            "reported_date",
        )
    if not event_may_follow and event_date > reported_date:
        raise _invalid(
            "異動日が届出日より後です。",
            "The event date is after the reported date.",
            "event_date",
        )


def _check_order(state: PersonState, event_date: date, field: str = "event_date") -> None:
    if event_date < state.valid_from:
        raise _invalid(
            f"異動日が現在の記録の開始日（{state.valid_from.isoformat()}）より前です。"
            "過去の記録の誤りは職権修正で訂正してください。",
            f"The event date is before the current record began ({state.valid_from}). "
            "Fix past records with a correction.",
            field,
            current_valid_from=state.valid_from.isoformat(),
        )


_COPIED = (
    *PERSON_FACTS,
    "status",
    "household_id",
    "relationship",
    "is_head",
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "name_key",
    "given_key",
    "postcode",
    "town_code",
    "town_name",
    "address_detail",
    "building",
    "honseki",
)


def _successor(
    state: PersonState, event: RegistryEvent, event_date: date, **changes: Any
) -> PersonState:
    """Close ``state`` at ``event_date`` and open its successor with ``changes``."""
    state.valid_to = event_date
    state.save(update_fields=["valid_to"])
    values = {name: getattr(state, name) for name in _COPIED}
    values.update(changes)
    return PersonState.objects.create(
        municipality_id=state.municipality_id,
        person_id=state.person_id,
        valid_from=event_date,
        valid_to=OPEN_END,
        event=event,
        **values,
    )


def _fit(value: str, max_len: int, field: str) -> str:
    """Refuse text longer than its column instead of letting the database fail."""
    if len(value) > max_len:
        raise _invalid(
            f"{max_len}文字以内で入力してください。",
            f"Use {max_len} characters or fewer.",
            field,
            max_length=max_len,
        )
    return value


def _clean_name(value: str, field: str, label_ja: str, label_en: str) -> str:
    # Kanji are kept exactly as entered: only surrounding whitespace is dropped.
    cleaned = value.strip(" \u3000\t")
    if not cleaned:
        raise _invalid(f"{label_ja}を入力してください。", f"Enter the {label_en}.", field)
    if len(cleaned) > 40:
        raise _invalid(
            f"{label_ja}は40文字以内で入力してください。",
            f"The {label_en} must be 40 characters or fewer.",
            field,
        )
    return cleaned


def _clean_kana(value: str, field: str, label_ja: str, label_en: str) -> str:
    kana = normalize_kana(value)
    if not kana:
        raise _invalid(f"{label_ja}を入力してください。", f"Enter the {label_en}.", field)
    if not is_katakana_name(kana) or len(kana) > 80:
        raise _invalid(
            f"{label_ja}はカタカナで入力してください。",
            f"The {label_en} must be written in katakana.",
            field,
        )
    return kana


def _name_values(
    family_name: str, given_name: str, family_kana: str, given_kana: str, prefix: str = ""
) -> dict[str, str]:
    family_kana = _clean_kana(
        family_kana, f"{prefix}family_kana", "氏のフリガナ", "family name reading"
    )
    given_kana = _clean_kana(
        given_kana, f"{prefix}given_kana", "名のフリガナ", "given name reading"
    )
    return {
        "family_name": _clean_name(family_name, f"{prefix}family_name", "氏", "family name"),
        "given_name": _clean_name(given_name, f"{prefix}given_name", "名", "given name"),
        "family_kana": family_kana,
        "given_kana": given_kana,
        "name_key": search_key(family_kana + given_kana),
        "given_key": search_key(given_kana),
    }


def _clean_postcode(value: str, field: str) -> str:
    digits = normalize_digits(value).replace("〒", "").strip()
    if len(digits) != 7 or not digits.isascii() or not digits.isdigit():
        raise _invalid(
            "郵便番号は7桁の数字で入力してください。",
            "The postcode must be 7 digits.",
            field,
        )
    return digits


def _clean_town_code(value: str, field: str) -> str:
    code = normalize_digits(value).strip()
    if len(code) != 7 or not code.isascii() or not code.isdigit():
        raise _invalid(
            "町字IDは7桁の数字です。",
            "The town code (町字ID) must be 7 digits.",
            field,
        )
    return code


def _address_values(address: Address, prefix: str = "address.") -> dict[str, str]:
    town_name = address.town_name.strip()
    if not town_name:
        raise _invalid("町字を入力してください。", "Enter the town.", f"{prefix}town_name")
    detail = address.address_detail.strip()
    if not detail:
        raise _invalid(
            "番地以下を入力してください。", "Enter the street number.", f"{prefix}address_detail"
        )
    return {
        "postcode": _clean_postcode(address.postcode, f"{prefix}postcode"),
        "town_code": _clean_town_code(address.town_code, f"{prefix}town_code"),
        "town_name": _fit(town_name, 80, f"{prefix}town_name"),
        "address_detail": _fit(detail, 80, f"{prefix}address_detail"),
        "building": _fit(address.building.strip(), 80, f"{prefix}building"),
    }


def _same_address(values: dict[str, str], state: PersonState) -> bool:
    return (
        values["town_code"] == state.town_code
        and values["address_detail"] == state.address_detail
        and values["building"] == state.building
    )


def _address_of(state: PersonState) -> dict[str, str]:
    return {
        "postcode": state.postcode,
        "town_code": state.town_code,
        "town_name": state.town_name,
        "address_detail": state.address_detail,
        "building": state.building,
    }


def _new_resident_code(municipality: Municipality) -> str:
    while True:
        code = generate_resident_code(_rng)
        if not Person.objects.filter(municipality=municipality, resident_code=code).exists():
            return code


def _new_household(municipality: Municipality, created_on: date) -> Household:
    while True:
        number = f"{_rng.randrange(10**10):010d}"
        if not Household.objects.filter(municipality=municipality, household_no=number).exists():
            return Household.objects.create(
                municipality=municipality, household_no=number, created_on=created_on
            )


def _household_of(state: PersonState) -> Household:
    if state.household is None:
        raise _invalid(
            "世帯に属していない記録です。", "The record belongs to no household.", "household"
        )
    return state.household


def _members(municipality: Municipality, household_id: int) -> list[PersonState]:
    """Current resident states of a household's members, locked."""
    return list(
        PersonState.objects.select_for_update()
        .filter(
            municipality=municipality,
            household_id=household_id,
            valid_to=OPEN_END,
            status=Status.RESIDENT,
        )
        .select_related("person")
        .order_by("-is_head", "id")
    )


def _verify_heads(municipality: Municipality, household_ids: Iterable[int | None]) -> None:
    """Every household that still has resident members has exactly one head."""
    for hid in {h for h in household_ids if h is not None}:
        members = _members(municipality, hid)
        heads = sum(1 for s in members if s.is_head)
        if members and heads != 1:
            no = Household.objects.filter(pk=hid).values_list("household_no", flat=True).first()
            if heads == 0:
                raise _invalid(
                    f"世帯（世帯番号{no}）に世帯主がいなくなります。新しい世帯主を指定してください。",
                    f"Household {no} would be left without a head: name the new head.",
                    "new_head",
                    household_no=no,
                )
            raise _invalid(
                f"世帯（世帯番号{no}）に世帯主が複数になります。",
                f"Household {no} would have more than one head.",
                "head",
                household_no=no,
            )


def _appoint_new_head(
    municipality: Municipality,
    event: RegistryEvent,
    event_date: date,
    new_head: PersonRef | None,
    leaving: Sequence[PersonState],
) -> PersonState | None:
    """Make ``new_head`` head of the household a leaving head leaves behind."""
    if new_head is None:
        return None
    person = _resolve_person(municipality, new_head)
    left_households = {s.household_id for s in leaving if s.is_head}
    leaving_ids = {s.person_id for s in leaving}
    state = _resident_state(person, "new_head")
    if person.pk in leaving_ids or state.household_id not in left_households:
        raise _invalid(
            "新しい世帯主は、世帯主が抜ける世帯に残る世帯員から選んでください。",
            "The new head must be a remaining member of the household its head leaves.",
            "new_head",
        )
    _check_order(state, event_date)
    return _successor(state, event, event_date, is_head=True, relationship=HEAD)


def _event(
    *,
    municipality: Municipality,
    actor: Actor,
    kind: EventKind,
    event_date: date,
    reported_date: date,
    person: Person | None = None,
    household: Household | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> RegistryEvent:
    return RegistryEvent.objects.create(
        municipality=municipality,
        kind=kind,
        person=person,
        household=household,
        event_date=event_date,
        reported_date=reported_date,
        recorded_by=actor.id,
        reason=reason,
        details=details or {},
    )


def _finish(
    *,
    actor: Actor,
    municipality: Municipality,
    event: RegistryEvent,
    persons: Sequence[Person],
    household_ids: Iterable[int | None] = (),
    extra: dict[str, Any] | None = None,
) -> RegistryEvent:
    """Check heads, complete the event's details and write its one audit entry."""
    _verify_heads(municipality, household_ids)
    codes = [p.resident_code for p in persons]
    event.details = {**event.details, "resident_codes": codes}
    if event.person_id is None and persons:
        event.person = persons[0]
    event.save(update_fields=["details", "person"])
    audit.record(
        municipality=municipality,
        actor=actor,
        action=f"registry.{event.kind}",
        subject_type="registry_event",
        subject_id=str(event.pk),
        details={
            "kind": event.kind,
            "event_date": event.event_date.isoformat(),
            "reported_date": event.reported_date.isoformat(),
            "resident_codes": codes,
            **(extra or {}),
        },
    )
    if _changes_basic_info(event):
        for person in persons:
            basic_info_changed.send(
                sender=RegistryEvent, person=person, reason=event.kind, event=event
            )
    return event


# Fields of a correction that belong to the 基本4情報 carried in signature certificates.
_BASIC_INFO_FIELDS = {
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "birth_date",
    "sex",
    "postcode",
    "town_code",
    "town_name",
    "address_detail",
    "building",
}


def _changes_basic_info(event: RegistryEvent) -> bool:
    if event.kind in {
        EventKind.MOVE_OUT,
        EventKind.MOVE_WITHIN,
        EventKind.DEATH,
        EventKind.NAME_CHANGE,
    }:
        return True
    if event.kind == EventKind.CORRECTION:
        before = event.details.get("before", {})
        after = event.details.get("after", {})
        return any(before.get(k) != after.get(k) for k in _BASIC_INFO_FIELDS)
    return False


def _store_mynumber(person: Person, mynumber: str, field: str) -> None:
    try:
        number = validate_mynumber(mynumber)
    except IdentifierError as exc:
        raise _invalid(exc.message_ja, exc.message_en, field) from None
    digest = crypto.lookup_hash(number)
    clash = (
        Person.objects.filter(municipality_id=person.municipality_id, mynumber_hash=digest)
        .exclude(pk=person.pk)
        .exists()
    )
    if clash:
        raise Conflict(
            "この個人番号は別の住民に登録されています。",
            "This My Number is already registered to another resident.",
            details={"field": field},
        )
    person.mynumber_enc = crypto.encrypt(number)
    person.mynumber_hash = digest
    person.save(update_fields=["mynumber_enc", "mynumber_hash"])


def _check_person_facts(new: NewPerson, prefix: str, event_date: date) -> tuple[str, str]:
    if new.sex not in Sex.values:
        raise _invalid("性別を選択してください。", "Choose the sex (1 or 2).", f"{prefix}sex")
    if new.birth_date > event_date:
        raise _invalid(
            "生年月日が異動日より後です。",
            "The date of birth is after the event date.",
            f"{prefix}birth_date",
        )
    nationality = new.nationality.strip().upper()
    if nationality and (
        len(nationality) != 2 or not nationality.isascii() or not nationality.isalpha()
    ):
        raise _invalid(
            "国籍は2文字の国コード（例: KR）で入力してください。",
            "The nationality must be a 2-letter country code (e.g. KR).",
            f"{prefix}nationality",
        )
    _fit(new.relationship.strip(), 16, f"{prefix}relationship")
    return nationality, _fit(new.honseki.strip(), 120, f"{prefix}honseki")


def _enter_person(
    *,
    municipality: Municipality,
    event: RegistryEvent,
    new: NewPerson,
    prefix: str,
    household: Household,
    relationship: str,
    is_head: bool,
    address: dict[str, str],
    event_date: date,
) -> Person:
    """Create (or bring back) a person with a resident state from ``event_date``."""
    names = _name_values(new.family_name, new.given_name, new.family_kana, new.given_kana, prefix)
    nationality, honseki = _check_person_facts(new, prefix, event_date)
    if nationality == "JP":
        nationality = ""
    state_values: dict[str, Any] = {
        "status": Status.RESIDENT,
        "household_id": household.pk,
        "relationship": relationship,
        "is_head": is_head,
        "honseki": honseki,
        **names,
        **address,
    }
    person: Person | None = None
    if new.resident_code:
        try:
            code = validate_resident_code(new.resident_code)
        except IdentifierError as exc:
            raise _invalid(exc.message_ja, exc.message_en, f"{prefix}resident_code") from None
        person = Person.objects.filter(municipality=municipality, resident_code=code).first()
    else:
        code = _new_resident_code(municipality)
    if person is not None:
        # A former resident returning: same person, history continues.
        state = _current_state(person)
        if state.status != Status.MOVED_OUT:
            raise _invalid(
                f"住民票コード{code}の方は既に住民または死亡として記録されています。",
                f"Resident code {code} is already a resident or recorded as deceased.",
                f"{prefix}resident_code",
            )
        if person.birth_date != new.birth_date or person.sex != new.sex:
            raise _invalid(
                f"住民票コード{code}の記録と生年月日または性別が一致しません。",
                f"Date of birth or sex does not match the record of resident code {code}.",
                f"{prefix}resident_code",
            )
        _check_order(state, event_date)
        _successor(state, event, event_date, **state_values)
    else:
        person = Person.objects.create(
            municipality=municipality,
            resident_code=code,
            birth_date=new.birth_date,
            sex=new.sex,
            nationality=nationality,
        )
        PersonState.objects.create(
            municipality=municipality,
            person=person,
            **{fact: getattr(person, fact) for fact in PERSON_FACTS},
            valid_from=event_date,
            valid_to=OPEN_END,
            event=event,
            **state_values,
        )
    if new.mynumber:
        _store_mynumber(person, new.mynumber, f"{prefix}mynumber")
    return person
