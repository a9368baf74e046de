"""Program definition files and the pure age/amount rules."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.benefits.eligibility import AgeBand, AmountRule, age_on, birth_range
from kiban.benefits.programs import (
    ProgramDefinitionError,
    load_definition_file,
    parse_definition,
)
from tests.benefits.conftest import EXAMPLES, ROOT


def test_examples_and_builtin_definitions_are_valid() -> None:
    flat = load_definition_file(EXAMPLES / "special-flat-rate.yaml")
    assert (flat.unit, flat.amount.fixed, flat.source, flat.push) == (
        "household",
        100000,
        "registry",
        True,
    )
    by_age = load_definition_file(EXAMPLES / "age-band.yaml")
    assert by_age.unit == "person" and len(by_age.amount.bands) == 3
    child = load_definition_file(ROOT / "kiban/benefits/definitions/child-allowance.yaml")
    assert child.source == "grant" and child.granted_amount


def _base(**over: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": "p1", "name": "x", "base_date": "2026-04-01", "unit": "person",
        "amount": {"fixed": 1000}, "eligibility": {"source": "registry"},
    }  # fmt: skip
    data.update(over)
    return data


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"unit": "family"}, "unit"),
        ({"amount": {"fixed": 0}}, "amount"),
        ({"amount": {"fixed": 1, "by_age": [{"amount": 1}]}}, "amount"),
        ({"id": "Bad Id"}, "id"),
        ({"base_date": "2026-13-01"}, "base_date"),
        ({"surprise": 1}, "surprise"),
        (
            {
                "amount": {
                    "by_age": [
                        {"min_age": 0, "max_age": 10, "amount": 1},
                        {"min_age": 10, "amount": 2},
                    ]
                }
            },
            "overlaps",
        ),
        ({"eligibility": {"source": "registry", "age": {"min": 10, "max": 5}}}, "min"),
        ({"application": {"start": "2026-05-01", "end": "2026-04-01"}}, "application/end"),
    ],
)
def test_invalid_definitions_are_refused_with_the_reason(
    over: dict[str, object], needle: str
) -> None:
    with pytest.raises(ProgramDefinitionError) as e:
        parse_definition(_base(**over))
    assert any(needle in d for d in e.value.details), e.value.details


def test_registry_program_needs_a_base_date() -> None:
    data = _base()
    del data["base_date"]
    with pytest.raises(ProgramDefinitionError):
        parse_definition(data)


dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


@given(birth=dates, base=dates, lo=st.integers(0, 120), span=st.integers(0, 40))
def test_birth_range_is_the_age_range(birth: date, base: date, lo: int, span: int) -> None:
    hi = lo + span
    after, upto = birth_range(base, lo, hi)
    in_range = (after is None or birth > after) and (upto is None or birth <= upto)
    assert in_range == (lo <= age_on(birth, base) <= hi)


@given(birth=dates, base=dates)
def test_birth_cases_agree_with_amount_for_age(birth: date, base: date) -> None:
    rule = AmountRule(bands=(AgeBand(0, 17, 50000), AgeBand(65, 74, 20000), AgeBand(75, None, 3)))
    expected = rule.amount_for_age(age_on(birth, base)) if birth <= base else None
    got = None
    for after, upto, amount in rule.birth_cases(base):
        if (after is None or birth > after) and (upto is None or birth <= upto):
            got = amount
    assert got == expected


def test_leap_day_birthday() -> None:
    assert age_on(date(2020, 2, 29), date(2021, 2, 28)) == 0
    assert age_on(date(2020, 2, 29), date(2021, 3, 1)) == 1
