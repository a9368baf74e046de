"""Synthetic population (kiban.registry.synth): shape, consistency and determinism."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.core.identifiers import validate_mynumber, validate_resident_code
from kiban.registry.synth import (
    AGE_BAND_SHARES,
    CHILD,
    CHILDS_WIFE,
    FATHER,
    GRANDCHILD,
    HEAD,
    HUSBAND,
    MOTHER,
    WIFE,
    SynthHousehold,
    SynthPerson,
    band_of,
    generate_city,
)
from kiban.registry.towns import InvalidLgCodeError, UnknownMunicipalityError, towns_for

AS_OF = date(2025, 10, 1)
KATAKANA = re.compile(r"[ァ-ヶー]+")


def age(person: SynthPerson, on: date = AS_OF) -> int:
    born = person.birth_date
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@pytest.fixture(scope="module")
def city() -> list[SynthHousehold]:
    return list(generate_city("141003", 200_000, seed=7, as_of=AS_OF))


def everyone(households: list[SynthHousehold]) -> list[SynthPerson]:
    return [p for h in households for p in (*h.members, *h.former_members)]


def fingerprint(households: list[SynthHousehold]) -> list[tuple[object, ...]]:
    return [
        (h.household_no, h.address, p.resident_code, p.mynumber, p.name, p.name_kana, p.sex,
         p.birth_date, p.relationship, p.nationality, p.status,
         tuple((e.kind, e.event_date, e.reported_date, e.place) for e in p.events))
        for h in households for p in (*h.members, *h.former_members)
    ]  # fmt: skip


def test_same_seed_same_output_other_seed_other_output() -> None:
    first = list(generate_city("131016", 3000, seed=1, as_of=AS_OF))
    again = list(generate_city("131016", 3000, seed=1, as_of=AS_OF))
    other = list(generate_city("131016", 3000, seed=2, as_of=AS_OF))
    assert fingerprint(first) == fingerprint(again)
    assert fingerprint(first) != fingerprint(other)


def test_a_smaller_run_is_a_prefix_of_a_larger_one() -> None:
    small = list(generate_city("131016", 5000, seed=3, as_of=AS_OF))
    large = list(generate_city("131016", 9000, seed=3, as_of=AS_OF))
    assert fingerprint(small[:-1]) == fingerprint(large[: len(small) - 1])


def test_exact_resident_count(city: list[SynthHousehold]) -> None:
    assert sum(len(h.members) for h in city) == 200_000
    assert all(h.members for h in city)


@settings(max_examples=15, deadline=None)
@given(residents=st.integers(min_value=0, max_value=2500), seed=st.integers(0, 2**32))
def test_exact_count_for_any_size(residents: int, seed: int) -> None:
    households = list(generate_city("141003", residents, seed=seed, as_of=AS_OF))
    assert sum(len(h.members) for h in households) == residents
    assert all(h.members[0].relationship == HEAD for h in households)


def test_identifiers_valid_and_unique(city: list[SynthHousehold]) -> None:
    people = everyone(city)
    assert len(people) > 200_000  # former members have numbers too
    mynumbers = [p.mynumber for p in people]
    resident_codes = [p.resident_code for p in people]
    for number in mynumbers:
        assert validate_mynumber(number) == number
    for code in resident_codes:
        assert validate_resident_code(code) == code
    assert len(set(mynumbers)) == len(mynumbers)
    assert len(set(resident_codes)) == len(resident_codes)
    assert len({p.person_no for p in people}) == len(people)
    # not a counter in disguise: leading digits are spread out
    assert len({n[:2] for n in mynumbers[:5000]}) > 90


def test_age_pyramid_matches_japan(city: list[SynthHousehold]) -> None:
    counts = Counter(band_of(age(p)) for h in city for p in h.members)
    total = sum(counts.values())
    for band, share in enumerate(AGE_BAND_SHARES):
        assert abs(counts[band] / total - share) < 0.008, band * 5
    children = sum(counts[b] for b in range(3)) / total
    elderly = sum(counts[b] for b in range(13, len(AGE_BAND_SHARES))) / total
    assert 0.09 < children < 0.13  # 0-14: about 11 %
    assert 0.27 < elderly < 0.32  # 65+: about 29-30 %


def test_household_sizes(city: list[SynthHousehold]) -> None:
    sizes = Counter(min(len(h.members), 5) for h in city[:-1])
    n = sum(sizes.values())
    for size, share in zip(range(1, 6), (0.38, 0.28, 0.17, 0.12, 0.05), strict=True):
        assert abs(sizes[size] / n - share) < 0.015


def test_one_adult_head_and_family_ages_consistent(city: list[SynthHousehold]) -> None:
    for h in city:
        heads = [p for p in h.members if p.relationship == HEAD]
        assert len(heads) == 1 and h.members[0] is heads[0]
        head = heads[0]
        assert age(head) >= 18
        spouses = [p for p in h.members if p.relationship in (WIFE, HUSBAND)]
        assert len(spouses) <= 1
        parents = [head, *spouses]
        for child in (p for p in h.members if p.relationship == CHILD):
            assert all(20 <= age(parent) - age(child) <= 45 for parent in parents)
            assert all(child.birth_date > parent.birth_date for parent in parents)
        for elder in (p for p in h.members if p.relationship in (FATHER, MOTHER)):
            assert 20 <= age(elder) - age(head) <= 45
        sons = [p for p in h.members if p.relationship in (CHILD, CHILDS_WIFE)]
        for grandchild in (p for p in h.members if p.relationship == GRANDCHILD):
            assert sons
            assert all(20 <= age(s) - age(grandchild) <= 45 for s in sons)
        for spouse in spouses:
            assert spouse.sex != head.sex
            assert abs(age(spouse) - age(head)) <= 10


def test_events_chronological_and_consistent_with_status(city: list[SynthHousehold]) -> None:
    statuses: Counter[str] = Counter()
    for h in city:
        for p in h.members:
            assert p.status == "resident"
        for p in h.former_members:
            assert p.status in ("deceased", "moved_out")
        for p in (*h.members, *h.former_members):
            statuses[p.status] += 1
            kinds = [e.kind for e in p.events]
            dates = [e.event_date for e in p.events]
            assert dates == sorted(dates)
            assert kinds[0] in ("birth", "move_in")
            assert kinds.count("birth") <= 1 and kinds.count("move_in") <= 1
            if kinds[0] == "birth":
                assert p.events[0].event_date == p.birth_date
            assert all(p.birth_date <= d <= AS_OF for d in dates)
            for e in p.events:
                assert e.reported_date <= AS_OF
                if e.kind == "move_out":
                    assert e.reported_date <= e.event_date
                else:
                    assert e.reported_date >= e.event_date
                assert (e.place is None) == (e.kind in ("birth", "death"))
            ends = [k for k in kinds if k in ("death", "move_out")]
            if p.status == "deceased":
                assert kinds[-1] == "death" and ends == ["death"]
            elif p.status == "moved_out":
                assert kinds[-1] == "move_out" and ends == ["move_out"]
                assert age(p, p.events[-1].event_date) >= 18
            else:
                assert not ends
    assert statuses["deceased"] > 1000
    assert statuses["moved_out"] > 1000


def test_names_kana_and_nationality(city: list[SynthHousehold]) -> None:
    people = [p for h in city for p in h.members]
    for p in people:
        assert KATAKANA.fullmatch(p.family_kana) and KATAKANA.fullmatch(p.given_kana)
        assert p.name_kana == f"{p.family_kana}\u3000{p.given_kana}"
        assert p.name == f"{p.family_name}\u3000{p.given_name}"
        assert p.sex in (1, 2)
        if p.nationality != "JP":
            assert p.family_name == p.family_kana
    foreign = sum(p.nationality != "JP" for p in people) / len(people)
    assert 0.015 < foreign < 0.035
    assert len({p.family_name for p in people}) > 250
    # spouses and children share the head's family name
    for h in city:
        for p in h.members:
            if p.relationship in (WIFE, HUSBAND, CHILD):
                assert p.family_name == h.head.family_name


def test_addresses_use_real_towns(city: list[SynthHousehold]) -> None:
    towns = {t.machiaza_id: t for t in towns_for("141003")}
    with_building = 0
    for h in city:
        assert towns[h.town.machiaza_id] == h.town
        assert re.fullmatch(r"[0-9]+丁目[0-9]+番[0-9]+号|[0-9]+番地(?:[0-9]+)?", h.street_address)
        assert h.address.startswith(f"神奈川県{h.town.city}{h.town.name}{h.street_address}")
        with_building += bool(h.building)
    assert 0.3 < with_building / len(city) < 0.6
    assert len({h.town.city for h in city}) == 18


def test_bad_arguments_fail_at_the_call() -> None:
    with pytest.raises(InvalidLgCodeError):
        generate_city("141004", 10, as_of=AS_OF)
    with pytest.raises(UnknownMunicipalityError):
        generate_city("130001", 10, as_of=AS_OF)
    with pytest.raises(ValueError, match="residents"):
        generate_city("141003", -1, as_of=AS_OF)
