"""Holder and bank names converted to the Zengin half-width character set."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.benefits.zengin_kana import (
    ZENGIN_CHARS,
    ZenginNameError,
    bank_kana_to_zengin,
    is_zengin_text,
    to_zengin_kana,
    truncate_zengin,
)

# Bytes a Zengin text field may contain: cp932 half-width large kana ｱ (0xB1) .. ﾝ (0xDD),
# ﾞ 0xDE, ﾟ 0xDF, A-Z, 0-9, space, ( ) - .
ALLOWED_BYTES = set(range(0xB1, 0xE0)) | set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ().-")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ショウゴ", "ｼﾖｳｺﾞ"),  # small kana enlarged, voiced split
        ("しょうご", "ｼﾖｳｺﾞ"),  # hiragana
        ("ｼｮｳｺﾞ", "ｼﾖｳｺﾞ"),  # half-width small kana enlarged
        ("ヤマダ　タロウ", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # ideographic space
        ("  ヤマダ   タロウ ", "ﾔﾏﾀﾞ ﾀﾛｳ"),  # spaces collapsed and trimmed
        ("パン", "ﾊﾟﾝ"),
        ("ヴァイオリン", "ｳﾞｱｲｵﾘﾝ"),
        ("ジョージ", "ｼﾞﾖ-ｼﾞ"),  # long vowel → hyphen
        ("ｼﾞｮｰｼﾞ", "ｼﾞﾖ-ｼﾞ"),  # half-width long vowel too
        ("キッチャ", "ｷﾂﾁﾔ"),
        ("ヵヶヮ", "ｶｹﾜ"),
        ("ヰヱ", "ｲｴ"),
        ("カ゛", "ｶﾞ"),  # spacing dakuten joins the kana
        ("ｊｏｈｎ Smith", "JOHN SMITH"),
        ("カ）ヤマダ（１２３）", "ｶ)ﾔﾏﾀﾞ(123)"),
        ("Ａ．Ｂ－Ｃ", "A.B-C"),
        ("オオタ‐ハナコ", "ｵｵﾀ-ﾊﾅｺ"),
    ],
)
def test_conversions(name: str, expected: str) -> None:
    assert to_zengin_kana(name) == expected


@pytest.mark.parametrize(
    ("name", "char", "position"),
    [
        ("山田タロウ", "山", 1),
        ("ヤマダ,タロウ", ",", 4),
        ("ヤマダ、タロウ", "、", 4),
        ("ジョン・スミス", "・", 4),
        ("ヤマダ/タロウ", "/", 4),
        ("ヲノ", "ヲ", 1),
        ("ﾀﾛｳ!", "!", 4),
        ("タロウ\t", "\t", 4),
        ("①タロウ", "①", 1),  # no silent NFKC compatibility folding
        ("㈱ヤマダ", "㈱", 1),
    ],
)
def test_unconvertible_characters_are_refused(name: str, char: str, position: int) -> None:
    with pytest.raises(ZenginNameError) as caught:
        to_zengin_kana(name)
    err = caught.value
    assert isinstance(err, ValueError)
    assert err.char == char
    assert err.position == position
    assert char in err.message_ja
    assert repr(char) in err.message_en


def test_kanji_message_tells_the_clerk_what_to_do() -> None:
    with pytest.raises(ZenginNameError) as caught:
        to_zengin_kana("ヤマダ 太郎")
    assert "カナ" in caught.value.message_ja
    assert "katakana" in caught.value.message_en


def test_voicing_mark_without_kana_is_refused() -> None:
    with pytest.raises(ZenginNameError):
        to_zengin_kana("ﾞｱ")
    with pytest.raises(ZenginNameError):
        to_zengin_kana("ア\u3099")  # ア has no voiced form


def test_long_vowel_can_be_refused() -> None:
    with pytest.raises(ZenginNameError) as caught:
        to_zengin_kana("ジョージ", long_vowel="reject")
    assert caught.value.char == "ー"
    assert to_zengin_kana("ジョ-ジ", long_vowel="reject") == "ｼﾞﾖ-ｼﾞ"


def test_optional_characters_on_request() -> None:
    assert to_zengin_kana("ヲノ", allow="ｦ") == "ｦﾉ"
    assert to_zengin_kana("A/B", allow="/") == "A/B"
    with pytest.raises(ValueError, match="allow"):
        to_zengin_kana("A", allow=",")


@pytest.mark.parametrize("name", ["", "   ", "　"])
def test_empty_names_are_refused(name: str) -> None:
    with pytest.raises(ZenginNameError):
        to_zengin_kana(name)


def test_max_len_refuses_or_truncates_without_splitting_a_voiced_kana() -> None:
    name = "ヤマダ ガ"  # ﾔﾏﾀﾞ ｶﾞ = 7 bytes
    assert to_zengin_kana(name, max_len=7) == "ﾔﾏﾀﾞ ｶﾞ"
    with pytest.raises(ZenginNameError) as caught:
        to_zengin_kana(name, max_len=6)
    assert caught.value.char is None
    assert "6" in caught.value.message_ja
    # cutting at 6 would leave ｶ without ﾞ: the whole kana goes, then the trailing space
    assert to_zengin_kana(name, max_len=6, truncate=True) == "ﾔﾏﾀﾞ"
    assert to_zengin_kana(name, max_len=4, truncate=True) == "ﾔﾏﾀﾞ"
    assert to_zengin_kana(name, max_len=3, truncate=True) == "ﾔﾏ"


def test_bank_master_kana() -> None:
    assert bank_kana_to_zengin("ミズホ") == "ﾐｽﾞﾎ"
    assert bank_kana_to_zengin("トウキヨウ") == "ﾄｳｷﾖｳ"
    assert bank_kana_to_zengin("ミツビシユ－エフジエイ") == "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ"
    assert len(bank_kana_to_zengin("アイウエオカキクケコサシスセソタチ")) == 15


def test_every_name_in_the_bank_master_converts_to_15_bytes() -> None:
    from zengin_code import Bank

    for bank in Bank.all.values():
        names = [bank.kana, *(branch.kana for branch in bank.branches.values())]
        for kana in names:
            converted = bank_kana_to_zengin(kana)
            assert is_zengin_text(converted), kana
            assert len(converted.encode("cp932")) <= 15, kana
            assert not converted.endswith(("ﾞ", "ﾟ")) or len(converted) <= 15


@given(st.text())
def test_any_input_is_converted_cleanly_or_refused(name: str) -> None:
    try:
        result = to_zengin_kana(name)
    except ZenginNameError as err:
        assert err.message_ja and err.message_en
        return
    encoded = result.encode("cp932")
    assert len(encoded) == len(result)  # one byte per character
    assert set(encoded) <= ALLOWED_BYTES
    assert result == result.strip(" ") and "  " not in result
    assert to_zengin_kana(result) == result  # stable


_KANA = [chr(c) for c in range(0x30A1, 0x30F5) if chr(c) not in "ヲヺ"]
_HIRA = [chr(c) for c in range(0x3041, 0x3095) if chr(c) != "を"]
_CONVERTIBLE = st.sampled_from(_KANA + _HIRA + list("ABCxyz0189 ー()-.　"))


@given(st.lists(_CONVERTIBLE, min_size=1, max_size=60).map("".join), st.integers(1, 40))
def test_kana_names_always_convert_and_respect_max_len(name: str, max_len: int) -> None:
    if not name.strip(" 　"):
        return
    full = to_zengin_kana(name)
    assert is_zengin_text(full)
    truncated = to_zengin_kana(name, max_len=max_len, truncate=True)
    assert len(truncated.encode("cp932")) <= max_len
    assert full.startswith(truncated)
    assert not truncated.startswith(("ﾞ", "ﾟ"))
    # a voicing mark is never separated from its kana at the cut
    if len(full) > len(truncated):
        assert full[len(truncated)] not in "ﾞﾟ"
    if len(full) > max_len:
        with pytest.raises(ZenginNameError):
            to_zengin_kana(name, max_len=max_len)


@given(st.text(alphabet=sorted(ZENGIN_CHARS), max_size=50), st.integers(0, 50))
def test_truncate_zengin_gives_a_prefix(text: str, max_len: int) -> None:
    cut = truncate_zengin(text, max_len)
    assert len(cut) <= max_len
    assert text.startswith(cut)
