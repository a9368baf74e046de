"""Eligibility and amount rules of benefit programs (pure module: no Django).

Ages are counted on the base date (基準日) the ordinary way: a person born on 2000-04-01
is 26 on 2026-04-01. (The 年齢計算ニ関スル法律 makes a person one year older at the end
of the day *before* the birthday; a program that needs that rule sets its base date one
day later.) Someone born on 29 February is a year older on 1 March in common years.

The set-based eligibility query never computes ages row by row: an age range on the base
date is the same as a birth-date range, which :func:`birth_range` returns, so the database
compares ``birth_date`` with two constants on an index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = [
    "AgeBand",
    "AmountRule",
    "age_on",
    "birth_range",
    "years_before",
]


def years_before(d: date, years: int) -> date:
    """``d`` moved back ``years`` years; 29 February becomes 28 February in common years."""
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February in a common year
        return d.replace(year=d.year - years, day=28)


def age_on(birth: date, d: date) -> int:
    """Completed years of age on ``d`` (birthday counts; 29 Feb → 1 Mar in common years)."""
    return d.year - birth.year - ((d.month, d.day) < (birth.month, birth.day))


def birth_range(
    base: date, min_age: int | None, max_age: int | None
) -> tuple[date | None, date | None]:
    """Birth dates ``(after, on_or_before)`` of people aged ``min_age..max_age`` on ``base``.

    A person is in the range iff ``after < birth_date <= on_or_before`` (``None`` = no bound).
    """
    on_or_before = years_before(base, min_age) if min_age is not None else None
    after = years_before(base, max_age + 1) if max_age is not None else None
    return after, on_or_before


@dataclass(frozen=True, slots=True)
class AgeBand:
    min_age: int | None
    max_age: int | None
    amount: int

    def contains(self, age: int) -> bool:
        return (self.min_age is None or age >= self.min_age) and (
            self.max_age is None or age <= self.max_age
        )


@dataclass(frozen=True, slots=True)
class AmountRule:
    """Either a fixed amount per eligible person or a table by age on the base date.

    With a table, a person whose age is in no band is not eligible.
    """

    fixed: int | None = None
    bands: tuple[AgeBand, ...] = ()

    def amount_for_age(self, age: int) -> int | None:
        if self.fixed is not None:
            return self.fixed
        for band in self.bands:
            if band.contains(age):
                return band.amount
        return None

    def birth_cases(self, base: date) -> list[tuple[date | None, date | None, int]]:
        """``(after, on_or_before, amount)`` per band, for a SQL CASE on birth_date."""
        if self.fixed is not None:
            return [(None, None, self.fixed)]
        return [(*birth_range(base, b.min_age, b.max_age), b.amount) for b in self.bands]
