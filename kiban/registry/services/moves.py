"""転入・転出・転居 (move in, move out, move within)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

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
    HEAD,
    LODGER,
    Address,
    NewPerson,
    PersonRef,
    _address_values,
    _appoint_new_head,
    _check_dates,
    _check_order,
    _enter_person,
    _event,
    _finish,
    _fit,
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
)


@transaction.atomic
def record_move_in(
    *,
    actor: Actor,
    municipality: Municipality,
    event_date: date,
    reported_date: date,
    persons: Sequence[NewPerson],
    address: Address,
    household: Household | str | None = None,
    previous_address: str = "",
) -> RegistryEvent:
    """転入: persons arrive from elsewhere (or return) and become residents on ``event_date``.

    Without ``household`` they form a new household and exactly one of them is its head;
    with it they join that household, which must live at ``address``. Persons with a
    ``resident_code`` already on file must have moved out earlier: they return.
    """
    _require_clerk(actor, municipality)
    _check_dates(event_date, reported_date)
    if not persons:
        raise _invalid("転入する方を入力してください。", "Enter who is moving in.", "persons")
    addr = _address_values(address)
    heads = [i for i, p in enumerate(persons) if p.is_head]
    if household is None:
        if len(heads) != 1:
            raise _invalid(
                "新しい世帯の世帯主を1人指定してください。",
                "Name exactly one head of the new household.",
                "persons",
            )
        target = _new_household(municipality, event_date)
    else:
        target = _resolve_household(municipality, household)
        members = _members(municipality, target.pk)
        if not members:
            raise _invalid(
                "指定の世帯には現在の世帯員がいません。",
                "The household has no current members.",
                "household",
            )
        if not _same_address(addr, members[0]):
            raise _invalid(
                "指定の世帯の住所と転入先の住所が異なります。",
                "The address differs from the household's address.",
                "household",
            )
        if heads:
            raise _invalid(
                "既存の世帯には世帯主がいます。世帯主の変更は世帯変更で記録してください。",
                "The household already has a head; change the head with a household change.",
                f"persons.{heads[0]}.is_head",
            )
    event = _event(
        municipality=municipality,
        actor=actor,
        kind=EventKind.MOVE_IN,
        event_date=event_date,
        reported_date=reported_date,
        household=target,
        details={
            "household_no": target.household_no,
            "previous_address": _fit(previous_address.strip(), 200, "previous_address"),
        },
    )
    entered: list[Person] = []
    for i, new in enumerate(persons):
        prefix = f"persons.{i}."
        relationship = HEAD if new.is_head else new.relationship.strip()
        if not relationship:
            raise _invalid(
                "続柄を入力してください。",
                "Enter the relationship to the head.",
                f"{prefix}relationship",
            )
        entered.append(
            _enter_person(
                municipality=municipality,
                event=event,
                new=new,
                prefix=prefix,
                household=target,
                relationship=relationship,
                is_head=new.is_head,
                address=addr,
                event_date=event_date,
            )
        )
    return _finish(
        actor=actor,
        municipality=municipality,
        event=event,
        persons=entered,
        household_ids=[target.pk],
        extra={"household_no": target.household_no},
    )


@transaction.atomic
def record_move_out(
    *,
    actor: Actor,
    municipality: Municipality,
    persons: Sequence[PersonRef],
    event_date: date,
    reported_date: date,
    destination: str,
    new_head: PersonRef | None = None,
) -> RegistryEvent:
    """転出: residents leave the municipality on ``event_date`` (the planned date).

    The planned date may lie after the reported date; until then the persons remain
    residents in every as-of query. A head who leaves members behind needs ``new_head``.
    """
    _require_clerk(actor, municipality)
    _check_dates(event_date, reported_date, event_may_follow=True)
    destination = _fit(destination.strip(), 200, "destination")
    if not destination:
        raise _invalid("転出先を入力してください。", "Enter the destination.", "destination")
    people = _resolve_persons(municipality, persons)
    if not people:
        raise _invalid("転出する方を指定してください。", "Name who is moving out.", "persons")
    states = [_resident_state(p, "persons") for p in people]
    for s in states:
        _check_order(s, event_date)
    event = _event(
        municipality=municipality,
        actor=actor,
        kind=EventKind.MOVE_OUT,
        event_date=event_date,
        reported_date=reported_date,
        household=states[0].household,
        details={"destination": destination},
    )
    for s in states:
        _successor(s, event, event_date, status=Status.MOVED_OUT)
    _appoint_new_head(municipality, event, event_date, new_head, states)
    return _finish(
        actor=actor,
        municipality=municipality,
        event=event,
        persons=people,
        household_ids=[s.household_id for s in states],
    )


@transaction.atomic
def record_move_within(
    *,
    actor: Actor,
    municipality: Municipality,
    persons: Sequence[PersonRef],
    event_date: date,
    reported_date: date,
    address: Address,
    household: Household | str | None = None,
    new_household: bool = False,
    head: PersonRef | None = None,
    new_head: PersonRef | None = None,
    relationships: dict[str, str] | None = None,
) -> RegistryEvent:
    """転居: residents move to another address in the municipality.

    A whole household moves together and stays one household. Part of a household must
    either form a new household (``new_household=True`` with its ``head``) or join the
    ``household`` already living at ``address`` (``relationships`` by 住民票コード, default
    同居人). A head leaving members behind needs ``new_head``.
    """
    _require_clerk(actor, municipality)
    _check_dates(event_date, reported_date)
    addr = _address_values(address)
    people = _resolve_persons(municipality, persons)
    if not people:
        raise _invalid("転居する方を指定してください。", "Name who is moving.", "persons")
    states = [_resident_state(p, "persons") for p in people]
    for s in states:
        _check_order(s, event_date)
        if _same_address(addr, s):
            raise _invalid(
                "転居先が現在の住所と同じです。",
                "The new address is the same as the current one.",
                "address",
            )
    relationships = {
        normalize_digits(k): _fit(str(v).strip(), 16, "relationships")
        for k, v in (relationships or {}).items()
    }
    moving_ids = {s.person_id for s in states}
    target: Household | None = None
    head_person: Person | None = None
    if household is not None and new_household:
        raise _invalid(
            "新しい世帯と既存の世帯は同時に指定できません。",
            "Choose either a new household or an existing one, not both.",
            "household",
        )
    if household is not None:
        target = _resolve_household(municipality, household)
        members = [m for m in _members(municipality, target.pk) if m.person_id not in moving_ids]
        if not members or not _same_address(addr, members[0]):
            raise _invalid(
                "加わる世帯が転居先の住所にありません。",
                "The household to join does not live at the new address.",
                "household",
            )
    elif new_household:
        if head is None:
            raise _invalid(
                "新しい世帯の世帯主を指定してください。",
                "Name the head of the new household.",
                "head",
            )
        head_person = _resolve_person(municipality, head)
        if head_person.pk not in moving_ids:
            raise _invalid(
                "世帯主は転居する方から選んでください。",
                "The head must be one of the persons moving.",
                "head",
            )
        target = _new_household(municipality, event_date)
    else:
        for hid in {s.household_id for s in states}:
            everyone = {m.person_id for m in _members(municipality, hid)} if hid else set()
            if not everyone <= moving_ids:
                raise _invalid(
                    "世帯の一部の方だけが転居します。新しい世帯を作るか、加わる世帯を指定してください。",
                    "Only part of the household is moving: form a new household or name "
                    "the household to join.",
                    "persons",
                )
    event = _event(
        municipality=municipality,
        actor=actor,
        kind=EventKind.MOVE_WITHIN,
        event_date=event_date,
        reported_date=reported_date,
        household=target or states[0].household,
        details={"previous_address": states[0].address},
    )
    for s in states:
        changes: dict[str, Any] = dict(addr)
        if target is not None:
            changes["household_id"] = target.pk
            is_head = head_person is not None and s.person_id == head_person.pk
            changes["is_head"] = is_head
            default = s.relationship if new_household and not s.is_head else LODGER
            changes["relationship"] = (
                HEAD if is_head else relationships.get(s.person.resident_code) or default
            )
        _successor(s, event, event_date, **changes)
    _appoint_new_head(municipality, event, event_date, new_head, states)
    return _finish(
        actor=actor,
        municipality=municipality,
        event=event,
        persons=people,
        household_ids=[s.household_id for s in states] + [target.pk if target else None],
    )
