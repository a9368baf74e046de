"""氏名変更・職権修正・支援措置・個人番号 (name change, correction, protection, My Number)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction

from kiban.core import audit
from kiban.core.actors import Actor
from kiban.core.models import Municipality, Role
from kiban.registry.models import (
    PERSON_FACTS,
    EventKind,
    Person,
    PersonState,
    RegistryEvent,
    Sex,
)
from kiban.registry.services._base import (
    HEAD,
    PersonRef,
    _check_dates,
    _check_order,
    _clean_postcode,
    _clean_town_code,
    _current_state,
    _event,
    _finish,
    _fit,
    _invalid,
    _name_values,
    _require_clerk,
    _resident_state,
    _resolve_person,
    _store_mynumber,
    _successor,
    _today,
)


@transaction.atomic
def record_name_change(
    *,
    actor: Actor,
    municipality: Municipality,
    person: PersonRef,
    event_date: date,
    reported_date: date,
    family_name: str | None = None,
    given_name: str | None = None,
    family_kana: str | None = None,
    given_kana: str | None = None,
) -> RegistryEvent:
    """氏名変更: a resident's name (and its reading) changes from ``event_date``.

    Omitted parts stay as they are; kana is normalised, kanji kept exactly as given.
    """
    _require_clerk(actor, municipality)
    _check_dates(event_date, reported_date)
    target = _resolve_person(municipality, person)
    state = _resident_state(target, "person")
    _check_order(state, event_date)
    names = _name_values(
        state.family_name if family_name is None else family_name,
        state.given_name if given_name is None else given_name,
        state.family_kana if family_kana is None else family_kana,
        state.given_kana if given_kana is None else given_kana,
    )
    before = {
        k: getattr(state, k) for k in ("family_name", "given_name", "family_kana", "given_kana")
    }
    after = {k: names[k] for k in before}
    if before == after:
        raise _invalid("変更内容がありません。", "Nothing changes.", "family_name")
    event = _event(
        municipality=municipality,
        actor=actor,
        kind=EventKind.NAME_CHANGE,
        event_date=event_date,
        reported_date=reported_date,
        person=target,
        household=state.household,
        details={"before": before, "after": after},
    )
    _successor(state, event, event_date, **names)
    return _finish(actor=actor, municipality=municipality, event=event, persons=[target])


STATE_CORRECTABLE = (
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "relationship",
    "postcode",
    "town_code",
    "town_name",
    "address_detail",
    "building",
    "honseki",
)
PERSON_CORRECTABLE = ("birth_date", "sex", "nationality")


def _correction_values(state: PersonState, changes: dict[str, Any]) -> dict[str, Any]:
    state_changes = {k: v for k, v in changes.items() if k in STATE_CORRECTABLE}
    values: dict[str, Any] = {}
    if {"family_name", "given_name", "family_kana", "given_kana"} & state_changes.keys():
        values.update(
            _name_values(
                str(state_changes.get("family_name", state.family_name)),
                str(state_changes.get("given_name", state.given_name)),
                str(state_changes.get("family_kana", state.family_kana)),
                str(state_changes.get("given_kana", state.given_kana)),
                prefix="changes.",
            )
        )
    if "postcode" in state_changes:
        values["postcode"] = _clean_postcode(str(state_changes["postcode"]), "changes.postcode")
    if "town_code" in state_changes:
        values["town_code"] = _clean_town_code(str(state_changes["town_code"]), "changes.town_code")
    limits = {
        "relationship": 16,
        "town_name": 80,
        "address_detail": 80,
        "building": 80,
        "honseki": 120,
    }
    for key, max_len in limits.items():
        if key in state_changes:
            values[key] = _fit(str(state_changes[key]).strip(), max_len, f"changes.{key}")
    for key in ("relationship", "town_name", "address_detail"):
        if key in values and not values[key]:
            raise _invalid("空欄にはできません。", "This cannot be blank.", f"changes.{key}")
    if values.get("relationship") == HEAD and not state.is_head:
        raise _invalid(
            "世帯主の変更は世帯変更で記録してください。",
            "Change the head with a household change.",
            "changes.relationship",
        )
    if state.is_head and "relationship" in values and values["relationship"] != HEAD:
        raise _invalid(
            "世帯主の変更は世帯変更で記録してください。",
            "Change the head with a household change.",
            "changes.relationship",
        )
    return values


def _person_corrections(person: Person, changes: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "birth_date" in changes:
        raw = changes["birth_date"]
        try:
            birth = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
        except ValueError:
            raise _invalid(
                "生年月日が正しくありません。",
                "The date of birth is not valid.",
                "changes.birth_date",
            ) from None
        if birth > _today():
            raise _invalid(
                "生年月日が未来の日付です。",
                "The date of birth is in the future.",
                "changes.birth_date",
            )
        values["birth_date"] = birth
    if "sex" in changes:
        if str(changes["sex"]) not in Sex.values:
            raise _invalid("性別が正しくありません。", "The sex is not valid.", "changes.sex")
        values["sex"] = str(changes["sex"])
    if "nationality" in changes:
        nat = str(changes["nationality"]).strip().upper()
        if nat == "JP":
            nat = ""
        if nat and (len(nat) != 2 or not nat.isascii() or not nat.isalpha()):
            raise _invalid(
                "国籍は2文字の国コードで入力してください。",
                "The nationality must be a 2-letter country code.",
                "changes.nationality",
            )
        values["nationality"] = nat
    return values


@transaction.atomic
def record_correction(
    *,
    actor: Actor,
    municipality: Municipality,
    person: PersonRef,
    changes: dict[str, Any],
    reason: str,
    event_date: date | None = None,
    reported_date: date | None = None,
) -> RegistryEvent:
    """職権修正: the municipality corrects a person's record, with a reason.

    ``changes`` maps field names (names, 続柄, address parts, 本籍, and the person's
    birth_date, sex, nationality) to corrected values. By default the correction applies
    from the start of the current record, which stays in the history as an empty range;
    ``event_date`` may instead start it later. Before and after values are kept in the
    event. Heads are changed with ``record_household_change``, not here.
    """
    _require_clerk(actor, municipality)
    reason = reason.strip()
    if not reason:
        raise _invalid(
            "修正の理由を入力してください。", "Enter the reason for the correction.", "reason"
        )
    if not changes:
        raise _invalid("修正内容を入力してください。", "Enter what to correct.", "changes")
    blank = sorted(k for k, v in changes.items() if v is None or isinstance(v, (dict, list)))
    if blank:
        raise _invalid(
            "修正後の内容を文字で入力してください。",
            "Give each corrected value as text.",
            f"changes.{blank[0]}",
        )
    unknown = sorted(set(changes) - set(STATE_CORRECTABLE) - set(PERSON_CORRECTABLE))
    if unknown:
        raise _invalid(
            f"修正できない項目です: {', '.join(unknown)}",
            f"These fields cannot be corrected: {', '.join(unknown)}",
            f"changes.{unknown[0]}",
        )
    target = _resolve_person(municipality, person)
    state = _current_state(target)
    reported = reported_date or _today()
    when = event_date or state.valid_from
    _check_dates(when, reported)
    _check_order(state, when)
    state_values = _correction_values(state, changes)
    person_values = _person_corrections(target, changes)
    before: dict[str, Any] = {k: getattr(state, k) for k in state_values if k in STATE_CORRECTABLE}
    before.update({k: getattr(target, k) for k in person_values})
    after: dict[str, Any] = {k: v for k, v in state_values.items() if k in STATE_CORRECTABLE}
    after.update(person_values)
    if before == after:
        raise _invalid("変更内容がありません。", "Nothing changes.", "changes")
    event = _event(
        municipality=municipality,
        actor=actor,
        kind=EventKind.CORRECTION,
        event_date=when,
        reported_date=reported,
        person=target,
        household=state.household,
        reason=reason[:200],
        details={
            "before": {k: str(v) for k, v in before.items()},
            "after": {k: str(v) for k, v in after.items()},
        },
    )
    if person_values:
        for key, value in person_values.items():
            setattr(target, key, value)
        target.save(update_fields=list(person_values))
        # Every state carries the person's facts (PersonState.resident_code etc.): the
        # corrected value holds for the whole history, as it does on the person.
        facts = {k: v for k, v in person_values.items() if k in PERSON_FACTS}
        if facts:
            PersonState.objects.filter(person=target).update(**facts)
            for key, value in facts.items():
                setattr(state, key, value)
    _successor(state, event, when, **state_values)
    return _finish(
        actor=actor,
        municipality=municipality,
        event=event,
        persons=[target],
        extra={"fields": sorted(after), "reason": reason[:200]},
    )


# --- flags and identifiers ----------------------------------------------------------------


@transaction.atomic
def set_protection(
    *,
    actor: Actor,
    municipality: Municipality,
    person: PersonRef,
    protected: bool,
    reason: str,
) -> Person:
    """支援措置: turn suppression of a person's record on or off (admin or registry clerk).

    Audited with the reason; not a registry event, as the record itself does not change.
    """
    actor.require(municipality, Role.MUNICIPALITY_ADMIN, Role.REGISTRY_CLERK)
    reason = reason.strip()
    if not reason:
        raise _invalid("理由を入力してください。", "Enter the reason.", "reason")
    target = _resolve_person(municipality, person)
    target = Person.objects.select_for_update().get(pk=target.pk)
    target.protected = protected
    target.save(update_fields=["protected"])
    audit.record(
        municipality=municipality,
        actor=actor,
        action="registry.protection.set" if protected else "registry.protection.unset",
        subject_type="person",
        subject_id=target.resident_code,
        purpose="support_measure",
        details={"protected": protected, "reason": reason[:200]},
    )
    return target


@transaction.atomic
def set_mynumber(
    *,
    actor: Actor,
    municipality: Municipality,
    person: PersonRef,
    mynumber: str,
) -> Person:
    """Store a person's 個人番号 encrypted, with its keyed lookup hash.

    Refused when the check digit is wrong or another resident holds the number. The
    number itself never reaches the audit log.
    """
    _require_clerk(actor, municipality)
    target = _resolve_person(municipality, person)
    target = Person.objects.select_for_update().get(pk=target.pk)
    _store_mynumber(target, mynumber, "mynumber")
    audit.record(
        municipality=municipality,
        actor=actor,
        action="registry.mynumber.set",
        subject_type="person",
        subject_id=target.resident_code,
    )
    return target
