"""Deterministic synthetic residents for demos, tests and benchmarks (pure module: no Django).

Nothing here is about a real person: names are drawn from lists of common names, numbers are
synthetic, and only the towns (町字, from :mod:`kiban.registry.towns`) are real places.

Shape of the population (approximate, good enough for realistic load and screens):

- ages follow the Japanese pyramid of 2025 in 5-year bands (approximate, 総務省人口推計 shape);
- household sizes: 1 person ≈ 38 %, 2 ≈ 28 %, 3 ≈ 17 %, 4 ≈ 12 %, 5 or more ≈ 5 %;
- households are singles, couples, couples with children, single parents, couples living with a
  parent, three generations, or two unrelated adults (同居人); heads are 20 or older, spouses of
  similar age, children 20–45 years younger than both parents;
- about 2.5 % of households are foreign residents, named in katakana, with a nationality code;
- each person has an event history (異動): born in the city or moved in (転入), maybe one move
  within the city (転居). Former members of a household (除票) are generated too: a spouse who
  died, an adult child who moved out; they are in ``SynthHousehold.former_members``, never in
  ``members``, so ``members`` holds exactly the current residents.

Identifiers are unique within one run without keeping a set of millions of strings: the n-th
person's base digits are a seeded bijection of n (affine map, digit rotation, affine map modulo
10^11 or 10^10), then the check digit is appended. My Number check digits follow
:func:`kiban.core.identifiers.mynumber_check_digit`. The 住民票コード check digit uses the usual
modulus-11 rule (weights 2–7 from the right; 0 when the remainder is 0 or 1), which is
UNVERIFIED against 平成14年総務省告示第436号: kiban stores resident codes without checking it.

Determinism: the same ``(lg_code, residents, seed, as_of)`` always gives identical output
(string seeds of :class:`random.Random` hash with SHA-512, not with Python's salted hash).
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import accumulate
from typing import Final, Literal

from kiban.registry.data.names import (
    FAMILY_NAMES,
    FEMALE_NAMES,
    FOREIGN_NAMES,
    FOREIGN_SHARES,
    MALE_NAMES,
)
from kiban.registry.towns import Town, municipality_name, towns_for

__all__ = [
    "AGE_BAND_SHARES",
    "HOUSEHOLD_SIZE_SHARES",
    "SynthEvent",
    "SynthHousehold",
    "SynthPerson",
    "city_block",
    "generate_city",
    "trim_block",
    "warm_up",
]

EventKind = Literal["birth", "move_in", "move_within", "death", "move_out"]
Status = Literal["resident", "deceased", "moved_out"]

MALE: Final = 1  # ISO/IEC 5218
FEMALE: Final = 2
JAPANESE: Final = "JP"
NAME_SEPARATOR: Final = "\u3000"  # one full-width space between family and given name

# 続柄 as written on a 住民票, relative to the 世帯主.
HEAD: Final = "世帯主"
WIFE: Final = "妻"
HUSBAND: Final = "夫"
CHILD: Final = "子"
FATHER: Final = "父"
MOTHER: Final = "母"
GRANDCHILD: Final = "孫"
CHILDS_WIFE: Final = "子の妻"
LODGER: Final = "同居人"

#: Share of the population by 5-year age band (0-4, 5-9, …, 95-99, 100+); approximate, shaped
#: after 総務省統計局「人口推計」 for 2025. Normalised at import.
_BAND_WEIGHTS: Final = (
    3.3, 3.8, 4.2, 4.4, 4.9, 5.1, 5.1, 5.5, 6.0, 7.1, 7.8, 6.6, 6.0, 5.9, 6.6, 6.9, 4.8,
    3.2, 1.6, 0.45, 0.08,
)  # fmt: skip
AGE_BAND_SHARES: Final[tuple[float, ...]] = tuple(w / sum(_BAND_WEIGHTS) for w in _BAND_WEIGHTS)
MAX_AGE: Final = 104
N_AGES: Final = MAX_AGE + 1

#: Share of households by size (1, 2, 3, 4, 5 or more).
HOUSEHOLD_SIZE_SHARES: Final = (0.38, 0.28, 0.17, 0.12, 0.05)
_BIG_SIZES: Final = ((5, 0.70), (6, 0.22), (7, 0.08))

FOREIGN_HOUSEHOLD_SHARE: Final = 0.025


def band_of(age: int) -> int:
    """Index of the 5-year band of an age in AGE_BAND_SHARES (100+ is the last band)."""
    return min(age // 5, len(AGE_BAND_SHARES) - 1)


# --- result types -----------------------------------------------------------------------------


@dataclass(slots=True)
class SynthEvent:
    """One registry event (異動) of a person.

    ``place`` is the previous municipality for ``move_in`` (国外 from abroad), the previous
    address for ``move_within``, the destination municipality for ``move_out``, else None.
    ``reported_date`` is the 届出日: after the event, except a 転出届 which is made before the
    move; never after the generation's reference date.
    """

    kind: EventKind
    event_date: date
    reported_date: date
    place: str | None = None


@dataclass(slots=True)
class SynthPerson:
    """One synthetic person; names in kanji and full-width katakana, sex per ISO/IEC 5218."""

    person_no: int  # 0-based position in the run, unique within it
    resident_code: str  # 住民票コード, 11 digits
    mynumber: str  # 個人番号, 12 digits with a valid check digit
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    sex: int  # 1 male, 2 female
    birth_date: date
    relationship: str  # 続柄 relative to the head: 世帯主, 妻, 夫, 子, 父, 母, 孫, 子の妻, 同居人
    nationality: str  # ISO 3166-1 alpha-2; "JP" for Japanese nationals
    status: Status = "resident"
    events: list[SynthEvent] = field(default_factory=list)

    @property
    def name(self) -> str:
        """氏名 as printed: family and given name separated by one full-width space."""
        return f"{self.family_name}{NAME_SEPARATOR}{self.given_name}"

    @property
    def name_kana(self) -> str:
        """フリガナ: "ヤマダ　タロウ"."""
        return f"{self.family_kana}{NAME_SEPARATOR}{self.given_kana}"


@dataclass(slots=True)
class SynthHousehold:
    """A household (世帯) at one address; ``members[0]`` is the head (世帯主)."""

    household_no: int  # 1-based, in generation order
    lg_code: str
    town: Town
    street_address: str  # 番地以下: "3丁目12番5号", "1234番地"
    building: str  # 方書 (building and room), "" for a house
    members: list[SynthPerson]  # current residents only
    former_members: list[SynthPerson] = field(default_factory=list)  # deceased or moved out

    @property
    def head(self) -> SynthPerson:
        return self.members[0]

    @property
    def address(self) -> str:
        """Full address: 都道府県 市区町村 町字 番地以下, then the building after a space."""
        base = f"{self.town.full_name}{self.street_address}"
        return f"{base}\u3000{self.building}" if self.building else base


# --- age model --------------------------------------------------------------------------------

# Relative propensity by 5-year band (from age 20) of being each kind of household's reference
# adult; multiplied with the calibrated age weights. Index 0 is 20-24, the last is 100+.
_ADULT_BANDS: Final = 17
_SINGLE_MULT: Final = (2.4, 1.9, 1.2, 0.9, 0.8, 0.8, 0.8, 0.8, 0.9, 1.0, 1.1, 1.3, 1.5, 1.6, 1.5,
                       1.2, 0.8)  # fmt: skip
_COUPLE_MULT: Final = (0.3, 0.8, 0.6, 0.4, 0.4, 0.5, 0.7, 1.0, 1.4, 1.8, 2.0, 1.9, 1.6, 1.2, 0.8,
                       0.4, 0.2)  # fmt: skip
_PARENTS_MULT: Final = (0.2, 0.8, 1.5, 2.0, 2.0, 1.8, 1.5, 1.2, 0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1,
                        0.05, 0.02)  # fmt: skip
_LONE_PARENT_MULT: Final = (0.1, 0.4, 0.8, 1.0, 1.1, 1.1, 1.1, 1.1, 1.1, 1.1, 1.2, 1.2, 1.2, 1.1,
                            0.9, 0.6, 0.3)  # fmt: skip
_SENIOR_MULT: Final = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.8, 1.2, 1.5, 1.5, 1.3, 1.0, 0.6, 0.3,
                       0.1, 0.05)  # fmt: skip
_MIDDLE_MULT: Final = (0.0, 0.3, 0.8, 1.2, 1.5, 1.5, 1.3, 1.0, 0.6, 0.3, 0.1, 0.0, 0.0, 0.0, 0.0,
                       0.0, 0.0)  # fmt: skip
_ROLES: Final = {
    "single": _SINGLE_MULT,
    "couple": _COUPLE_MULT,
    "parents": _PARENTS_MULT,
    "lone_parent": _LONE_PARENT_MULT,
    "senior": _SENIOR_MULT,
    "middle": _MIDDLE_MULT,
}
# Husband's age minus wife's age, and its weights.
_SPOUSE_GAPS: Final = tuple(range(-4, 10))
_SPOUSE_GAP_CUM: Final = tuple(accumulate((1, 2, 4, 7, 10, 11, 11, 10, 9, 7, 5, 4, 3, 2)))

# Household kinds by size: (kind, weight).
_KINDS_BY_SIZE: Final = {
    1: (("single", 1.0),),
    2: (("couple", 0.62), ("lone_parent", 0.30), ("lodger", 0.08)),
    3: (("couple_children", 0.65), ("lone_parent", 0.22), ("couple_parent", 0.13)),
    4: (("couple_children", 0.82), ("couple_children_parent", 0.10), ("lone_parent", 0.08)),
    5: (("couple_children", 0.55), ("couple_children_parent", 0.25), ("three_generations", 0.20)),
}

Member = tuple[str, int, int]  # (続柄, sex, age)


class _AgeTables:
    """Cumulative age weights per role, over single years 0..MAX_AGE."""

    def __init__(self, base: Sequence[float]) -> None:
        self.base = list(base)
        self.any = list(accumulate(self.base))
        self.roles: dict[str, list[float]] = {}
        for role, mult in _ROLES.items():
            weights = [
                0.0 if age < 20 else self.base[age] * mult[min((age - 20) // 5, _ADULT_BANDS - 1)]
                for age in range(N_AGES)
            ]
            self.roles[role] = list(accumulate(weights))


def _draw(rng_random: Callable[[], float], cum: list[float], lo: int, hi: int) -> int:
    """An age in [lo, hi] (clamped to 0..MAX_AGE) drawn with the cumulative weights cum."""
    lo = max(lo, 0)
    hi = min(hi, MAX_AGE)
    if hi <= lo:
        return lo if lo <= MAX_AGE else MAX_AGE
    start = cum[lo - 1] if lo else 0.0
    end = cum[hi]
    if end <= start:
        return lo
    return bisect(cum, start + rng_random() * (end - start), lo, hi)


_SIZE_CUM: Final = tuple(accumulate(HOUSEHOLD_SIZE_SHARES))
_BIG_CUM: Final = tuple(accumulate(w for _, w in _BIG_SIZES))
_KIND_CUM: Final = {
    size: (tuple(k for k, _ in kinds), tuple(accumulate(w for _, w in kinds)))
    for size, kinds in _KINDS_BY_SIZE.items()
}


def _skeleton(rnd: random.Random, t: _AgeTables) -> tuple[list[Member], list[Member]]:
    """Current members (head first) and former members of one household, as (続柄, sex, age).

    The age of a former member is the age they would have on the reference date.
    """
    r = rnd.random
    size = bisect(_SIZE_CUM, r() * _SIZE_CUM[-1]) + 1
    if size >= 5:
        size = _BIG_SIZES[bisect(_BIG_CUM, r() * _BIG_CUM[-1])][0]
    kinds, kind_cum = _KIND_CUM[min(size, 5)]
    kind = kinds[bisect(kind_cum, r() * kind_cum[-1])]
    any_ = t.any
    members: list[Member] = []
    former: list[Member] = []

    def couple(role: str) -> tuple[int, int]:
        wife = _draw(r, t.roles[role], 20, MAX_AGE)
        gap = _SPOUSE_GAPS[bisect(_SPOUSE_GAP_CUM, r() * _SPOUSE_GAP_CUM[-1])]
        husband = min(max(wife + gap, 20), MAX_AGE)
        if r() < 0.9:
            members.append((HEAD, MALE, husband))
            members.append((WIFE, FEMALE, wife))
        else:
            members.append((HEAD, FEMALE, wife))
            members.append((HUSBAND, MALE, husband))
        return min(wife, husband), max(wife, husband)

    def children(young: int, old: int, n: int, relationship: str = CHILD) -> None:
        for _ in range(n):
            age = _draw(r, any_, old - 45, young - 20)
            members.append((relationship, MALE if r() < 0.512 else FEMALE, age))

    if kind == "single":
        age = _draw(r, t.roles["single"], 20, MAX_AGE)
        male_share = 0.55 if age < 65 else 0.32  # more widows than widowers
        members.append((HEAD, MALE if r() < male_share else FEMALE, age))
        if age >= 60 and r() < 0.5:  # widowed: the spouse died
            sex = FEMALE if members[0][1] == MALE else MALE
            gap = _SPOUSE_GAPS[bisect(_SPOUSE_GAP_CUM, r() * _SPOUSE_GAP_CUM[-1])]
            spouse_age = min(max(age + (gap if sex == MALE else -gap), 20), MAX_AGE)
            former.append((HUSBAND if sex == MALE else WIFE, sex, spouse_age))
    elif kind == "couple":
        young, old = couple("couple")
        if young >= 45 and r() < 0.35:  # a grown-up child has moved out
            child_age = _draw(r, any_, max(old - 45, 19), young - 20)
            former.append((CHILD, MALE if r() < 0.512 else FEMALE, child_age))
    elif kind == "lodger":
        age = _draw(r, t.roles["single"], 20, MAX_AGE)
        members.append((HEAD, MALE if r() < 0.55 else FEMALE, age))
        members.append((LODGER, MALE if r() < 0.5 else FEMALE, _draw(r, any_, age - 8, age + 8)))
    elif kind == "couple_children":
        young, old = couple("parents")
        children(young, old, size - 2)
    elif kind == "lone_parent":
        age = _draw(r, t.roles["lone_parent"], 20, MAX_AGE)
        members.append((HEAD, FEMALE if r() < 0.75 else MALE, age))
        children(age, age, size - 1)
    elif kind in ("couple_parent", "couple_children_parent"):
        young, old = couple("middle")
        head_age = members[0][2]
        parent_age = _draw(r, any_, head_age + 20, head_age + 45)
        n_children = size - 3
        children(young, old, n_children)
        members.append((MOTHER, FEMALE, parent_age) if r() < 0.7 else (FATHER, MALE, parent_age))
    else:  # three generations: the head's couple, a married son and grandchildren
        young, old = couple("senior")
        son = _draw(r, any_, max(old - 45, 22), young - 20)
        members.append((CHILD, MALE, son))
        son_wife = _draw(r, any_, max(son - 6, 20), son + 3)
        members.append((CHILDS_WIFE, FEMALE, son_wife))
        children(min(son, son_wife), max(son, son_wife), size - 4, GRANDCHILD)
    return members, former


def _band_counts(tables: _AgeTables, households: int, seed: str) -> list[int]:
    rnd = random.Random(seed)
    counts = [0] * len(AGE_BAND_SHARES)
    for _ in range(households):
        members, _former = _skeleton(rnd, tables)
        for _rel, _sex, age in members:
            counts[band_of(age)] += 1
    return counts


@lru_cache(maxsize=1)
def _calibrated_tables() -> _AgeTables:
    """Age weights fitted so that the generated population matches AGE_BAND_SHARES.

    Every role draws ages from the same base weights (restricted to its feasible range and
    scaled by the role's propensity), so scaling the base weights of a band by target/actual
    share moves the whole population towards the pyramid (iterative proportional fitting).
    Runs once per process with a fixed seed, so it does not affect determinism.
    """
    base = [AGE_BAND_SHARES[band_of(age)] / 5 for age in range(N_AGES)]
    tables = _AgeTables(base)
    for iteration in range(8):
        counts = _band_counts(tables, 20_000, f"kiban-calibration-{iteration}")
        total = sum(counts)
        for age in range(N_AGES):
            band = band_of(age)
            actual = counts[band] / total
            if actual > 0:
                base[age] *= (AGE_BAND_SHARES[band] / actual) ** 0.8
        tables = _AgeTables(base)
    return tables


# --- identifiers ------------------------------------------------------------------------------


def _digit_table(weights: tuple[int, ...]) -> list[int]:
    """Weighted digit sum of every number with len(weights) digits (zero-padded)."""
    n = len(weights)
    table = []
    for value in range(10**n):
        digits = f"{value:0{n}d}"
        table.append(sum(w * int(d) for w, d in zip(weights, digits, strict=True)))
    return table


_T2_65 = _digit_table((6, 5))
_T3_432 = _digit_table((4, 3, 2))
_T3_765 = _digit_table((7, 6, 5))
_T1_5 = _digit_table((5,))


def _mod11_check(total: int) -> int:
    r = total % 11
    return 0 if r <= 1 else 11 - r


def _mynumber_from_base(x: int) -> str:
    # weights 6,5 | 4,3,2 | 7,6,5 | 4,3,2 on the 11 digits, left to right
    total = (
        _T2_65[x // 1_000_000_000]
        + _T3_432[x // 1_000_000 % 1000]
        + _T3_765[x // 1000 % 1000]
        + _T3_432[x % 1000]
    )
    return f"{x:011d}{_mod11_check(total)}"


def _resident_code_from_base(x: int) -> str:
    # weights 5 | 4,3,2 | 7,6,5 | 4,3,2 on the 10 digits: 2..7 cycling from the right
    total = (
        _T1_5[x // 1_000_000_000]
        + _T3_432[x // 1_000_000 % 1000]
        + _T3_765[x // 1000 % 1000]
        + _T3_432[x % 1000]
    )
    return f"{x:010d}{_mod11_check(total)}"


class _Permutation:
    """A seeded bijection of 0..10^digits-1: affine, rotate the digits, affine."""

    def __init__(self, rnd: random.Random, digits: int) -> None:
        self.modulus = 10**digits
        self.a1 = self._unit(rnd)
        self.b1 = rnd.randrange(self.modulus)
        self.a2 = self._unit(rnd)
        self.b2 = rnd.randrange(self.modulus)
        self.split = 10 ** rnd.randrange(3, digits - 2)
        self.shift = self.modulus // self.split

    def _unit(self, rnd: random.Random) -> int:
        while True:
            a = rnd.randrange(self.modulus // 10, self.modulus)
            if a % 2 and a % 5:
                return a

    def __call__(self, n: int) -> int:
        m = self.modulus
        x = (self.a1 * n + self.b1) % m
        x = (x % self.split) * self.shift + x // self.split
        return (self.a2 * x + self.b2) % m


# --- names, addresses, events -----------------------------------------------------------------

_FAMILY_CUM: Final = tuple(accumulate(1.0 / (rank + 8) for rank in range(len(FAMILY_NAMES))))
_GIVEN: Final = {MALE: MALE_NAMES, FEMALE: FEMALE_NAMES}
_FOREIGN_CODES: Final = tuple(FOREIGN_SHARES)
_FOREIGN_CUM: Final = tuple(accumulate(FOREIGN_SHARES.values()))

_BUILDING_PREFIX: Final = (
    "コーポ", "ハイツ", "メゾン", "グランドール", "パークハウス", "レジデンス", "サンハイム",
    "ヴィラ", "ロイヤル", "シティハウス",
)  # fmt: skip
_BUILDING_NAME: Final = (
    "桜", "青葉", "みどり", "富士見", "若葉", "ひまわり", "白鳥", "港南", "希望", "朝日", "松風",
    "けやき", "さくら坂", "緑ヶ丘", "山手",
)  # fmt: skip

# Other municipalities people move from or to (public place names).
_ELSEWHERE: Final = (
    "東京都世田谷区", "東京都大田区", "東京都八王子市", "東京都練馬区", "神奈川県川崎市中原区",
    "神奈川県横浜市港北区", "神奈川県藤沢市", "神奈川県相模原市中央区", "千葉県船橋市",
    "千葉県千葉市中央区", "埼玉県さいたま市浦和区", "埼玉県川口市", "大阪府大阪市北区",
    "愛知県名古屋市中区", "北海道札幌市中央区", "宮城県仙台市青葉区", "福岡県福岡市博多区",
    "静岡県静岡市葵区", "兵庫県神戸市中央区", "広島県広島市中区", "新潟県新潟市中央区",
    "京都府京都市左京区", "茨城県つくば市", "長野県長野市",
)  # fmt: skip
ABROAD: Final = "国外"


def _years_before(day: date, years: int) -> int:
    """Ordinal of the same calendar day ``years`` earlier (29 Feb falls back to 28 Feb)."""
    year = day.year - years
    try:
        return date(year, day.month, day.day).toordinal()
    except ValueError:
        return date(year, day.month, 28).toordinal()


def generate_city(
    lg_code: str, residents: int, *, seed: int = 0, as_of: date
) -> Iterator[SynthHousehold]:
    """Yield synthetic households of a municipality until they hold exactly ``residents`` people.

    Addresses use the municipality's real towns (:func:`kiban.registry.towns.towns_for`). The
    last household is trimmed (its last members dropped) to hit the count. Current members'
    ages are as of ``as_of``; every event date and reported date is on or before ``as_of``.
    Output depends only on the arguments, and a smaller count gives a prefix of a larger one.
    Households are made in independent blocks of BLOCK_HOUSEHOLDS, each with its own random
    stream and its own range of person numbers, so blocks could be made in parallel.
    Raises InvalidLgCodeError / UnknownMunicipalityError for a bad code, ValueError for a
    negative count.
    """
    if isinstance(residents, bool) or not isinstance(residents, int) or residents < 0:
        raise ValueError(f"residents must be a non-negative integer, not {residents!r}")
    municipality_name(lg_code)  # a clear ja/en error for a bad or unknown code, before iterating
    return _generate(lg_code, residents, seed, as_of)


BLOCK_HOUSEHOLDS: Final = 4096
_BLOCK_PERSONS: Final = 100_000  # person numbers reserved per block; a household has ≤ 8 people


def _generate(lg_code: str, residents: int, seed: int, as_of: date) -> Iterator[SynthHousehold]:
    remaining = residents
    block = 0
    while remaining > 0:
        households = _block(lg_code, seed, as_of, block)
        yield from trim_block(households, remaining)
        remaining -= sum(len(h.members) for h in households)
        block += 1


def city_block(lg_code: str, seed: int, as_of: date, block: int) -> list[SynthHousehold]:
    """Block ``block`` (0-based) of :func:`generate_city`'s households, before trimming.

    ``generate_city`` is these blocks in order, cut by :func:`trim_block` where the count is
    reached; blocks depend only on their arguments, so separate processes can make them.
    """
    municipality_name(lg_code)
    return _block(lg_code, seed, as_of, block)


def warm_up(lg_code: str) -> None:
    """Compute the one-time tables (age calibration, towns) now, e.g. before forking."""
    _calibrated_tables()
    towns_for(lg_code)


def trim_block(households: list[SynthHousehold], remaining: int) -> list[SynthHousehold]:
    """The households of a block that hold the next ``remaining`` residents (in place).

    The whole block when it holds no more than that; otherwise its first households, the
    last of them with its last current members dropped so that exactly ``remaining`` are
    left.
    """
    for i, household in enumerate(households):
        members = household.members
        if len(members) >= remaining:
            del members[remaining:]
            del households[i + 1 :]
            return households
        remaining -= len(members)
    return households


def _block(lg_code: str, seed: int, as_of: date, block: int) -> list[SynthHousehold]:
    """BLOCK_HOUSEHOLDS households; depends only on the arguments."""
    towns = towns_for(lg_code)
    prefecture, city = municipality_name(lg_code)
    here = f"{prefecture}{city}"
    elsewhere = tuple(place for place in _ELSEWHERE if not place.startswith(here))
    n_elsewhere = len(elsewhere)
    tables = _calibrated_tables()
    rnd = random.Random(f"kiban-synth:{lg_code}:{seed}:{block}")
    r = rnd.random
    codes = _codes(lg_code, seed)

    today = as_of.toordinal()
    age_start, age_days = _birth_ranges(as_of)
    fromordinal = date.fromordinal
    n_towns = len(towns)
    n_family = len(FAMILY_NAMES)
    family_cum = _FAMILY_CUM
    family_total = family_cum[-1]
    generation_years = _GENERATION_YEARS
    generation_names = _GENERATION_NAMES
    foreign_total = _FOREIGN_CUM[-1]
    adult_days = 18 * 365 + 5

    person_no = block * _BLOCK_PERSONS
    households: list[SynthHousehold] = []

    def street(town: Town) -> str:
        if town.has_chome:
            return f"{1 + int(r() * 5)}丁目{1 + int(r() * 30)}番{1 + int(r() * 25)}号"
        if r() < 0.5:
            return f"{1 + int(r() * 2999)}番地"
        return f"{1 + int(r() * 2999)}番地{1 + int(r() * 30)}"

    # Per-household state, read by person() below; reassigned for every household.
    foreign_names: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None = None
    nationality = JAPANESE
    family_kanji = family_kana = origin = old_address = ""
    native = False
    moved = 0

    def person(rel: str, sex: int, birth: int, join: int, end: int = 0) -> SynthPerson:
        """A member who joined the household on ``join``; ``end`` is a death or move-out."""
        if birth >= join or (native and rel == HEAD):
            first = birth
            rep = min(birth + int(r() * 15), today)  # 出生届 within 14 days
            events = [SynthEvent("birth", fromordinal(birth), fromordinal(rep))]
        else:
            first = join
            rep = min(join + int(r() * 15), today)  # 転入届 within 14 days
            events = [SynthEvent("move_in", fromordinal(join), fromordinal(rep), origin)]
        if moved and first < moved and (not end or moved < end):
            rep = min(moved + int(r() * 15), today)
            events.append(
                SynthEvent("move_within", fromordinal(moved), fromordinal(rep), old_address)
            )
        birth_date = fromordinal(birth)
        family, kana = family_kanji, family_kana
        if foreign_names is not None:
            pool = foreign_names[1] if sex == MALE else foreign_names[2]
            given = given_kana = pool[int(r() * len(pool))]
        else:
            names = generation_names[sex][bisect(generation_years[sex], birth_date.year - 1)]
            given, given_kana = names[int(r() * len(names))]
            if rel == LODGER:  # 同居人 is not family
                family, kana = FAMILY_NAMES[int(r() * n_family)]
        resident_code, mynumber = codes(person_no)
        return SynthPerson(
            person_no, resident_code, mynumber, family, given, kana, given_kana,
            sex, birth_date, rel, nationality, "resident", events,
        )  # fmt: skip

    for household_index in range(BLOCK_HOUSEHOLDS):
        members_spec, former_spec = _skeleton(rnd, tables)

        foreign_names = None
        if r() < FOREIGN_HOUSEHOLD_SHARE:
            nationality = _FOREIGN_CODES[bisect(_FOREIGN_CUM, r() * foreign_total)]
            foreign_names = FOREIGN_NAMES[nationality]
            families = foreign_names[0]
            family_kanji = family_kana = families[int(r() * len(families))]
            native = r() < 0.1
            origin = ABROAD if r() < 0.5 else elsewhere[int(r() * n_elsewhere)]
        else:
            nationality = JAPANESE
            family_kanji, family_kana = FAMILY_NAMES[
                min(bisect(family_cum, r() * family_total), n_family - 1)
            ]
            native = r() < 0.3
            origin = elsewhere[int(r() * n_elsewhere)]

        town = towns[int(r() * n_towns)]
        street_address = street(town)
        building = ""
        if r() < 0.45:
            building = (
                f"{_BUILDING_PREFIX[int(r() * 10)]}{_BUILDING_NAME[int(r() * 15)]}"
                f" {1 + int(r() * 9)}{1 + int(r() * 12):02d}号室"
            )

        # The household came together here after its youngest adult turned 18.
        births = [age_start[age] + int(r() * age_days[age]) for _, _, age in members_spec]
        youngest_adult = max(
            b
            for (rel, _, age), b in zip(members_spec, births, strict=True)
            if age >= 20 and rel != FATHER and rel != MOTHER
        )
        earliest = min(max(youngest_adult + adult_days, today - 50 * 365), today)
        arrival = today - int(r() * (today - earliest + 1))
        moved = 0
        if r() < 0.15:  # one move within the city (転居) once the head is an adult living here
            first = max(arrival, births[0] + adult_days)
            if today - first > 1:
                moved = first + 1 + int(r() * (today - first - 1))
                old_town = towns[int(r() * n_towns)]
                old_address = f"{old_town.full_name}{street(old_town)}"

        members: list[SynthPerson] = []
        for (rel, sex, _age), birth in zip(members_spec, births, strict=True):
            join = arrival
            if rel == FATHER or rel == MOTHER:  # the head's parents often join later
                join += int(r() * (today - arrival + 1))
            members.append(person(rel, sex, birth, join))
            person_no += 1

        former: list[SynthPerson] = []
        for rel, sex, age in former_spec:
            birth = age_start[age] + int(r() * age_days[age])
            start = max(arrival, birth) if rel != CHILD else max(arrival, birth + adult_days)
            if today - start < 2:
                continue
            end = start + 1 + int(r() * (today - start))
            gone = person(rel, sex, birth, arrival, end)
            if rel == CHILD:  # 転出届 is made up to 14 days before the move
                rep = max(end - int(r() * 15), gone.events[-1].event_date.toordinal())
                place = elsewhere[int(r() * n_elsewhere)]
                gone.events.append(
                    SynthEvent("move_out", fromordinal(end), fromordinal(rep), place)
                )
                gone.status = "moved_out"
            else:  # 死亡届 within 7 days
                rep = min(end + int(r() * 8), today)
                gone.events.append(SynthEvent("death", fromordinal(end), fromordinal(rep)))
                gone.status = "deceased"
            former.append(gone)
            person_no += 1

        number = block * BLOCK_HOUSEHOLDS + household_index + 1
        households.append(
            SynthHousehold(number, lg_code, town, street_address, building, members, former)
        )
    return households


_GENERATION_YEARS: Final = {sex: tuple(year for year, _ in names) for sex, names in _GIVEN.items()}
_GENERATION_NAMES: Final = {sex: tuple(n for _, n in names) for sex, names in _GIVEN.items()}


@lru_cache(maxsize=16)
def _birth_ranges(as_of: date) -> tuple[list[int], list[int]]:
    """For each age, the first birth ordinal giving that age on as_of and the number of days."""
    start = [_years_before(as_of, age + 1) + 1 for age in range(N_AGES)]
    days = [_years_before(as_of, age) - start[age] + 1 for age in range(N_AGES)]
    return start, days


@lru_cache(maxsize=16)
def _codes(lg_code: str, seed: int) -> Callable[[int], tuple[str, str]]:
    """person number → (住民票コード, 個人番号), a seeded bijection for each (see module doc)."""
    rnd = random.Random(f"kiban-synth-codes:{lg_code}:{seed}")
    my = _Permutation(rnd, 11)
    rc = _Permutation(rnd, 10)
    t5, t65, t432, t765 = _T1_5, _T2_65, _T3_432, _T3_765

    def codes(n: int) -> tuple[str, str]:
        x = (rc.a1 * n + rc.b1) % 10_000_000_000
        x = (x % rc.split) * rc.shift + x // rc.split
        x = (rc.a2 * x + rc.b2) % 10_000_000_000
        total = t5[x // 1_000_000_000] + t432[x // 1_000_000 % 1000] + t765[x // 1000 % 1000]
        r = (total + t432[x % 1000]) % 11
        resident_code = f"{x:010d}{0 if r <= 1 else 11 - r}"
        y = (my.a1 * n + my.b1) % 100_000_000_000
        y = (y % my.split) * my.shift + y // my.split
        y = (my.a2 * y + my.b2) % 100_000_000_000
        total = t65[y // 1_000_000_000] + t432[y // 1_000_000 % 1000] + t765[y // 1000 % 1000]
        r = (total + t432[y % 1000]) % 11
        return resident_code, f"{y:011d}{0 if r <= 1 else 11 - r}"

    return codes
