"""Bulk generation: set-based load of synthetic households, all-or-nothing, audited once."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.db import IntegrityError
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.core.actors import operator_actor
from kiban.core.crypto import decrypt, lookup_hash
from kiban.core.errors import Conflict, Forbidden
from kiban.core.models import AuditEntry, Role
from kiban.registry import bulk
from kiban.registry.models import OPEN_END, Household, Person, PersonState, RegistryEvent, Status
from kiban.registry.synth import generate_city
from tests.factories import actor_for, municipality

AS_OF = date(2026, 11, 1)
pytestmark = pytest.mark.django_db


def _generate(residents: int = 300, seed: int = 7) -> bulk.LoadResult:
    return bulk.generate(
        actor=operator_actor("test"),
        municipality=municipality(),
        residents=residents,
        seed=seed,
        as_of=AS_OF,
    )


def test_generate_loads_exactly_the_requested_residents_with_history() -> None:
    result = _generate(300)
    m = municipality()
    current = PersonState.objects.filter(
        municipality=m, valid_from__lte=AS_OF, valid_to__gt=AS_OF, status=Status.RESIDENT
    )
    assert current.count() == 300
    assert result.persons == Person.objects.filter(municipality=m).count() > 300  # 除票 too
    assert result.events == RegistryEvent.objects.filter(municipality=m).count()
    assert result.states == PersonState.objects.filter(municipality=m).count()
    assert result.households == Household.objects.filter(municipality=m).count()
    # Deceased and moved-out people end in an open non-resident state.
    removed = PersonState.objects.filter(municipality=m, valid_to=OPEN_END).exclude(
        status=Status.RESIDENT
    )
    assert removed.exists()


def test_each_persons_states_tile_time_and_follow_the_events() -> None:
    _generate(300)
    m = municipality()
    states = defaultdict(list)
    for s in PersonState.objects.filter(municipality=m).select_related("event"):
        states[s.person_id].append(s)
    moved_within = 0
    for person_states in states.values():
        person_states.sort(key=lambda s: s.valid_from)
        assert person_states[-1].valid_to == OPEN_END
        for before, after in pairwise(person_states):
            assert before.valid_to == after.valid_from  # no gap, no overlap
            assert before.valid_from < before.valid_to
        for s in person_states:
            assert s.event is not None and s.event.event_date == s.valid_from
            assert s.event.person_id == s.person_id
            if s.event.kind == "move_within":
                moved_within += 1
                assert (s.town_code, s.address_detail) != (
                    person_states[0].town_code,
                    person_states[0].address_detail,
                ) or len(person_states) == 1
            if s.event.kind == "death":
                assert s.status == Status.DECEASED
    assert moved_within > 0


def test_every_household_with_residents_has_one_head_as_of_the_date() -> None:
    _generate(300)
    heads: defaultdict[int | None, int] = defaultdict(int)
    members: defaultdict[int | None, int] = defaultdict(int)
    for s in PersonState.objects.filter(
        municipality=municipality(), valid_from__lte=AS_OF, valid_to__gt=AS_OF, status="resident"
    ):
        members[s.household_id] += 1
        heads[s.household_id] += int(s.is_head)
    assert members and all(heads[h] == 1 for h in members)


def test_my_numbers_are_encrypted_readable_by_core_and_hashed() -> None:
    _generate(50)
    expected = {
        p.resident_code: p.mynumber
        for h in generate_city("141003", 50, seed=7, as_of=AS_OF)
        for p in h.members + h.former_members
    }
    for person in Person.objects.filter(municipality=municipality()):
        plain = decrypt(person.mynumber_enc)
        assert plain == expected[person.resident_code]
        assert plain not in person.mynumber_enc
        assert person.mynumber_hash == lookup_hash(plain)


def test_one_audit_entry_for_the_whole_run() -> None:
    m = municipality()
    before = AuditEntry.objects.filter(municipality=m).count()
    result = _generate(200)
    entries = AuditEntry.objects.filter(municipality=m).order_by("seq")
    assert entries.count() == before + 1
    entry = entries.last()
    assert entry is not None and entry.action == "registry.generate"
    assert entry.details["persons"] == result.persons
    assert entry.details["households"] == result.households
    assert entry.details["seed"] == 7


def test_generation_is_deterministic_for_a_seed() -> None:
    def codes(seed: int) -> list[tuple[str, str, date]]:
        return [
            (p.resident_code, s.family_name + s.given_name, s.valid_from)
            for h in generate_city("141003", 120, seed=seed, as_of=AS_OF)
            for p in bulk.specs_from_synth(h).persons
            for s in p.states
            for _ in [p]
        ]

    assert codes(3) == codes(3)
    assert codes(3) != codes(4)


def _loaded(m: object) -> list[tuple[object, ...]]:
    """Everything generated about each person, without database ids."""
    return sorted(
        (
            s.person.resident_code,
            s.person.mynumber_hash,
            s.household.household_no,
            s.valid_from,
            s.valid_to,
            s.status,
            s.relationship,
            s.is_head,
            s.name_key,
            s.town_code,
            s.address_detail,
            s.event.kind if s.event else None,
        )
        for s in PersonState.objects.filter(municipality=m).select_related(
            "person", "household", "event"
        )
    )


def test_parallel_producers_load_exactly_what_one_process_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 12,000 residents span two blocks of the city: the first built by a forked producer,
    # the last rebuilt and trimmed by the writer. The result must equal the in-process run.
    m = municipality()
    residents = 12_000
    monkeypatch.setattr(bulk, "PARALLEL_FROM", 10**9)
    bulk.generate(actor=operator_actor("t"), municipality=m, residents=residents, as_of=AS_OF)
    one_process = _loaded(m)
    PersonState.objects.filter(municipality=m).delete()
    RegistryEvent.objects.filter(municipality=m).delete()
    Person.objects.filter(municipality=m).delete()
    Household.objects.filter(municipality=m).delete()

    shown: list[int] = []
    monkeypatch.setattr(bulk, "PARALLEL_FROM", 0)
    result = bulk.generate(
        actor=operator_actor("t"),
        municipality=m,
        residents=residents,
        as_of=AS_OF,
        progress=shown.append,
    )
    assert len(shown) == 2 and sum(shown) == residents  # two blocks, the bar ends at N
    assert result.states == len(one_process)
    assert _loaded(m) == one_process
    current = PersonState.objects.filter(
        municipality=m, valid_from__lte=AS_OF, valid_to__gt=AS_OF, status=Status.RESIDENT
    )
    assert current.count() == residents


def test_refuses_a_municipality_that_already_has_residents() -> None:
    _generate(20)
    with pytest.raises(Conflict):
        _generate(20, seed=8)


def test_needs_the_admin_role() -> None:
    m = municipality()
    with pytest.raises(Forbidden):
        bulk.generate(actor=actor_for(m, Role.REGISTRY_CLERK), municipality=m, residents=5)


def test_a_failure_midway_leaves_nothing_behind() -> None:
    m = municipality()
    audits = AuditEntry.objects.filter(municipality=m).count()
    calls = []

    def boom(n: int) -> None:
        calls.append(n)
        if len(calls) == 2:
            raise RuntimeError("disk full")

    specs = (bulk.specs_from_synth(h) for h in generate_city("141003", 400, seed=1, as_of=AS_OF))
    with pytest.raises(RuntimeError):
        bulk.load(
            municipality=m,
            actor=operator_actor("t"),
            households=specs,
            action="registry.generate",
            progress=boom,
            chunk_persons=100,
        )
    assert len(calls) == 2  # two chunks were written before the failure...
    assert not Person.objects.filter(municipality=m).exists()  # ...and rolled back
    assert not PersonState.objects.filter(municipality=m).exists()
    assert AuditEntry.objects.filter(municipality=m).count() == audits


def test_name_keys_match_the_search_key_of_the_reading() -> None:
    _generate(40)
    from kiban.core.kana import search_key

    for s in PersonState.objects.filter(municipality=municipality())[:50]:
        assert s.name_key == search_key(s.family_kana + s.given_kana)
        assert s.given_key == search_key(s.given_kana)


def _indexes_and_foreign_keys() -> set[tuple[str, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
            return set(cursor.fetchall())
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid::regclass::text LIKE 'registry_%%'"
        )
        found = set(cursor.fetchall())
        cursor.execute(
            "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text LIKE 'registry_%%'"
        )
        return found | set(cursor.fetchall())


def test_large_runs_rebuild_the_same_indexes_and_foreign_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _indexes_and_foreign_keys()
    assert any("person_birth" in str(row) for row in before)
    monkeypatch.setattr(bulk, "DEFER_INDEXES_FROM", 10)
    _generate(60)
    assert _indexes_and_foreign_keys() == before
    assert PersonState.objects.filter(municipality=municipality()).count() > 60


def _with_point_nowhere(columns: tuple[str, ...], rows: list[tuple]) -> list[tuple]:
    bad = dict(zip(columns, rows[0], strict=True))
    bad["household_id"] = 2_000_000_000  # a state in a household that does not exist
    return [*rows, tuple(bad[c] for c in columns)]


def _with_twin(columns: tuple[str, ...], rows: list[tuple]) -> list[tuple]:
    twin = dict(zip(columns, rows[1], strict=True))
    twin["resident_code"] = dict(zip(columns, rows[0], strict=True))["resident_code"]
    return [rows[0], tuple(twin[c] for c in columns), *rows[2:]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("defer_from", [10, 10**9], ids=["indexes-rebuilt", "indexes-kept"])
@pytest.mark.parametrize(
    ("table", "tamper"),
    [("registry_personstate", _with_point_nowhere), ("registry_person", _with_twin)],
    ids=["row-pointing-nowhere", "duplicate-resident-code"],
)
def test_a_bad_row_fails_the_whole_run_and_keeps_the_schema(
    monkeypatch: pytest.MonkeyPatch, defer_from: int, table: str, tamper: Any
) -> None:
    # A large run drops indexes (the unique one on 住民票コード too, on SQLite) and foreign
    # keys (PostgreSQL) and builds them again at the end: a state pointing nowhere or a
    # duplicate 住民票コード must still fail the run, leaving no rows and every index and
    # constraint in place, exactly as when everything is kept.
    m = municipality()
    before = _indexes_and_foreign_keys()
    monkeypatch.setattr(bulk, "DEFER_INDEXES_FROM", defer_from)
    original = bulk._Writer.write_batch

    def write_batch(self: bulk._Writer, batch: bulk.Batch) -> None:
        batch = [
            (name, columns, tamper(columns, rows) if name == table else rows)
            for name, columns, rows in batch
        ]
        original(self, batch)

    monkeypatch.setattr(bulk._Writer, "write_batch", write_batch)
    with pytest.raises(IntegrityError):
        _generate(60)
    assert not Person.objects.filter(municipality=m).exists()
    assert not PersonState.objects.filter(municipality=m).exists()
    assert not Household.objects.filter(municipality=m).exists()
    assert _indexes_and_foreign_keys() == before


def test_demo_seed_generates_once_with_a_fixed_seed() -> None:
    from kiban.registry import demo

    m = municipality()
    demo.seed(municipality=m, residents=150)
    codes = set(Person.objects.filter(municipality=m).values_list("resident_code", flat=True))
    demo.seed(municipality=m, residents=150)  # already seeded: left alone
    assert set(Person.objects.filter(municipality=m).values_list("resident_code", flat=True)) == (
        codes
    )
    # The day the seed generated for (recorded in its audit entry), not today: a run
    # across midnight must not fail.
    generated = AuditEntry.objects.get(municipality=m, action="registry.generate")
    as_of = date.fromisoformat(generated.details["as_of"])
    assert as_of in (timezone.localdate(), timezone.localdate() - timedelta(days=1))
    expected = {
        p.resident_code
        for h in generate_city("141003", 150, seed=demo.seed_for(m), as_of=as_of)
        for p in h.members + h.former_members
    }
    assert codes == expected


_READING_CHARS = "アイウエオカガキサシスタチツテナハバパマヤユヨラワヲンヴァィゥェォッャュョヮヵヶヽヾー－・ 　゛゜ﾞﾟｶﾞﾊﾟあいがabß1"


@pytest.mark.django_db(False)
@settings(max_examples=3000, deadline=None)
@given(
    family=st.text(alphabet=_READING_CHARS, max_size=6),
    given_=st.text(alphabet=_READING_CHARS, max_size=6),
)
def test_name_keys_equal_the_search_key_of_the_joined_reading(family: str, given_: str) -> None:
    # The cached fast path (key of each part, joined) must agree with the key of the whole
    # reading for any pair, including small kana, marks and separators at the seam.
    from kiban.core.kana import search_key

    assert bulk.name_keys(family, given_) == (search_key(family + given_), search_key(given_))


def _planner_rows(table: str) -> int | None:
    """The row count the planner's statistics hold for ``table`` (None: none gathered)."""
    from django.db import connection

    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
            row = cur.fetchone()
            return int(row[0]) if row and row[0] >= 0 else None
        cur.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if not cur.fetchone()[0]:
            return None
        # Every row of a table's statistics (the table's, or each index's) starts with its
        # row count.
        cur.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = %s LIMIT 1", [table])
        row = cur.fetchone()
        return int(row[0].split()[0]) if row else None


def test_a_large_load_leaves_the_planner_statistics_of_the_city_it_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Below the threshold the statistics are not refreshed (they do not count the rows of
    # this test's transaction); from it on, the tables a load writes are analyzed in its
    # transaction, so they count the city just loaded.
    monkeypatch.setattr(bulk, "ANALYZE_FROM", 10_000)
    _generate(120)
    assert _planner_rows("registry_personstate") != PersonState.objects.count()
    monkeypatch.setattr(bulk, "ANALYZE_FROM", 100)
    bulk.generate(
        actor=operator_actor("test"), municipality=municipality("131016"), residents=120,
        seed=3, as_of=AS_OF,
    )  # fmt: skip
    assert _planner_rows("registry_household") == Household.objects.count()
    assert _planner_rows("registry_person") == Person.objects.count()
    assert _planner_rows("registry_personstate") == PersonState.objects.count()
