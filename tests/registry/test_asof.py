"""As-of-date queries against an independent model of random event sequences.

Hypothesis draws a sequence of registry events (move in, move out, move within, birth,
death with a change of head, household split) with non-decreasing dates. Each event is
recorded through the services and, separately, replayed in a plain-Python model that
knows nothing of validity ranges: per person, the list of (date, resident?, household,
head?) facts in recording order. For random dates, ``snapshot_as_of`` and
``households_as_of`` must agree with the model's answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from kiban.core.actors import operator_actor
from kiban.core.models import Role
from kiban.registry import bulk, queries, services
from kiban.registry.models import Household, Person
from kiban.registry.queries import households_as_of, person_state_as_of, snapshot_as_of
from kiban.registry.services import Address
from tests.factories import actor_for, municipality
from tests.registry.core_factories import new_person

pytestmark = pytest.mark.django_db

START = date(2015, 1, 1)
KANA = ["アオキ", "イトウ", "ウエダ", "エンドウ", "オガワ"]
KANJI = ["青木", "伊藤", "上田", "遠藤", "小川"]


def address(n: int) -> Address:
    return Address("2310023", f"{n % 9000 + 1:04d}000", f"テスト町{n}", f"{n}番地")


@dataclass
class Fact:
    on: date
    resident: bool
    household: str
    head: bool


@dataclass
class Model:
    """Who is where, as a list of facts per person; knows nothing of the database."""

    facts: dict[str, list[Fact]] = field(default_factory=dict)
    moves: int = 0
    moved_out: set[str] = field(default_factory=set)

    def add(self, code: str, on: date, resident: bool, household: str, head: bool) -> None:
        self.facts.setdefault(code, []).append(Fact(on, resident, household, head))

    def now(self, code: str) -> Fact:
        return self.facts[code][-1]

    def residents(self) -> list[str]:
        return sorted(c for c in self.facts if self.now(c).resident)

    def members(self, household: str) -> list[str]:
        return [c for c in self.residents() if self.now(c).household == household]

    def households(self) -> list[str]:
        return sorted({self.now(c).household for c in self.residents()})

    def on(self, d: date) -> dict[str, Fact]:
        """Residents on ``d``: each person's last fact dated on or before ``d``."""
        out: dict[str, Fact] = {}
        for code, facts in self.facts.items():
            valid = [f for f in facts if f.on <= d]
            if valid and valid[-1].resident:
                out[code] = valid[-1]
        return out


OPS = st.sampled_from(
    [
        "move_in",
        "move_in",
        "move_out",
        "within",
        "birth",
        "death",
        "split",
        "head",
        "return",
        "correct",
    ]
)
STEPS = st.lists(
    st.tuples(OPS, st.integers(0, 40), st.integers(0, 1000), st.integers(1, 3)),
    min_size=1,
    max_size=14,
)


