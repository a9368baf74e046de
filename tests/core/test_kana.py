"""Furigana normalisation and search keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.core.kana import is_katakana_name, normalize_kana, search_key

FW_SPACE = "\u3000"

# CJK unified ideographs, extension A, and the compatibility block (which NFC/NFKC would alter).
kanji = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0x3400, max_codepoint=0x4DBF),
    st.characters(min_codepoint=0xF900, max_codepoint=0xFAD9),
    st.characters(min_codepoint=0x20000, max_codepoint=0x2A6DF),
)
hiragana = st.characters(min_codepoint=0x3041, max_codepoint=0x3096)
katakana = st.characters(min_codepoint=0x30A1, max_codepoint=0x30FA)
halfwidth_kana = st.characters(min_codepoint=0xFF66, max_codepoint=0xFF9F)
spaces = st.sampled_from([" ", FW_SPACE, "\t", "\n"])
name_like = st.text(
    alphabet=st.one_of(hiragana, katakana, halfwidth_kana, kanji, spaces, st.sampled_from("ーｰ-")),
    max_size=20,
)


def _is_kanji(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x2FFFF
    )


# --- normalize_kana --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("やまだ たろう", "ヤマダ　タロウ"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ　タロウ"),
        ("ヤマダ　　タロウ", "ヤマダ　タロウ"),
        ("  やまだ \u3000 \t たろう\u3000", "ヤマダ　タロウ"),
        ("ｶﾞｷﾞｸﾞｹﾞｺﾞ", "ガギグゲゴ"),
        ("ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ", "パピプペポ"),
        ("ｳﾞｨｸﾄﾙ", "ヴィクトル"),
        ("ﾜﾞ", "ヷ"),
        ("ｼｮｳｺﾞ", "ショウゴ"),
        ("カ\u3099", "ガ"),  # decomposed input (macOS NFD)
        ("ハ\u309a", "パ"),
        ("カﾞ", "ガ"),
        ("ア゛", "ア゛"),  # no such composed kana: keep the full-width mark
        ("ﾞ", "゛"),
        ("ｽﾐｽ-ｼﾞｮｰﾝｽﾞ", "スミスージョーンズ"),
        ("ﾒｰﾙ", "メール"),
        ("ゔぃおら", "ヴィオラ"),
        ("Smith John", "Ｓｍｉｔｈ　Ｊｏｈｎ"),
        ("ﾀﾛｳ2", "タロウ２"),
        ("やま\u200bだ", "ヤマダ"),
        ("山田　太郎", "山田　太郎"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize_kana(typed: str, expected: str) -> None:
    assert normalize_kana(typed) == expected


def test_compatibility_ideographs_survive() -> None:
    # U+FA19 and U+795E are different registered characters; NFC would merge them.
    assert normalize_kana("\ufa19田 はなこ") == "\ufa19田　ハナコ"
    assert normalize_kana("髙﨑") == "髙﨑"


@given(text=st.text(alphabet=kanji, min_size=1, max_size=10))
def test_kanji_only_text_is_unchanged(text: str) -> None:
    assert normalize_kana(text) == text


@given(text=name_like)
def test_kanji_sequence_is_preserved_in_mixed_text(text: str) -> None:
    before = [ch for ch in text if _is_kanji(ch)]
    after = [ch for ch in normalize_kana(text) if _is_kanji(ch)]
    assert after == before


@given(text=name_like)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize_kana(text)
    assert normalize_kana(once) == once


@given(text=name_like)
def test_normalized_text_has_no_hiragana_halfwidth_or_stray_spaces(text: str) -> None:
    result = normalize_kana(text)
    assert not any("\u3041" <= ch <= "\u3096" for ch in result)
    assert not any("\uff61" <= ch <= "\uff9f" for ch in result)
    assert not any(ch.isspace() and ch != FW_SPACE for ch in result)
    assert FW_SPACE * 2 not in result
    assert result == result.strip()


@given(
    parts=st.lists(
        st.text(alphabet=st.one_of(hiragana, katakana), min_size=1, max_size=8),
        min_size=1,
        max_size=3,
    )
)
def test_kana_names_normalize_to_katakana_names(parts: list[str]) -> None:
    # Hiragana with no katakana counterpart (none in 3041-3096) must all convert.
    assert is_katakana_name(normalize_kana("  ".join(parts)))


# --- is_katakana_name ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["ヤマダ　タロウ", "ヴィクトル", "ジョン・スミス", "サヽキ", "ヶ", "ヨーコ"]
)
def test_katakana_names(text: str) -> None:
    assert is_katakana_name(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "やまだ",
        "ﾔﾏﾀﾞ",
        "山田",
        "ヤマダ タロウ",  # half-width space
        "ヤマダ　　タロウ",
        "　ヤマダ",
        "ヤマダ　",
        "ヤマダ1",
        "ＹＡＭＡＤＡ",
        "ヤマダ゛",
    ],
)
def test_not_katakana_names(text: str) -> None:
    assert not is_katakana_name(text)


# --- search_key ------------------------------------------------------------------------------


def test_search_examples_from_the_brief_find_the_registry_name() -> None:
    stored = search_key("ヤマダ　タロウ")
    for typed in ["やまだ", "ﾔﾏﾀﾞ", "ヤマダ　タロウ", "やまだたろう", "ﾔﾏﾀﾞ ﾀﾛｳ", "たろう"]:
        assert search_key(typed) in stored, typed
    assert stored.startswith(search_key("やまだ"))
    assert search_key("やまた") not in stored  # dakuten matter


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("シャーロット", "シヤーロツト"),  # small kana enlarged
        ("ヴァイオリン", "バイオリン"),
        ("ヴィヴィアン", "ビビアン"),
        ("ヴェル", "ベル"),
        ("ヴォルフ", "ボルフ"),
        ("ヴ", "ブ"),
        ("ちぢみ", "チジミ"),
        ("つづき", "ツズキ"),
        ("かをる", "カオル"),
        ("ゐど", "イド"),
        ("ゑみ", "エミ"),
        ("さゝき", "ササキ"),
        ("いすゞ", "イスズ"),
        ("ジョン・スミス", "ジョン スミス"),
        ("smith", "ＳＭＩＴＨ"),
        ("霞ヶ関", "霞ケ関"),
    ],
)
def test_search_key_folds_spelling_variants(a: str, b: str) -> None:
    assert search_key(a) == search_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("ヤマダ", "ヤマタ"), ("ヨーコ", "ヨウコ"), ("ハナ", "バナ"), ("キヨ", "キョウ")],
)
def test_search_key_keeps_real_differences(a: str, b: str) -> None:
    assert search_key(a) != search_key(b)


@given(text=name_like)
def test_search_key_is_idempotent_and_space_free(text: str) -> None:
    key = search_key(text)
    assert search_key(key) == key
    assert not any(ch.isspace() for ch in key)


# ゔ is left out: see test_bare_vu_prefix_limitation.
hiragana_no_vu = hiragana.filter(lambda ch: ch != "ゔ")


@given(
    family=st.text(alphabet=hiragana_no_vu, min_size=1, max_size=6),
    given_name=st.text(alphabet=hiragana_no_vu, min_size=1, max_size=6),
)
def test_any_prefix_typed_in_hiragana_finds_the_stored_reading(
    family: str, given_name: str
) -> None:
    stored = search_key(normalize_kana(f"{family} {given_name}"))
    assert stored.startswith(search_key(family))
    assert search_key(given_name) in stored


@given(text=st.text(alphabet=kanji, min_size=1, max_size=10))
def test_search_key_keeps_kanji(text: str) -> None:
    assert search_key(text) == text


def test_bare_vu_prefix_limitation() -> None:
    """Documented: ヴァ folds to バ, so a query stopped right after ヴ only finds ブ-names."""
    stored = search_key("ヴァイオリン")
    assert stored.startswith(search_key("ゔぁ"))
    assert not stored.startswith(search_key("ゔ"))
    assert search_key("ヴードゥー").startswith(search_key("ゔ"))


@given(text=st.text())
def test_arbitrary_text_normalizes_and_keys_stably(text: str) -> None:
    normalized = normalize_kana(text)
    assert normalize_kana(normalized) == normalized
    key = search_key(text)
    assert search_key(key) == key
