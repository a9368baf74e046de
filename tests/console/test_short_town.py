"""Town labels on the benefits dashboard chart: only the municipality's own prefix goes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.console.benefits_views import _short_town

YOKOHAMA = ("神奈川県", "横浜市")


@pytest.mark.parametrize(
    ("name", "municipality", "short"),
    [
        # The ward of a designated city stays: town names repeat across wards.
        ("神奈川県横浜市中区山下町", YOKOHAMA, "中区山下町"),
        ("神奈川県横浜市中区元町1丁目", YOKOHAMA, "中区元町1丁目"),
        ("横浜市中区山下町", YOKOHAMA, "中区山下町"),
        # Names with 町 / 市 / 区 / 村 inside the town name are not cut there.
        ("テスト町6丁目", YOKOHAMA, "テスト町6丁目"),
        ("神奈川県横浜市テスト町6丁目", YOKOHAMA, "テスト町6丁目"),
        ("元町1丁目", YOKOHAMA, "元町1丁目"),
        ("神奈川県横浜市港北区新吉田町", YOKOHAMA, "港北区新吉田町"),
        ("東京都千代田区丸の内", ("東京都", "千代田区"), "丸の内"),
        ("東京都千代田区千代田", ("東京都", "千代田区"), "千代田"),
        ("大阪府大阪市北区梅田", ("大阪府", "大阪市"), "北区梅田"),
        # A town or village in a 郡: the 郡 goes with the municipality.
        ("神奈川県足柄下郡箱根町湯本", ("神奈川県", "箱根町"), "湯本"),
        ("北海道余市郡余市町黒川町", ("北海道", "余市町"), "黒川町"),
        # Another municipality's prefix is not ours to remove.
        ("神奈川県川崎市川崎区駅前本町", YOKOHAMA, "川崎市川崎区駅前本町"),
    ],
)
def test_short_town(name: str, municipality: tuple[str, str], short: str) -> None:
    prefecture, city = municipality
    assert _short_town(name, prefecture=prefecture, city=city) == short


def test_long_names_are_cut_with_an_ellipsis() -> None:
    label = _short_town("神奈川県横浜市中区" + "あ" * 20, prefecture=YOKOHAMA[0], city=YOKOHAMA[1])
    assert len(label) == 12 and label.startswith("中区あ") and label.endswith("…")


def test_nothing_left_keeps_the_name() -> None:
    assert (
        _short_town("神奈川県横浜市", prefecture=YOKOHAMA[0], city=YOKOHAMA[1]) == "神奈川県横浜市"
    )


TOWN_CHARS = st.sampled_from(list("町市区村郡丁目本元中央東西南北山下1234567890ヶケノ"))


@given(st.text(TOWN_CHARS, min_size=1, max_size=12), st.text(TOWN_CHARS, min_size=1, max_size=12))
def test_labels_of_distinct_towns_stay_distinct(a: str, b: str) -> None:
    """Whatever a 町字 contains, the chart shows exactly it (so two towns never merge)."""
    prefix = "神奈川県横浜市"
    assert _short_town(prefix + a, prefecture=YOKOHAMA[0], city=YOKOHAMA[1]) == a
    if a != b:
        assert _short_town(prefix + a, prefecture=YOKOHAMA[0], city=YOKOHAMA[1]) != _short_town(
            prefix + b, prefecture=YOKOHAMA[0], city=YOKOHAMA[1]
        )
