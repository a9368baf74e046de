"""A synthetic city with registry history, written straight into the registry tables.

For benefit tests and benchmarks: households whose members move in and out, die, and
change head before and after a base date, so as-of-date eligibility is exercised where it
is easy to get wrong. Rows are inserted in bulk (``executemany``; ``COPY`` on PostgreSQL)
with explicit ids, then the id sequences are reset. Everything is synthetic.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from kiban.core.models import Municipality
from kiban.registry.models import OPEN_END, Household, Person, PersonState

FAMILY = [("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
          ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
          ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ")]  # fmt: skip
GIVEN = [("翔太", "ショウタ"), ("陽菜", "ヒナ"), ("蓮", "レン"), ("結衣", "ユイ"),
         ("大輝", "ダイキ"), ("美咲", "ミサキ"), ("健一", "ケンイチ"), ("直子", "ナオコ"),
         ("ジョージ", "ジョージ"), ("優子", "ユウコ"), ("拓也", "タクヤ"), ("さくら", "サクラ")]  # fmt: skip
TOWNS = [(f"{i:04d}{j:03d}", f"テスト町{i}丁目") for i in range(1, 9) for j in (1,)]

STATE_COLUMNS = (
    "municipality_id", "person_id", "resident_code", "birth_date", "sex", "valid_from",
    "valid_to", "status", "household_id", "relationship", "is_head", "family_name",
    "given_name", "family_kana", "given_kana", "name_key", "given_key", "postcode",
    "town_code", "town_name", "address_detail", "building", "honseki",
)  # fmt: skip
PERSON_COLUMNS = (
    "id", "municipality_id", "resident_code", "mynumber_enc", "mynumber_hash", "birth_date",
    "sex", "nationality", "protected", "created_at",
)  # fmt: skip
HOUSEHOLD_COLUMNS = ("id", "municipality_id", "household_no", "created_on")


@dataclass(frozen=True, slots=True)
class StateRow:
    """One registry state, as the independent as-of computation in tests sees it."""

    person_id: int
    household_id: int
    valid_from: date
    valid_to: date
    status: str
    is_head: bool
    town_code: str


@dataclass
class City:
    persons: int
    households: int
    states: int
    birth: dict[int, date]


def _day(rnd: random.Random, lo: date, hi: date) -> date:
    return lo + timedelta(days=rnd.randrange(max((hi - lo).days, 1)))


def _household_rows(
    rnd: random.Random, hh_id: int, person_id: int, base: date, today: date
) -> tuple[list[tuple[int, date, str]], list[StateRow]]:
    """Persons (id, birth, sex) and states of one household and its history."""
    size = rnd.choices([1, 2, 3, 4, 5], weights=[38, 28, 17, 12, 5])[0]
    town = rnd.choice(TOWNS)[0]
    start = _day(rnd, date(1990, 1, 1), base - timedelta(days=30))
    persons: list[tuple[int, date, str]] = []
    states: list[StateRow] = []
    head_age = rnd.randint(20, 95)
    ages = [head_age] + [
        rnd.randint(0, 19) if i >= 2 else rnd.randint(18, 95) for i in range(1, size)
    ]
    scenario = rnd.random()
    for i, age in enumerate(ages):
        pid = person_id + i
        # Birthdays cluster around the base date now and then, to test the age boundary.
        if rnd.random() < 0.15:
            birth = date(base.year - age, base.month, min(base.day, 28)) + timedelta(
                days=rnd.choice([-1, 0, 1])
            )
        else:
            birth = _day(rnd, date(base.year - age - 1, 1, 1), date(base.year - age, 12, 31))
        birth = min(birth, today)
        persons.append((pid, birth, "1" if rnd.random() < 0.5 else "2"))
        begin = max(start, birth)
        is_head = i == 0
        r = rnd.random()
        if r < 0.05:  # moved in after the base date
            begin = _day(rnd, base + timedelta(days=1), today)
            states.append(StateRow(pid, hh_id, begin, OPEN_END, "resident", is_head, town))
        elif r < 0.08:  # moved out before the base date
            end = _day(rnd, begin + timedelta(days=1), base)
            if end <= begin:
                end = begin + timedelta(days=1)
            states.append(StateRow(pid, hh_id, begin, end, "resident", is_head, town))
            states.append(StateRow(pid, hh_id, end, OPEN_END, "moved_out", False, town))
        elif r < 0.11:  # moved out after the base date: still eligible
            end = _day(rnd, base + timedelta(days=1), today)
            states.append(StateRow(pid, hh_id, begin, end, "resident", is_head, town))
            states.append(StateRow(pid, hh_id, end, OPEN_END, "moved_out", False, town))
        elif r < 0.13:  # died after the base date: still eligible
            end = _day(rnd, base + timedelta(days=1), today)
            states.append(StateRow(pid, hh_id, begin, end, "resident", is_head, town))
            states.append(StateRow(pid, hh_id, end, OPEN_END, "deceased", False, town))
        elif r < 0.14:  # the base date itself: moved out on it (not resident on it)
            states.append(StateRow(pid, hh_id, begin, base, "resident", is_head, town))
            states.append(StateRow(pid, hh_id, base, OPEN_END, "moved_out", False, town))
        elif r < 0.15:  # moved in on the base date (resident on it)
            states.append(StateRow(pid, hh_id, base, OPEN_END, "resident", is_head, town))
        elif is_head and size > 1 and scenario < 0.06:
            # Head hands over to member 1 after (or, half the time, before) the base date.
            change = (
                _day(rnd, base + timedelta(days=1), today)
                if scenario < 0.03
                else _day(rnd, begin + timedelta(days=1), base)
            )
            if change <= begin:
                change = begin + timedelta(days=1)
            states.append(StateRow(pid, hh_id, begin, change, "resident", True, town))
            states.append(StateRow(pid, hh_id, change, OPEN_END, "resident", False, town))
        elif i == 1 and size > 1 and scenario < 0.06:
            change = next(s.valid_to for s in states if s.person_id == person_id and s.is_head)
            states.append(StateRow(pid, hh_id, begin, change, "resident", False, town))
            states.append(StateRow(pid, hh_id, change, OPEN_END, "resident", True, town))
        else:
            states.append(StateRow(pid, hh_id, begin, OPEN_END, "resident", is_head, town))
    return persons, [s for s in states if s.valid_from < s.valid_to]


def _generate(
    households: int, seed: int, base: date, today: date, first_hh: int, first_person: int
) -> Iterator[tuple[int, list[tuple[int, date, str]], list[StateRow]]]:
    rnd = random.Random(f"kiban-benefits-city:{seed}")
    pid = first_person
    for n in range(households):
        hh = first_hh + n
        persons, states = _household_rows(rnd, hh, pid, base, today)
        pid += len(persons)
        yield hh, persons, states


def _copy_or_insert(
    cur: Any, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        with cur.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join(["%s"] * len(columns))
    cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608


def generate_city(
    municipality: Municipality,
    *,
    households: int,
    base_date: date,
    seed: int = 0,
    today: date | None = None,
    chunk: int = 20_000,
    collect: list[StateRow] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> City:
    """Insert ``households`` synthetic households with history around ``base_date``.

    Pass a list as ``collect`` to receive every state row (for an independent check).
    """
    today = today or max(base_date + timedelta(days=200), timezone.localdate())
    first_hh = (Household.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    first_person = (Person.objects.aggregate(m=Max("id"))["m"] or 0) + 1
    m = municipality.code
    adapt = connection.ops.adapt_datefield_value
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    city = City(0, 0, 0, {})
    hh_rows: list[tuple[Any, ...]] = []
    person_rows: list[tuple[Any, ...]] = []
    state_rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        with transaction.atomic(), connection.cursor() as cur:
            _copy_or_insert(cur, Household._meta.db_table, HOUSEHOLD_COLUMNS, hh_rows)
            _copy_or_insert(cur, Person._meta.db_table, PERSON_COLUMNS, person_rows)
            _copy_or_insert(cur, PersonState._meta.db_table, STATE_COLUMNS, state_rows)
        hh_rows.clear()
        person_rows.clear()
        state_rows.clear()

    for hh, persons, states in _generate(
        households, seed, base_date, today, first_hh, first_person
    ):
        hh_rows.append((hh, m, f"T{hh:010d}", adapt(date(1990, 1, 1))))
        fam, fam_kana = FAMILY[hh % len(FAMILY)]
        facts: dict[int, tuple[str, Any, str]] = {}  # person → the copies on their states
        for pid, birth, sex in persons:
            code, born = f"{pid:011d}", adapt(birth)
            facts[pid] = (code, born, sex)
            person_rows.append((pid, m, code, "", "", born, sex, "", False, now))
            city.birth[pid] = birth
        for s in states:
            given, given_kana = GIVEN[s.person_id % len(GIVEN)]
            state_rows.append(
                (m, s.person_id, *facts[s.person_id], adapt(s.valid_from), adapt(s.valid_to),
                 s.status, s.household_id, "世帯主" if s.is_head else "子", s.is_head, fam, given,
                 fam_kana, given_kana, fam_kana + given_kana, given_kana, "2310000",
                 s.town_code, dict(TOWNS)[s.town_code], "1番1号", "", "")
            )  # fmt: skip
            if collect is not None:
                collect.append(s)
        city.households += 1
        city.persons += len(persons)
        city.states += len(states)
        if len(hh_rows) >= chunk:
            flush()
            if progress:
                progress(city.households, households)
    flush()
    with connection.cursor() as cur:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Household, Person, PersonState]):
            cur.execute(sql)
    return city
