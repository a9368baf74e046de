"""Town lists from the bundled KEN_ALL data (kiban.registry.towns)."""

from __future__ import annotations

import re

import pytest

from kiban.core.identifiers import lg_code_check_digit
from kiban.registry.towns import (
    InvalidLgCodeError,
    UnknownMunicipalityError,
    municipality_name,
    towns_for,
)


def test_yokohama_is_the_union_of_its_wards_with_the_ward_in_the_city() -> None:
    towns = towns_for("141003")
    wards = {t.city for t in towns}
    assert len(wards) == 18
    assert all(re.fullmatch(r"横浜市.+区", city) for city in wards)
    yamashita = [t for t in towns if t.name == "山下町" and t.city == "横浜市中区"]
    assert len(yamashita) == 1
    town = yamashita[0]
    assert town.postcode == "2310023"
    assert town.name_kana == "ヤマシタチョウ"
    assert town.prefecture == "神奈川県"
    assert town.lg_code == "141003"
    assert town.ward_lg_code == "141046"
    assert town.full_name == "神奈川県横浜市中区山下町"
    naka = {(t.name, t.postcode) for t in towns_for("141046")}
    assert naka == {(t.name, t.postcode) for t in towns if t.city == "横浜市中区"}


def test_chiyoda_has_marunouchi_and_no_placeholder_or_floor_rows() -> None:
    names = [t.name for t in towns_for("131016")]
    assert "丸の内" in names
    assert len(names) == len(set(names))
    assert all(names)
    assert not any("以下に掲載がない場合" in n or "階" in n for n in names)


def test_machiaza_ids_are_stable_unique_seven_digits() -> None:
    towns = towns_for("141003")
    ids = [t.machiaza_id for t in towns]
    assert all(re.fullmatch(r"[0-9]{4}000", i) for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert ids[0] == "0001000"
    assert [(t.machiaza_id, t.name) for t in towns_for("141003")] == [
        (t.machiaza_id, t.name) for t in towns
    ]
    # the caller gets its own list: changing it does not change the cache
    towns.clear()
    assert towns_for("141003")


def test_municipality_names() -> None:
    assert municipality_name("141003") == ("神奈川県", "横浜市")
    assert municipality_name("131016") == ("東京都", "千代田区")
    assert municipality_name("141046") == ("神奈川県", "横浜市中区")
    assert municipality_name("011002") == ("北海道", "札幌市")


@pytest.mark.parametrize("code", ["12345", "1410033", "14100a", "141004", "", "１４１００３"])
def test_malformed_codes_are_rejected_in_both_languages(code: str) -> None:
    with pytest.raises(InvalidLgCodeError) as info:
        towns_for(code)
    assert info.value.message_ja in str(info.value)
    assert info.value.message_en in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_and_prefecture_codes_are_rejected_in_both_languages() -> None:
    for base in ("47999", "13000", "99100"):
        code = f"{base}{lg_code_check_digit(base)}"
        with pytest.raises(UnknownMunicipalityError) as info:
            towns_for(code)
        assert code in info.value.message_ja
        assert code in info.value.message_en
        with pytest.raises(UnknownMunicipalityError):
            municipality_name(code)
