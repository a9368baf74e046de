"""Registry events: what each records, and every refusal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from kiban.core import crypto
from kiban.core.audit import verify_chain
from kiban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kiban.core.identifiers import generate_mynumber
from kiban.core.models import AuditEntry, Role
from kiban.registry import services
from kiban.registry.models import (
    OPEN_END,
    EventKind,
    Household,
    Person,
    PersonState,
    RegistryEvent,
    Status,
)
from kiban.registry.queries import households_as_of, snapshot_as_of
from kiban.registry.services import Address
from tests.factories import CHIYODA, actor_for, municipality
from tests.registry.core_factories import ADDRESS, OTHER_ADDRESS, current, family, new_person

pytestmark = pytest.mark.django_db

D = date(2020, 4, 1)


@pytest.fixture
def clerk(m: Any) -> Any:
    return actor_for(m, Role.REGISTRY_CLERK)


def refused(exc: pytest.ExceptionInfo[ValidationFailed], field: str) -> None:
    assert exc.value.details["field"] == field
    assert exc.value.message_ja and exc.value.message_en
    assert exc.value.status == 422


def audit_count(m: Any) -> int:
    return AuditEntry.objects.filter(municipality=m).count()


# --- move in --------------------------------------------------------------------------------


def test_move_in_creates_household_states_and_one_audit_entry(m: Any, clerk: Any) -> None:
    before = audit_count(m)
    event, head, spouse = family(clerk, m)
    assert event.kind == EventKind.MOVE_IN
    assert audit_count(m) == before + 1
    entry = AuditEntry.objects.filter(municipality=m).order_by("-seq").first()
    assert entry is not None and entry.action == "registry.move_in"
    assert entry.details["resident_codes"] == [head.resident_code, spouse.resident_code]
    h, s = current(head), current(spouse)
    assert h.is_head and h.relationship == "世帯主" and not s.is_head
    assert h.household_id == s.household_id == event.household_id
    assert (h.status, h.valid_from, h.valid_to) == (Status.RESIDENT, D, OPEN_END)
    assert h.town_code == ADDRESS.town_code and h.address == "山下町1番地"
    assert verify_chain(m.code) is None


def test_move_in_normalises_kana_and_keeps_kanji(m: Any, clerk: Any) -> None:
    event = services.record_move_in(
        actor=clerk,
        municipality=m,
        event_date=D,
        reported_date=D,
        persons=[new_person("髙橋", "﨑子", "たかはし", "ｻｷｺ", head=True)],
        address=ADDRESS,
    )
    state = current(Person.objects.get(resident_code=event.details["resident_codes"][0]))
    assert (state.family_name, state.given_name) == ("髙橋", "﨑子")
    assert (state.family_kana, state.given_kana) == ("タカハシ", "サキコ")
    assert state.name_key == "タカハシサキコ" and state.given_key == "サキコ"


@pytest.mark.parametrize(
    ("persons", "field"),
    [
        ([new_person(head=False)], "persons"),
        ([new_person(head=True), new_person("山田", "次郎", head=True)], "persons"),
        ([new_person(family_kana="Yamada", head=True)], "persons.0.family_kana"),
        ([new_person(family="", head=True)], "persons.0.family_name"),
        ([new_person(head=True), new_person(relationship=" ")], "persons.1.relationship"),
        ([new_person(head=True, birth=D + timedelta(days=1))], "persons.0.birth_date"),
        ([new_person(head=True, sex="9")], "persons.0.sex"),
        ([new_person(head=True, nationality="KOR")], "persons.0.nationality"),
        ([new_person(head=True, mynumber="123456789012")], "persons.0.mynumber"),
        ([], "persons"),
    ],
)
def test_move_in_refusals(m: Any, clerk: Any, persons: list[Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_in(
            actor=clerk,
            municipality=m,
            event_date=D,
            reported_date=D,
            persons=persons,
            address=ADDRESS,
        )
    refused(exc, field)
    assert not Person.objects.filter(municipality=m).exists()
    assert audit_count(m) == 0 or not AuditEntry.objects.filter(action="registry.move_in").exists()


@pytest.mark.parametrize(
    ("event_date", "reported_date", "field"),
    [
        # Tomorrow when the test runs: a date computed at collection is today (and no longer
        # in the future) if midnight passes before this test's turn.
        (lambda: D, lambda: timezone.localdate() + timedelta(days=1), "reported_date"),
        (lambda: D + timedelta(days=2), lambda: D, "event_date"),
    ],
)
def test_move_in_date_refusals(
    m: Any,
    clerk: Any,
    event_date: Callable[[], date],
    reported_date: Callable[[], date],
    field: str,
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_in(
            actor=clerk,
            municipality=m,
            event_date=event_date(),
            reported_date=reported_date(),
            persons=[new_person(head=True)],
            address=ADDRESS,
        )
    refused(exc, field)


def test_move_in_bad_address_refused(m: Any, clerk: Any) -> None:
    bad = Address("23100", "0001000", "山下町", "1番地")
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_in(
            actor=clerk,
            municipality=m,
            event_date=D,
            reported_date=D,
            persons=[new_person(head=True)],
            address=bad,
        )
    refused(exc, "address.postcode")


def test_move_in_needs_registry_clerk_of_this_municipality(m: Any) -> None:
    kwargs: dict[str, Any] = {
        "municipality": m,
        "event_date": D,
        "reported_date": D,
        "persons": [new_person(head=True)],
        "address": ADDRESS,
    }
    with pytest.raises(Forbidden):
        services.record_move_in(actor=actor_for(m, Role.BENEFITS_CLERK), **kwargs)
    with pytest.raises(NotFound):
        services.record_move_in(
            actor=actor_for(municipality(CHIYODA[0]), Role.REGISTRY_CLERK), **kwargs
        )
    assert not Person.objects.exists()


def test_move_in_joining_a_household(m: Any, clerk: Any) -> None:
    event, _head, _ = family(clerk, m)
    hh = event.household
    joined = services.record_move_in(
        actor=clerk,
        municipality=m,
        event_date=D + timedelta(days=10),
        reported_date=D + timedelta(days=10),
        persons=[
            new_person("山田", "ハル", "ヤマダ", "ハル", date(1950, 1, 1), "2", relationship="母")
        ],
        address=ADDRESS,
        household=hh,
    )
    newcomer = Person.objects.get(resident_code=joined.details["resident_codes"][0])
    assert current(newcomer).household_id == hh.pk
    assert current(newcomer).relationship == "母"
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_in(
            actor=clerk,
            municipality=m,
            event_date=D + timedelta(days=11),
            reported_date=D + timedelta(days=11),
            persons=[new_person("佐藤", "一郎", "サトウ", "イチロウ", relationship="同居人")],
            address=OTHER_ADDRESS,
            household=hh,
        )
    refused(exc, "household")


def test_returning_resident_keeps_code_and_history(m: Any, clerk: Any) -> None:
    _, head, spouse = family(clerk, m)
    services.record_move_out(
        actor=clerk,
        municipality=m,
        persons=[head, spouse],
        event_date=date(2021, 1, 1),
        reported_date=date(2020, 12, 20),
        destination="東京都千代田区",
    )
    back = services.record_move_in(
        actor=clerk,
        municipality=m,
        event_date=date(2022, 1, 1),
        reported_date=date(2022, 1, 5),
        persons=[new_person(head=True, resident_code=head.resident_code)],
        address=OTHER_ADDRESS,
    )
    assert back.details["resident_codes"] == [head.resident_code]
    states = list(PersonState.objects.filter(person=head).order_by("valid_from"))
    assert [s.status for s in states] == [Status.RESIDENT, Status.MOVED_OUT, Status.RESIDENT]
    assert Person.objects.filter(municipality=m, resident_code=head.resident_code).count() == 1
    # Someone who is still a resident cannot move in again.
    _, other, _ = family(clerk, m, family_name="鈴木", family_kana="スズキ")
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_in(
            actor=clerk,
            municipality=m,
            event_date=date(2022, 2, 1),
            reported_date=date(2022, 2, 1),
            persons=[new_person(head=True, resident_code=other.resident_code)],
            address=ADDRESS,
        )
    refused(exc, "persons.0.resident_code")


def test_mynumber_is_encrypted_hashed_and_unique(m: Any, clerk: Any) -> None:
    import random

    number = generate_mynumber(random.Random(7))
    event = services.record_move_in(
        actor=clerk,
        municipality=m,
        event_date=D,
        reported_date=D,
        persons=[new_person(head=True, mynumber=number)],
        address=ADDRESS,
    )
    person = Person.objects.get(resident_code=event.details["resident_codes"][0])
    assert number not in person.mynumber_enc
    assert crypto.decrypt(person.mynumber_enc) == number
    assert person.mynumber_hash == crypto.lookup_hash(number)
    assert not AuditEntry.objects.filter(details__icontains=number).exists()
    _, other, _ = family(clerk, m, family_name="鈴木", family_kana="スズキ")
    with pytest.raises(Conflict):
        services.set_mynumber(actor=clerk, municipality=m, person=other, mynumber=number)
    with pytest.raises(ValidationFailed):
        services.set_mynumber(actor=clerk, municipality=m, person=other, mynumber="123")


# --- move out -------------------------------------------------------------------------------


def test_move_out_on_planned_date(m: Any, clerk: Any) -> None:
    _, head, spouse = family(clerk, m)
    planned = timezone.localdate() + timedelta(days=7)
    event = services.record_move_out(
        actor=clerk,
        municipality=m,
        persons=[head.resident_code, spouse],
        event_date=planned,
        reported_date=timezone.localdate(),
        destination="大阪府大阪市",
    )
    assert event.details["destination"] == "大阪府大阪市"
    residents = set(snapshot_as_of(m, planned - timedelta(days=1)).values_list("person", flat=True))
    assert residents == {head.pk, spouse.pk}
    assert not snapshot_as_of(m, planned).exists()
    assert current(head).status == Status.MOVED_OUT


def test_move_out_refusals(m: Any, clerk: Any) -> None:
    _, head, spouse = family(clerk, m)
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_out(
            actor=clerk,
            municipality=m,
            persons=[head],
            event_date=D + timedelta(days=5),
            reported_date=D + timedelta(days=5),
            destination="大阪府",
        )
    refused(exc, "new_head")  # the head leaves his wife without a head
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_out(
            actor=clerk,
            municipality=m,
            persons=[spouse],
            event_date=D - timedelta(days=1),
            reported_date=D,
            destination="大阪府",
        )
    refused(exc, "event_date")  # before the current record began
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_out(
            actor=clerk,
            municipality=m,
            persons=[spouse],
            event_date=D,
            reported_date=D,
            destination=" ",
        )
    refused(exc, "destination")
    services.record_move_out(
        actor=clerk,
        municipality=m,
        persons=[head],
        event_date=D + timedelta(days=5),
        reported_date=D + timedelta(days=5),
        destination="大阪府",
        new_head=spouse,
    )
    assert current(spouse).is_head and current(spouse).relationship == "世帯主"
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_out(
            actor=clerk,
            municipality=m,
            persons=[head],
            event_date=D + timedelta(days=6),
            reported_date=D + timedelta(days=6),
            destination="大阪府",
        )
    refused(exc, "persons")  # not a resident any more
    with pytest.raises(NotFound):
        services.record_move_out(
            actor=clerk,
            municipality=m,
            persons=["99999999999"],
            event_date=D,
            reported_date=D,
            destination="大阪府",
        )


# --- move within ----------------------------------------------------------------------------


def test_move_within_whole_household(m: Any, clerk: Any) -> None:
    event, head, spouse = family(clerk, m)
    day = D + timedelta(days=30)
    services.record_move_within(
        actor=clerk,
        municipality=m,
        persons=[head, spouse],
        event_date=day,
        reported_date=day,
        address=OTHER_ADDRESS,
    )
    assert current(head).household_id == event.household_id
    assert current(spouse).building == "みなとハイツ101"
    old = PersonState.objects.get(person=head, valid_to=day)
    assert old.town_name == "山下町"


def test_move_within_part_of_household(m: Any, clerk: Any) -> None:
    event, head, spouse = family(clerk, m)
    day = D + timedelta(days=30)
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_within(
            actor=clerk,
            municipality=m,
            persons=[spouse],
            event_date=day,
            reported_date=day,
            address=OTHER_ADDRESS,
        )
    refused(exc, "persons")
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_within(
            actor=clerk,
            municipality=m,
            persons=[spouse],
            event_date=day,
            reported_date=day,
            address=OTHER_ADDRESS,
            new_household=True,
        )
    refused(exc, "head")
    with pytest.raises(ValidationFailed) as exc:
        services.record_move_within(
            actor=clerk,
            municipality=m,
            persons=[spouse],
            event_date=day,
            reported_date=day,
            address=ADDRESS,
            new_household=True,
            head=spouse,
        )
    refused(exc, "address")
    services.record_move_within(
        actor=clerk,
        municipality=m,
        persons=[spouse],
        event_date=day,
        reported_date=day,
        address=OTHER_ADDRESS,
        new_household=True,
        head=spouse,
    )
    s = current(spouse)
    assert s.is_head and s.household_id != event.household_id
    assert current(head).is_head and current(head).household_id == event.household_id


# --- birth ----------------------------------------------------------------------------------


def test_birth_joins_mothers_household(m: Any, clerk: Any) -> None:
    event, head, spouse = family(clerk, m)
    born = date(2021, 5, 5)
    birth = services.record_birth(
        actor=clerk,
        municipality=m,
        reported_date=date(2021, 5, 10),
        mother=spouse,
        child=new_person("山田", "一郎", "やまだ", "いちろう", born, "1", relationship=" "),
    )
    child = Person.objects.get(resident_code=birth.details["resident_codes"][0])
    state = current(child)
    assert (state.valid_from, state.household_id, state.relationship) == (
        born,
        event.household_id,
        "子",
    )
    assert state.address == current(head).address
    assert child.birth_date == born


def test_birth_refusals(m: Any, clerk: Any) -> None:
    _, _head, spouse = family(clerk, m)
    tomorrow = timezone.localdate() + timedelta(days=1)
    with pytest.raises(ValidationFailed) as exc:
        services.record_birth(
            actor=clerk,
            municipality=m,
            reported_date=timezone.localdate(),
            mother=spouse,
            child=new_person("山田", "未来", "ヤマダ", "ミライ", tomorrow, "2"),
        )
    refused(exc, "child.birth_date")
    with pytest.raises(ValidationFailed) as exc:
        services.record_birth(
            actor=clerk,
            municipality=m,
            reported_date=date(2021, 1, 2),
            child=new_person("山田", "一郎", "ヤマダ", "イチロウ", date(2021, 1, 1), "1"),
        )
    refused(exc, "household")
    services.record_death(
        actor=clerk,
        municipality=m,
        person=spouse,
        event_date=date(2021, 2, 1),
        reported_date=date(2021, 2, 1),
    )
    with pytest.raises(ValidationFailed) as exc:
        services.record_birth(
            actor=clerk,
            municipality=m,
            reported_date=date(2021, 3, 2),
            mother=spouse,
            child=new_person("山田", "一郎", "ヤマダ", "イチロウ", date(2021, 3, 1), "1"),
        )
    refused(exc, "mother")


# --- death ----------------------------------------------------------------------------------


def test_death_and_its_refusals(m: Any, clerk: Any) -> None:
    _, head, spouse = family(clerk, m)
    day = date(2023, 3, 3)
    with pytest.raises(ValidationFailed) as exc:
        services.record_death(
            actor=clerk, municipality=m, person=head, event_date=day, reported_date=day
        )
    refused(exc, "new_head")
    assert current(head).status == Status.RESIDENT  # nothing was written
    before = audit_count(m)
    services.record_death(
        actor=clerk,
        municipality=m,
        person=head,
        event_date=day,
        reported_date=day,
        new_head=spouse,
    )
    assert audit_count(m) == before + 1  # death and change of head: one event, one entry
    assert current(head).status == Status.DECEASED
    assert current(spouse).is_head
    assert current(spouse).event_id == current(head).event_id
    with pytest.raises(ValidationFailed) as exc:
        services.record_death(
            actor=clerk, municipality=m, person=head, event_date=day, reported_date=day
        )
    refused(exc, "person")
    assert "死亡" in exc.value.message_ja and "deceased" in exc.value.message_en
    services.record_move_out(
        actor=clerk,
        municipality=m,
        persons=[spouse],
        event_date=day,
        reported_date=day,
        destination="京都府",
    )
    with pytest.raises(ValidationFailed) as exc:
        services.record_death(
            actor=clerk, municipality=m, person=spouse, event_date=day, reported_date=day
        )
    refused(exc, "person")


# --- household change -----------------------------------------------------------------------


def test_household_change_new_join_and_head(m: Any, clerk: Any) -> None:
    event, head, spouse = family(clerk, m)
    day = date(2022, 1, 1)
    with pytest.raises(ValidationFailed) as exc:
        services.record_household_change(
            actor=clerk,
            municipality=m,
            kind="new_household",
            event_date=day,
            reported_date=day,
            persons=[spouse],
        )
    refused(exc, "head")
    split = services.record_household_change(
        actor=clerk,
        municipality=m,
        kind="new_household",
        event_date=day,
        reported_date=day,
        persons=[spouse],
        head=spouse,
    )
    assert current(spouse).household_id == split.household_id != event.household_id
    assert current(spouse).is_head
    back = services.record_household_change(
        actor=clerk,
        municipality=m,
        kind="join",
        event_date=day,
        reported_date=day,
        persons=[spouse],
        household=event.household,
        relationships={spouse.resident_code: "妻"},
    )
    assert current(spouse).household_id == event.household_id
    assert current(spouse).relationship == "妻" and not current(spouse).is_head
    assert back.details["change"] == "join"
    with pytest.raises(ValidationFailed) as exc:
        services.record_household_change(
            actor=clerk,
            municipality=m,
            kind="change_head",
            event_date=day,
            reported_date=day,
            head=spouse,
        )
    refused(exc, "relationships")
    services.record_household_change(
        actor=clerk,
        municipality=m,
        kind="change_head",
        event_date=day,
        reported_date=day,
        head=spouse,
        relationships={head.resident_code: "夫"},
    )
    assert current(spouse).is_head and current(spouse).relationship == "世帯主"
    assert not current(head).is_head and current(head).relationship == "夫"
    with pytest.raises(ValidationFailed) as exc:
        services.record_household_change(
            actor=clerk,
            municipality=m,
            kind="change_head",
            event_date=day,
            reported_date=day,
        )
    refused(exc, "head")
    with pytest.raises(ValidationFailed) as exc:
        services.record_household_change(
            actor=clerk,
            municipality=m,
            kind="merge",
            event_date=day,  # type: ignore[arg-type]
            reported_date=day,
            persons=[head],
        )
    refused(exc, "kind")


def test_join_household_at_other_address_refused(m: Any, clerk: Any) -> None:
    event, _, _ = family(clerk, m)
    _, other, _ = family(clerk, m, address=OTHER_ADDRESS, family_name="鈴木", family_kana="スズキ")
    with pytest.raises(ValidationFailed) as exc:
        services.record_household_change(
            actor=clerk,
            municipality=m,
            kind="join",
            event_date=D,
            reported_date=D,
            persons=[other],
            household=event.household.household_no,
            new_head=None,
        )
    refused(exc, "household")


# --- name change and correction -------------------------------------------------------------


def test_name_change(m: Any, clerk: Any) -> None:
    _, _head, spouse = family(clerk, m)
    day = date(2024, 6, 1)
    event = services.record_name_change(
        actor=clerk,
        municipality=m,
        person=spouse,
        event_date=day,
        reported_date=day,
        family_name="齋藤",
        family_kana="さいとう",
    )
    s = current(spouse)
    assert (s.family_name, s.family_kana, s.given_name) == ("齋藤", "サイトウ", "花子")
    assert s.name_key == "サイトウハナコ"
    assert event.details["before"]["family_name"] == "山田"
    with pytest.raises(ValidationFailed) as exc:
        services.record_name_change(
            actor=clerk,
            municipality=m,
            person=spouse,
            event_date=day,
            reported_date=day,
            family_name="齋藤",
        )
    refused(exc, "family_name")
    with pytest.raises(ValidationFailed) as exc:
        services.record_name_change(
            actor=clerk,
            municipality=m,
            person=spouse,
            event_date=day,
            reported_date=day,
            given_kana="hanako",
        )
    refused(exc, "given_kana")


def test_correction_replaces_current_record_and_keeps_history(m: Any, clerk: Any) -> None:
    _, head, spouse = family(clerk, m)
    with pytest.raises(ValidationFailed) as exc:
        services.record_correction(
            actor=clerk,
            municipality=m,
            person=spouse,
            changes={"given_name": "華子"},
            reason=" ",
        )
    refused(exc, "reason")
    with pytest.raises(ValidationFailed) as exc:
        services.record_correction(
            actor=clerk,
            municipality=m,
            person=spouse,
            changes={"status": "deceased"},
            reason="誤記",
        )
    refused(exc, "changes.status")
    event = services.record_correction(
        actor=clerk,
        municipality=m,
        person=spouse,
        changes={"given_name": "華子", "birth_date": "1982-06-16"},
        reason="届書との照合による誤記訂正",
    )
    assert event.reason == "届書との照合による誤記訂正"
    assert event.details["before"]["given_name"] == "花子"
    assert event.details["after"]["birth_date"] == "1982-06-16"
    states = list(PersonState.objects.filter(person=spouse).order_by("id"))
    assert states[0].given_name == "花子" and states[0].valid_from == states[0].valid_to == D
    assert current(spouse).given_name == "華子" and current(spouse).valid_from == D
    on_d = snapshot_as_of(m, D).get(person=spouse)
    assert on_d.given_name == "華子"
    spouse.refresh_from_db()
    assert spouse.birth_date == date(1982, 6, 16)
    # Every state, the closed one too, carries the corrected date: snapshots read it there.
    assert {s.birth_date for s in PersonState.objects.filter(person=spouse)} == {spouse.birth_date}
    members = households_as_of(m, D)[on_d.household_id].members
    assert [x.birth_date for x in members if x.person_id == spouse.pk] == [spouse.birth_date]
    with pytest.raises(ValidationFailed) as exc:
        services.record_correction(
            actor=clerk,
            municipality=m,
            person=head,
            changes={"relationship": "夫"},
            reason="誤記",
        )
    refused(exc, "changes.relationship")


# --- protection -----------------------------------------------------------------------------


def test_set_protection_roles_reason_and_audit(m: Any, clerk: Any) -> None:
    _, head, _ = family(clerk, m)
    admin = actor_for(m, Role.MUNICIPALITY_ADMIN)
    with pytest.raises(ValidationFailed) as exc:
        services.set_protection(actor=admin, municipality=m, person=head, protected=True, reason="")
    refused(exc, "reason")
    with pytest.raises(Forbidden):
        services.set_protection(
            actor=actor_for(m, Role.BENEFITS_CLERK),
            municipality=m,
            person=head,
            protected=True,
            reason="DV支援措置申出",
        )
    services.set_protection(
        actor=admin, municipality=m, person=head, protected=True, reason="DV支援措置申出"
    )
    head.refresh_from_db()
    assert head.protected
    entry = AuditEntry.objects.get(action="registry.protection.set")
    assert entry.subject_id == head.resident_code and entry.details["reason"] == "DV支援措置申出"


def test_events_are_in_history_of_each_person(m: Any, clerk: Any) -> None:
    _, head, spouse = family(clerk, m)
    services.record_move_within(
        actor=clerk,
        municipality=m,
        persons=[head, spouse],
        event_date=date(2021, 1, 1),
        reported_date=date(2021, 1, 1),
        address=OTHER_ADDRESS,
    )
    from kiban.registry.queries import person_events

    assert [e.kind for e in person_events(spouse)] == [EventKind.MOVE_IN, EventKind.MOVE_WITHIN]
    assert Household.objects.filter(municipality=m).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_deaths_record_one_event() -> None:
    """Two clerks record the same death at once: one event, the other is refused."""
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("row locks are only contended on PostgreSQL")
    m = municipality()
    clerk = actor_for(m, Role.REGISTRY_CLERK)
    _, _head, spouse = family(clerk, m)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def record() -> None:
        try:
            barrier.wait()
            services.record_death(
                actor=clerk, municipality=m, person=spouse, event_date=D, reported_date=D
            )
            outcomes.append("ok")
        except ValidationFailed:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=record) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    assert RegistryEvent.objects.filter(municipality=m, kind=EventKind.DEATH).count() == 1
    assert PersonState.objects.filter(person=spouse, valid_to=OPEN_END).count() == 1
    assert verify_chain(m.code) is None