def apply(actor: Any, m: Any, model: Model, op: str, day: date, pick: int, size: int) -> None:
    households = model.households()
    gone = sorted(c for c in model.facts if not model.now(c).resident and c in model.moved_out)
    if op == "return" and gone:
        code = gone[pick % len(gone)]
        person = Person.objects.get(municipality=m, resident_code=code)
        returning = new_person(
            birth=person.birth_date, sex=person.sex, head=True, resident_code=code
        )
        event = services.record_move_in(
            actor=actor,
            municipality=m,
            event_date=day,
            reported_date=day,
            persons=[returning],
            address=address(pick),
        )
        note_event("returning resident")
        model.moved_out.discard(code)
        model.add(code, day, True, event.household.household_no, True)
        return
    if op == "move_in" or not households:
        persons = [
            new_person(
                KANJI[(pick + i) % 5],
                f"太郎{i}",
                KANA[(pick + i) % 5],
                "タロウ",
                day - timedelta(days=365 * (20 + i)),
                "1",
                head=(i == 0),
                relationship="子",
            )
            for i in range(size)
        ]
        event = services.record_move_in(
            actor=actor,
            municipality=m,
            event_date=day,
            reported_date=day,
            persons=persons,
            address=address(pick),
        )
        hno = event.household.household_no
        for i, code in enumerate(event.details["resident_codes"]):
            model.add(code, day, True, hno, i == 0)
        return
    hno = households[pick % len(households)]
    members = model.members(hno)
    head = next(c for c in members if model.now(c).head)
    others = [c for c in members if c != head]
    if op == "move_out":
        services.record_move_out(
            actor=actor,
            municipality=m,
            persons=members,
            event_date=day,
            reported_date=day,
            destination="東京都",
        )
        for c in members:
            model.add(c, day, False, hno, model.now(c).head)
            model.moved_out.add(c)
    elif op == "within":
        model.moves += 1
        services.record_move_within(
            actor=actor,
            municipality=m,
            persons=members,
            event_date=day,
            reported_date=day,
            address=address(5000 + model.moves),
        )
        for c in members:
            model.add(c, day, True, hno, model.now(c).head)
    elif op == "birth":
        event = services.record_birth(
            actor=actor,
            municipality=m,
            reported_date=day,
            household=hno,
            child=new_person("青木", "赤子", "アオキ", "アカコ", day, "2"),
        )
        model.add(event.details["resident_codes"][0], day, True, hno, False)
    elif op == "death":
        victim = members[pick % len(members)]
        successor = others[0] if victim == head and others else None
        services.record_death(
            actor=actor,
            municipality=m,
            person=victim,
            event_date=day,
            reported_date=day,
            new_head=successor,
        )
        model.add(victim, day, False, hno, model.now(victim).head)
        if successor:
            model.add(successor, day, True, hno, True)
    elif op == "head" and others:
        successor = others[pick % len(others)]
        services.record_household_change(
            actor=actor,
            municipality=m,
            kind="change_head",
            event_date=day,
            reported_date=day,
            head=successor,
            relationships={head: "父"},
        )
        model.add(head, day, True, hno, False)
        model.add(successor, day, True, hno, True)
        note_event("change of head")
    elif op == "correct":
        # 職権修正 of birth date and sex: residence is unchanged, and every state of the
        # person (the snapshot reads its copies there) must carry the corrected facts.
        who = Person.objects.get(municipality=m, resident_code=members[pick % len(members)])
        birth, sex = date(1950, 1, 1) + timedelta(days=pick * 11), "1" if pick % 2 else "2"
        if (who.birth_date, who.sex) != (birth, sex):
            services.record_correction(
                actor=actor,
                municipality=m,
                person=who,
                changes={"birth_date": birth.isoformat(), "sex": sex},
                reason="届書との照合による誤記訂正",
                reported_date=day,
            )
            note_event("correction of birth date and sex")
    elif op == "split" and others:
        leaver = others[pick % len(others)]
        event = services.record_household_change(
            actor=actor,
            municipality=m,
            kind="new_household",
            event_date=day,
            reported_date=day,
            persons=[leaver],
            head=leaver,
        )
        model.add(leaver, day, True, event.household.household_no, True)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS, probes=st.lists(st.integers(-30, 500), min_size=1, max_size=8))
def test_snapshot_matches_model(steps: list[tuple[str, int, int, int]], probes: list[int]) -> None:
    with transaction.atomic():
        m = municipality()
        actor = actor_for(m, Role.REGISTRY_CLERK)
        model = Model()
        day = START
        for op, gap, pick, size in steps:
            day += timedelta(days=gap)
            apply(actor, m, model, op, day, pick, size)
        event_days = sorted({f.on for facts in model.facts.values() for f in facts})
        dates = {START + timedelta(days=p) for p in probes}
        dates |= {d + timedelta(days=k) for d in event_days for k in (-1, 0)}
        hno = dict(Household.objects.filter(municipality=m).values_list("id", "household_no"))
        # The person's own record: the snapshot's copies on the states must match it.
        facts = {
            pk: (code, birth, sex)
            for pk, code, birth, sex in Person.objects.filter(municipality=m).values_list(
                "pk", "resident_code", "birth_date", "sex"
            )
        }
        for d in sorted(dates):
            expected = model.on(d)
            got = {
                s.person.resident_code: (s.household.household_no, s.is_head)
                for s in snapshot_as_of(m, d).select_related("person", "household")
            }
            assert got == {c: (f.household, f.head) for c, f in expected.items()}, d
            households = households_as_of(m, d)
            by_no: dict[str, set[str]] = {}
            for code, f in expected.items():
                by_no.setdefault(f.household, set()).add(code)
            assert {
                hno[h]: {x.resident_code for x in v.members} for h, v in households.items()
            } == by_no
            for h, v in households.items():
                assert v.household_no == hno[h]
            for h in households.values():
                assert h.head is not None and h.head.is_head
                assert h.members[0] == h.head  # the head first, then by person
                assert [x.person_id for x in h.members[1:]] == sorted(
                    x.person_id for x in h.members[1:]
                )
                assert all(
                    (x.resident_code, x.birth_date, x.sex) == facts[x.person_id] for x in h.members
                )
                assert sum(x.is_head for x in h.members) == 1
                assert all(type(x.is_head) is bool for x in h.members)
        transaction.set_rollback(True)


