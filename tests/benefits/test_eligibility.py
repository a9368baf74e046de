"""Eligibility from the registry, checked against an independent as-of computation."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import date

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from kiban.benefits import services
from kiban.benefits.eligibility import age_on
from kiban.benefits.models import Entitlement
from kiban.benefits.programs import parse_definition
from kiban.benefits.testcity import StateRow, generate_city
from kiban.core.actors import Actor
from kiban.core.errors import Conflict
from kiban.core.models import Municipality
from tests.benefits.conftest import BASE, household_program

pytestmark = pytest.mark.django_db

BANDS = [(0, 17, 50000), (65, 74, 20000), (75, None, 30000)]


def _band(age: int) -> int | None:
    for lo, hi, amount in BANDS:
        if age >= lo and (hi is None or age <= hi):
            return amount
    return None


def independent_residents(rows: list[StateRow], base: date) -> list[StateRow]:
    """Pure Python as-of: the state valid on the base date, status resident."""
    return [r for r in rows if r.valid_from <= base < r.valid_to and r.status == "resident"]


def test_household_program_matches_independent_computation(muni: Municipality, op: Actor) -> None:
    rows: list[StateRow] = []
    city = generate_city(muni, households=400, base_date=BASE, collect=rows, seed=7)
    household_program(muni, op)
    result = services.compute_eligibility(actor=op, municipality=muni, program_id="flat")

    residents = independent_residents(rows, BASE)
    members: dict[int, list[StateRow]] = defaultdict(list)
    for r in residents:
        members[r.household_id].append(r)
    expected = {}
    for hh, ms in members.items():
        heads = [m.person_id for m in ms if m.is_head]
        payee = (
            heads[0]
            if heads
            else min(ms, key=lambda m: (city.birth[m.person_id], m.person_id)).person_id
        )
        expected[hh] = (payee, 100000 * len(ms), len(ms))
    got = {
        e.household_id: (e.person_id, e.amount, e.members)
        for e in Entitlement.objects.filter(program__program_id="flat")
    }
    assert got == expected
    assert result.total == sum(v[1] for v in expected.values())
    # The generated city does exercise the tricky cases.
    assert any(r.status in ("moved_out", "deceased") and r.valid_from > BASE for r in rows)

    again = services.compute_eligibility(actor=op, municipality=muni, program_id="flat")
    assert again.created == 0 and again.total == result.total


def test_age_band_person_program_matches_independent_computation(
    muni: Municipality, op: Actor
) -> None:
    rows: list[StateRow] = []
    city = generate_city(muni, households=400, base_date=BASE, collect=rows, seed=3)
    services.load_program(
        actor=op, municipality=muni,
        definition=parse_definition({
            "id": "age", "name": "年齢別", "base_date": BASE, "unit": "person",
            "amount": {"by_age": [{"min_age": lo, **({"max_age": hi} if hi is not None else {}),
                                   "amount": a} for lo, hi, a in BANDS]},
            "eligibility": {"source": "registry"},
        }),
    )  # fmt: skip
    services.compute_eligibility(actor=op, municipality=muni, program_id="age", chunk_size=97)
    expected = {}
    for r in independent_residents(rows, BASE):
        amount = _band(age_on(city.birth[r.person_id], BASE))
        if amount is not None:
            expected[r.person_id] = amount
    got = dict(
        Entitlement.objects.filter(program__program_id="age").values_list("person_id", "amount")
    )
    assert got == expected
    assert len(expected) > 50


def test_moved_out_or_died_after_base_date_stays_eligible(muni: Municipality, op: Actor) -> None:
    rows: list[StateRow] = []
    generate_city(muni, households=300, base_date=BASE, collect=rows, seed=11)
    services.load_program(
        actor=op, municipality=muni,
        definition=parse_definition({
            "id": "all", "name": "全員", "base_date": BASE, "unit": "person",
            "amount": {"fixed": 10}, "eligibility": {"source": "registry"},
        }),
    )  # fmt: skip
    services.compute_eligibility(actor=op, municipality=muni, program_id="all")
    resident_on_base = {r.person_id for r in independent_residents(rows, BASE)}
    left_later = {
        r.person_id for r in rows if r.status in ("moved_out", "deceased") and r.valid_from > BASE
    } & resident_on_base
    left_before = {r.person_id for r in rows if r.status != "resident" and r.valid_from <= BASE}
    came_later = {r.person_id for r in rows if r.valid_from > BASE and r.status == "resident"} - {
        r.person_id for r in rows if r.valid_from <= BASE
    }
    eligible = set(
        Entitlement.objects.filter(program__program_id="all").values_list("person_id", flat=True)
    )
    assert left_later and left_later <= eligible
    assert left_before and not (left_before & eligible)
    assert came_later and not (came_later & eligible)


def test_holds_entitlement_condition_and_grant(muni: Municipality, op: Actor) -> None:
    generate_city(muni, households=60, base_date=BASE, seed=5)
    persons = list(
        Entitlement.objects.none()
        .model.person.field.related_model.objects.filter(municipality=muni)
        .order_by("pk")[:5]
    )
    for i, p in enumerate(persons):
        services.grant_entitlement(
            actor=op, municipality=muni, program_id="child-allowance", person=p,
            amount=10000, reference=f"APP-{i}",
        )  # fmt: skip
    # Idempotent with the same amount, refused with another.
    services.grant_entitlement(actor=op, municipality=muni, program_id="child-allowance",
                               person=persons[0], amount=10000, reference="APP-0")  # fmt: skip
    with pytest.raises(Conflict):
        services.grant_entitlement(actor=op, municipality=muni, program_id="child-allowance",
                                   person=persons[0], amount=20000, reference="APP-0")  # fmt: skip
    services.load_program(
        actor=op, municipality=muni,
        definition=parse_definition({
            "id": "top-up", "name": "上乗せ", "base_date": BASE, "unit": "person",
            "amount": {"fixed": 5000},
            "eligibility": {"source": "registry", "holds": "child-allowance"},
        }),
    )  # fmt: skip
    services.compute_eligibility(actor=op, municipality=muni, program_id="top-up")
    got = set(
        Entitlement.objects.filter(program__program_id="top-up").values_list("person_id", flat=True)
    )
    from kiban.registry.models import PersonState

    resident_on_base = set(
        PersonState.objects.filter(
            municipality=muni, valid_from__lte=BASE, valid_to__gt=BASE, status="resident"
        ).values_list("person_id", flat=True)
    )
    assert got == {p.pk for p in persons} & resident_on_base


def test_rules_cannot_change_once_entitlements_exist(muni: Municipality, op: Actor) -> None:
    generate_city(muni, households=20, base_date=BASE)
    household_program(muni, op)
    services.compute_eligibility(actor=op, municipality=muni, program_id="flat")
    household_program(muni, op, name="名称だけ変更")  # allowed
    with pytest.raises(Conflict):
        household_program(muni, op, amount={"fixed": 120000})


def test_household_program_by_age_pays_the_head_for_the_eligible_members(
    muni: Municipality, op: Actor
) -> None:
    """Age bands in a household program: the amount is the sum over the members in some
    band, the payee the head whether or not the head is in a band, and households with no
    member in any band get nothing. Checked against an independent computation."""
    rows: list[StateRow] = []
    city = generate_city(muni, households=400, base_date=BASE, collect=rows, seed=13)
    services.load_program(
        actor=op, municipality=muni,
        definition=parse_definition({
            "id": "hh-age", "name": "世帯年齢別", "base_date": BASE, "unit": "household",
            "amount": {"by_age": [{"min_age": lo, **({"max_age": hi} if hi is not None else {}),
                                   "amount": a} for lo, hi, a in BANDS]},
            "eligibility": {"source": "registry", "age": {"max": 80}},
        }),
    )  # fmt: skip
    services.compute_eligibility(actor=op, municipality=muni, program_id="hh-age", chunk_size=37)
    members: dict[int, list[StateRow]] = defaultdict(list)
    for r in independent_residents(rows, BASE):
        members[r.household_id].append(r)
    expected = {}
    for hh, ms in members.items():
        amounts = [
            a
            for m in ms
            if (age := age_on(city.birth[m.person_id], BASE)) <= 80
            and (a := _band(age)) is not None
        ]
        if not amounts:
            continue
        heads = [m for m in ms if m.is_head]
        payee = heads[0] if heads else min(ms, key=lambda m: (city.birth[m.person_id], m.person_id))
        expected[hh] = (
            payee.person_id,
            sum(amounts),
            len(amounts),
            payee.town_code if heads else "",
        )
    got = {
        e.household_id: (e.person_id, e.amount, e.members, e.town_code)
        for e in Entitlement.objects.filter(program__program_id="hh-age")
    }
    assert got == expected
    # The city has households whose head is in no band but another member is.
    assert any(
        (h := next((m for m in members[hh] if m.is_head), None)) is not None
        and _band(age_on(city.birth[h.person_id], BASE)) is None
        for hh in expected
    )


def test_an_interrupted_eligibility_run_is_completed_by_the_next(
    muni: Municipality, op: Actor
) -> None:
    generate_city(muni, households=300, base_date=BASE, seed=5)
    household_program(muni, op)
    first = services.compute_eligibility(
        actor=op, municipality=muni, program_id="flat", chunk_size=50
    )
    expected = set(Entitlement.objects.values_list("household_id", "person_id", "amount"))
    households = sorted(h for h, _, _ in expected)
    # A run cut short leaves whole chunks out; a chunk holding some of its entitlements
    # (here: rows lost by hand) must be completed too, without a duplicate.
    lost = households[40:60] + households[200:]
    Entitlement.objects.filter(household_id__in=lost).delete()
    again = services.compute_eligibility(
        actor=op, municipality=muni, program_id="flat", chunk_size=50
    )
    assert again.created == len(lost)
    assert set(Entitlement.objects.values_list("household_id", "person_id", "amount")) == expected
    assert (again.entitlements, again.total) == (first.entitlements, first.total)


def test_a_person_resident_twice_on_the_base_date_gets_one_entitlement(
    muni: Municipality, op: Actor
) -> None:
    """Two states of one person valid on the base date are a registry data error; the run
    still completes, with one entitlement for that person (the unique index holds)."""
    from kiban.registry.models import PersonState

    generate_city(muni, households=40, base_date=BASE, seed=2)
    on_base = PersonState.objects.filter(
        municipality=muni, valid_from__lte=BASE, valid_to__gt=BASE, status="resident"
    )
    residents = set(on_base.values_list("person_id", flat=True))
    twice = on_base.order_by("person_id").first()
    assert twice is not None
    twice.pk = None
    twice.save()
    services.load_program(
        actor=op, municipality=muni,
        definition=parse_definition({
            "id": "all", "name": "全員", "base_date": BASE, "unit": "person",
            "amount": {"fixed": 10}, "eligibility": {"source": "registry"},
        }),
    )  # fmt: skip
    result = services.compute_eligibility(actor=op, municipality=muni, program_id="all")
    got = list(
        Entitlement.objects.filter(program__program_id="all").values_list("person_id", flat=True)
    )
    assert sorted(got) == sorted(residents)
    assert result.entitlements == len(residents) and result.total == 10 * len(residents)


@pytest.mark.django_db(transaction=True)
def test_postgresql_runs_two_chunks_at_once_with_the_same_result(
    muni: Municipality, op: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")
    rows: list[StateRow] = []
    city = generate_city(muni, households=300, base_date=BASE, collect=rows, seed=7)
    household_program(muni, op)
    both = threading.Barrier(2, timeout=30)  # the first two chunks meet: they run at once
    calls: list[int] = []
    real = services._insert_chunk

    def spy(*args: object) -> int:
        calls.append(threading.get_ident())
        if len(calls) <= 2:
            both.wait()
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(services, "_insert_chunk", spy)
    monkeypatch.setattr(services, "ELIGIBILITY_WORKERS", 2)
    done: list[tuple[int, int]] = []
    result = services.compute_eligibility(
        actor=op, municipality=muni, program_id="flat", chunk_size=40,
        progress=lambda d, t: done.append((d, t)),
    )  # fmt: skip
    assert len(set(calls)) == 2 and len(calls) > 2
    assert done[-1][0] == done[-1][1] and [d for d, _ in done] == sorted(d for d, _ in done)
    members: dict[int, list[StateRow]] = defaultdict(list)
    for r in independent_residents(rows, BASE):
        members[r.household_id].append(r)
    expected = {}
    for hh, ms in members.items():
        heads = [m.person_id for m in ms if m.is_head]
        payee = (
            heads[0]
            if heads
            else min(ms, key=lambda m: (city.birth[m.person_id], m.person_id)).person_id
        )
        expected[hh] = (payee, 100000 * len(ms))
    got = {
        e.household_id: (e.person_id, e.amount)
        for e in Entitlement.objects.filter(program__program_id="flat")
    }
    assert got == expected and result.created == len(expected)
    again = services.compute_eligibility(
        actor=op, municipality=muni, program_id="flat", chunk_size=40
    )
    assert again.created == 0 and again.total == result.total


@pytest.mark.django_db(transaction=True)
def test_concurrent_eligibility_runs_create_each_entitlement_once(
    muni: Municipality, op: Actor
) -> None:
    from django.db import OperationalError, close_old_connections

    generate_city(muni, households=200, base_date=BASE, seed=17)
    household_program(muni, op)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []
    created: list[int] = []

    def run() -> None:
        try:
            barrier.wait()
            for attempt in range(200):
                try:
                    result = services.compute_eligibility(
                        actor=op, municipality=muni, program_id="flat", chunk_size=30
                    )
                    created.append(result.created)
                    return
                except OperationalError as e:  # SQLite (shared-cache test database) "locked"
                    if "locked" not in str(e):
                        raise
                    time.sleep(0.001 * (attempt % 20))  # and run again
            raise AssertionError("never got the database")
        except BaseException as e:
            errors.append(e)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    from kiban.registry.models import PersonState

    expected = set(
        PersonState.objects.filter(
            municipality=muni, valid_from__lte=BASE, valid_to__gt=BASE, status="resident"
        ).values_list("household_id", flat=True)
    )
    households = list(Entitlement.objects.values_list("household_id", flat=True))
    assert len(households) == len(set(households)) and set(households) == expected
    # Each entitlement was created by exactly one of the runs (a run retried after
    # SQLite's "locked" may have committed chunks before: those count for no run here).
    assert sum(created) <= len(households) and len(created) == 3
    if connection.vendor == "postgresql":  # no retries there: the counts add up exactly
        assert sum(created) == len(households)


@pytest.mark.django_db(False)
@given(st.integers(-50, 10**6), st.integers(-3, 5000), st.integers(1, 600))
def test_chunks_cover_every_id_once_in_rounds_that_keep_every_worker_busy(
    lo: int, span: int, chunk_size: int
) -> None:
    hi = lo + span - 1
    ranges = services._chunk_ranges(lo, hi, chunk_size)
    ids = [i for first, last in ranges for i in range(first, last + 1)]
    assert ids == list(range(lo, hi + 1))
    assert all(0 < last - first + 1 <= chunk_size for first, last in ranges)
    sizes = [last - first + 1 for first, last in ranges]
    if ranges:
        # chunks of (nearly) one size, in whole rounds (no worker runs the last chunk
        # alone) unless there are fewer ids than that takes: then one id each
        assert max(sizes) - min(sizes) <= 1
        assert len(ranges) % services.ELIGIBILITY_WORKERS == 0 or len(ranges) == span
