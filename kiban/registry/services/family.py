"""出生・死亡・世帯変更 (birth, death, household change)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.db import transaction

from kiban.core.actors import Actor
from kiban.core.identifiers import normalize_digits
from kiban.core.models import Municipality
from kiban.registry.models import (
    EventKind,
    Household,
    Person,
    RegistryEvent,
    Status,
)
from kiban.registry.services._base import (
    CHILD,
    HEAD,
    LODGER,
    HouseholdChangeKind,
    NewPerson,
    PersonRef,
    _address_of,
    _appoint_new_head,
    _check_dates,
    _check_order,
    _enter_person,
    _event,
    _finish,
    _fit,
    _household_of,
    _invalid,
    _members,
    _new_household,
    _require_clerk,
    _resident_state,
    _resolve_household,
    _resolve_person,
    _resolve_persons,
    _same_address,
    _successor,
    _today,
)


@transaction.atomic
def record_birth(
    *,
    actor: Actor,
    municipality: Municipality,
    reported_date: date,
    child: NewPerson,
    mother: PersonRef | None = None,
    household: Household | str | None = None,
) -> RegistryEvent:
    """出生: a child born on ``child.birth_date`` joins the mother's (or the given) household.

    The child takes the household's current address; the 続柄 defaults to 子.
    """
    _require_clerk(actor, municipality)
    event_date = child.birth_date
    if event_date > _today():
        raise _invalid(
            "出生日が未来の日付です。", "The date of birth is in the future.", "child.birth_date"
        )
    if event_date > reported_date:
        raise _invalid(
            "出生日が届出日より後です。",
            "The date of birth is after the reported date.",
            "child.birth_date",
        )
    _check_dates(event_date, reported_date)
    if child.is_head:
        raise _invalid(
            "出生した子を世帯主にはできません。",
            "A newborn cannot be the head of a household.",
            "child.is_head",
        )
    mother_person: Person | None = None
    if mother is not None:
        mother_person = _resolve_person(municipality, mother)
        mother_state = _resident_state(mother_person, "mother")
        if mother_person.birth_date >= event_date:
            raise _invalid(
                "母の生年月日が子の出生日より後です。",
                "The mother's date of birth is after the child's.",
                "mother",
            )
        if household is None:
            household = mother_state.household
    if household is None:
        raise _invalid(
            "母または出生した子が入る世帯を指定してください。",
            "Name the mother or the household the child joins.",
            "household",
        )
    target = _resolve_household(municipality, household)
    members = _members(municipality, target.pk)
    head_states = [m for m in members if m.is_head]
    if not head_states:
        raise _invalid(
            "指定の世帯には世帯主のいる現在の世帯員がいません。",
            "The household has no current head.",
            "household",
        )
    if event_date < target.created_on:
        raise _invalid(
            "出生日が世帯の設立日より前です。転入として記録してください。",
            "The date of birth is before the household existed: record a move-in.",
            "child.birth_date",
        )
    event = _event(
        municipality=municipality,
        actor=actor,
        kind=EventKind.BIRTH,
        event_date=event_date,
        reported_date=reported_date,
        household=target,
        details={
            "household_no": target.household_no,
            "mother": mother_person.resident_code if mother_person else "",
        },
    )
    person = _enter_person(
        municipality=municipality,
        event=event,
        new=child,
        prefix="child.",
        household=target,
        relationship=child.relationship.strip() or CHILD,
        is_head=False,
        address=_address_of(head_states[0]),
        event_date=event_date,
    )
    return _finish(
        actor=actor,
        municipality=municipality,
        event=event,
        persons=[person],
        household_ids=[target.pk],
    )


@transaction.atomic
def record_death(
    *,
    actor: Actor,
    municipality: Municipality,
    person: PersonRef,
    event_date: date,
    reported_date: date,
    new_head: PersonRef | None = None,
) -> RegistryEvent:
    """死亡: the person is recorded as deceased from ``event_date``.

    Refused for someone already deceased or not a resident. If the head dies and others
    remain, ``new_head`` names the new head, changed in the same transaction.
    """
    _require_clerk(actor, municipality)
    _check_dates(event_date, reported_date)
    target = _resolve_person(municipality, person)
    state = _resident_state(target, "person")
    _check_order(state, event_date)
    event = _event(
        municipality=municipality,
        actor=actor,
        kind=EventKind.DEATH,
        event_date=event_date,
        reported_date=reported_date,
        person=target,
        household=state.household,
    )
    _successor(state, event, event_date, status=Status.DECEASED)
    _appoint_new_head(municipality, event, event_date, new_head, [state])
    return _finish(
        actor=actor,
        municipality=municipality,
        event=event,
        persons=[target],
        household_ids=[state.household_id],
    )


@transaction.atomic
def record_household_change(
    *,
    actor: Actor,
    municipality: Municipality,
    kind: HouseholdChangeKind,
    event_date: date,
    reported_date: date,
    persons: Sequence[PersonRef] = (),
    household: Household | str | None = None,
    head: PersonRef | None = None,
    new_head: PersonRef | None = None,
    relationships: dict[str, str] | None = None,
) -> RegistryEvent:
    """世帯変更 at the same address.

    - ``new_household``: ``persons`` leave their household and form a new one headed by
      ``head`` (one of them).
    - ``join``: ``persons`` join ``household`` (which lives at their address).
    - ``change_head``: ``head`` becomes head of their household; ``relationships`` must give
      the former head's new 続柄 (keys are 住民票コード; other members' entries update theirs).

    ``new_head`` names the head of a household whose head leaves it.
    """
    _require_clerk(actor, municipality)
    _check_dates(event_date, reported_date)
    relationships = {
        normalize_digits(k): _fit(str(v).strip(), 16, "relationships")
        for k, v in (relationships or {}).items()
    }
    if kind not in ("new_household", "join", "change_head"):
        raise _invalid(
            "世帯変更の種類が正しくありません。",
            "Unknown kind of household change.",
            "kind",
        )
    touched: list[int | None] = []
    changed: list[Person] = []
    if kind == "change_head":
        if head is None:
            raise _invalid(
                "世帯主のいない世帯にはできません。新しい世帯主を指定してください。",
                "A household cannot be without a head: name the new head.",
                "head",
            )
        head_person = _resolve_person(municipality, head)
        head_state = _resident_state(head_person, "head")
        if household is not None:
            hh = _resolve_household(municipality, household)
            if hh.pk != head_state.household_id:
                raise _invalid(
                    "新しい世帯主はその世帯の世帯員から選んでください。",
                    "The new head must be a member of the household.",
                    "head",
                )
        if head_state.is_head:
            raise _invalid("指定の方は既に世帯主です。", "That person is already the head.", "head")
        hh = _household_of(head_state)
        members = _members(municipality, hh.pk)
        old_head = next((m for m in members if m.is_head), None)
        if old_head is not None and not relationships.get(old_head.person.resident_code):
            raise _invalid(
                "前の世帯主の新しい続柄を入力してください。",
                "Enter the former head's new relationship to the head.",
                "relationships",
                resident_code=old_head.person.resident_code,
            )
        for m in members:
            _check_order(m, event_date)
        event = _event(
            municipality=municipality,
            actor=actor,
            kind=EventKind.HOUSEHOLD_CHANGE,
            event_date=event_date,
            reported_date=reported_date,
            person=head_person,
            household=hh,
            details={"change": kind, "household_no": hh.household_no},
        )
        for m in members:
            code = m.person.resident_code
            if m.pk == head_state.pk:
                _successor(m, event, event_date, is_head=True, relationship=HEAD)
            elif m.is_head or code in relationships:
                _successor(m, event, event_date, is_head=False, relationship=relationships[code])
            else:
                continue
            changed.append(m.person)
        touched.append(hh.pk)
        return _finish(
            actor=actor,
            municipality=municipality,
            event=event,
            persons=changed,
            household_ids=touched,
            extra={"change": kind},
        )

    people = _resolve_persons(municipality, persons)
    if not people:
        raise _invalid("対象の方を指定してください。", "Name the persons concerned.", "persons")
    states = [_resident_state(p, "persons") for p in people]
    for s in states:
        _check_order(s, event_date)
    ids = {s.person_id for s in states}
    target: Household
    head_person_id: int | None = None
    if kind == "new_household":
        if head is None:
            raise _invalid(
                "世帯主のいない世帯は作れません。世帯主を指定してください。",
                "A household cannot be without a head: name its head.",
                "head",
            )
        hp = _resolve_person(municipality, head)
        if hp.pk not in ids:
            raise _invalid(
                "世帯主は新しい世帯に入る方から選んでください。",
                "The head must be one of the persons forming the household.",
                "head",
            )
        head_person_id = hp.pk
        if len({(s.town_code, s.address_detail, s.building) for s in states}) != 1:
            raise _invalid(
                "住所の異なる方で世帯を作ることはできません。",
                "Persons at different addresses cannot form one household.",
                "persons",
            )
        target = _new_household(municipality, event_date)
    else:
        if household is None:
            raise _invalid(
                "加わる世帯を指定してください。", "Name the household to join.", "household"
            )
        target = _resolve_household(municipality, household)
        members = [m for m in _members(municipality, target.pk) if m.person_id not in ids]
        if not members:
            raise _invalid(
                "指定の世帯には現在の世帯員がいません。",
                "The household has no current members.",
                "household",
            )
        if any(s.household_id == target.pk for s in states):
            raise _invalid(
                "既にその世帯の世帯員です。",
                "Already a member of that household.",
                "persons",
            )
        if any(not _same_address(_address_of(members[0]), s) for s in states):
            raise _invalid(
                "住所の異なる世帯には加われません。転居として記録してください。",
                "Cannot join a household at another address: record a move within.",
                "household",
            )
    event = _event(
        municipality=municipality,
        actor=actor,
        kind=EventKind.HOUSEHOLD_CHANGE,
        event_date=event_date,
        reported_date=reported_date,
        household=target,
        details={"change": kind, "household_no": target.household_no},
    )
    for s in states:
        code = s.person.resident_code
        is_head = s.person_id == head_person_id
        default = s.relationship if kind == "new_household" and not s.is_head else LODGER
        _successor(
            s,
            event,
            event_date,
            household_id=target.pk,
            is_head=is_head,
            relationship=HEAD if is_head else relationships.get(code) or default,
        )
    _appoint_new_head(municipality, event, event_date, new_head, states)
    touched = [s.household_id for s in states] + [target.pk]
    return _finish(
        actor=actor,
        municipality=municipality,
        event=event,
        persons=people,
        household_ids=touched,
        extra={"change": kind, "household_no": target.household_no},
    )