def test_person_state_as_of_covers_every_status() -> None:
    m = municipality()
    actor = actor_for(m, Role.REGISTRY_CLERK)
    event = services.record_move_in(
        actor=actor,
        municipality=m,
        event_date=date(2020, 1, 1),
        reported_date=date(2020, 1, 1),
        persons=[new_person(head=True)],
        address=address(1),
    )
    code = event.details["resident_codes"][0]
    services.record_move_out(
        actor=actor,
        municipality=m,
        persons=[code],
        event_date=date(2021, 1, 1),
        reported_date=date(2021, 1, 1),
        destination="大阪府",
    )
    person = Person.objects.get(resident_code=code)
    assert person_state_as_of(person, date(2019, 12, 31)) is None
    state = person_state_as_of(person, date(2020, 12, 31))
    assert state is not None and state.status == "resident"
    state = person_state_as_of(person, date(2021, 1, 1))
    assert state is not None and state.status == "moved_out"
    assert not snapshot_as_of(m, date(2021, 1, 1)).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_read_misses", [False, True], ids=["numbers-read", "numbers-late"])
def test_households_as_of_outside_a_transaction(
    monkeypatch: pytest.MonkeyPatch, first_read_misses: bool
) -> None:
    # Outside a transaction, PostgreSQL reads the 世帯番号 on a second connection while the
    # members are read; households that read did not see (created since) are read at the
    # end. Either way the result is the ORM's snapshot, grouped, head first.
    m = municipality()
    as_of = date(2026, 11, 1)
    bulk.generate(actor=operator_actor("test"), municipality=m, residents=400, seed=3, as_of=as_of)
    if first_read_misses:
        real_result = queries._HouseholdNumbers.result

        def nothing_seen(self: queries._HouseholdNumbers) -> dict[int, str]:
            real_result(self)  # let the other connection finish, then forget what it read
            return {}

        monkeypatch.setattr(queries._HouseholdNumbers, "result", nothing_seen)
    expected: dict[int, tuple[str, list[str]]] = {}
    states = (
        snapshot_as_of(m, as_of)
        .filter(household__isnull=False)
        .select_related("person", "household")
        .order_by("household_id", "-is_head", "person_id")
    )
    for s in states:
        entry = expected.setdefault(s.household_id, (s.household.household_no, []))
        entry[1].append(s.person.resident_code)
    got = households_as_of(m, as_of)
    assert len(got) > 100
    assert {
        hid: (h.household_no, [x.resident_code for x in h.members]) for hid, h in got.items()
    } == expected
    assert all(h.head is h.members[0] and h.head.is_head is True for h in got.values())


def test_the_snapshot_reads_state_household_in_order() -> None:
    # The snapshot's members come along state_household in its order, with no sort; on
    # SQLite from the index alone (it holds every column the query reads or filters on),
    # so a column added to the query without adding it to the index fails here.
    sql, params = queries._members_sql(municipality().code, date(2026, 11, 1))
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " / ".join(str(row[-1]) for row in cur.fetchall())
            assert "USING COVERING INDEX state_household" in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # no sort
        else:
            # PostgreSQL's planner chooses by its statistics; the index must at least be
            # the one the model declares (narrow on PostgreSQL).
            cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'state_household'")
            (indexdef,) = cur.fetchone()
            assert "(household_id, is_head DESC, person_id)" in indexdef, indexdef
