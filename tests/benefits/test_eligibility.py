"""Eligibility from the registry, checked against an independent as-of computation."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

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
