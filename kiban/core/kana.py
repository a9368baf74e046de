"""Furigana (name reading) normalisation and search keys (pure module: no Django).

The registry stores a name reading as full-width katakana with one full-width space between
family and given name: ``ヤマダ　タロウ``. :func:`normalize_kana` turns what people type into
that form; :func:`search_key` folds spelling variants so that searches match.

Choices (documented here because they are policy, not accident):

- Output of :func:`normalize_kana` is full width throughout, like registry display and the
  JIS X 0208 repertoire of resident-record systems: half-width katakana and ASCII (letters,
  digits, punctuation) become full width. Letter case is kept.
- Kanji are never changed. In particular Unicode normalisation (NFC/NFKC) is NOT applied,
  because it rewrites CJK compatibility ideographs (e.g. U+FA19 神 -> U+795E 神), which are
  distinct characters in a person's registered name.
- A hyphen-like character directly after katakana is read as the long-vowel mark ー
  (``ｽﾐｽ-`` -> ``スミスー``): keyboards produce it where ー was meant.
- Zero-width characters (U+200B-U+200D, U+2060, U+FEFF) are removed.

:func:`search_key` additionally removes spaces and ・, upper-cases Latin letters, enlarges small
kana (ャ -> ヤ, ッ -> ツ), spells out the iteration marks ヽ ヾ, and folds sounds that are
written two ways: ヂ -> ジ, ヅ -> ズ, ヲ -> オ, ヰ -> イ, ヱ -> エ, and ヴ with its vowel to
the B-row (ヴァ -> バ, ヴィ -> ビ, ヴ -> ブ, ヴェ -> ベ, ヴォ -> ボ; also ヷヸヹヺ). The long-vowel
mark ー is kept (ヨーコ and ヨウコ stay different: folding ー would need the preceding vowel and
would merge names that people distinguish). Dakuten are kept (ヤマダ and ヤマタ differ).

Known limitation: because ヴァ folds to バ, an incremental search stopped right after a bare ヴ
(before its small vowel is typed) matches ブ-names only.
"""

from __future__ import annotations

import unicodedata
from typing import Final

import jaconv

__all__ = ["is_katakana_name", "normalize_kana", "search_key"]

FULLWIDTH_SPACE: Final = "\u3000"

_ZERO_WIDTH: Final = {ord(ch): None for ch in "\u200b\u200c\u200d\u2060\ufeff"}

# Voiced/semi-voiced sound marks in every form they arrive in: half-width (left over by
# jaconv when it cannot combine them, e.g. ﾜﾞ), spacing full-width, and combining.
_DAKUTEN: Final = frozenset("\uff9e\u309b\u3099")
_HANDAKUTEN: Final = frozenset("\uff9f\u309c\u309a")
_COMBINING: Final = {
    **dict.fromkeys(_DAKUTEN, "\u3099"),
    **dict.fromkeys(_HANDAKUTEN, "\u309a"),
}
_SPACING: Final = {"\u3099": "\u309b", "\u309a": "\u309c"}

_HYPHENS: Final = frozenset("-\uff0d\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2500\uff70")

_KATAKANA_LETTERS: Final = frozenset(chr(cp) for cp in range(0x30A1, 0x30FB))  # ァ..ヺ
_NAME_MARKS: Final = frozenset("ー・ヽヾ")


def _is_kana(ch: str) -> bool:
    return "\u3041" <= ch <= "\u309f" or "\u30a0" <= ch <= "\u30ff"


def _compose_sound_marks(text: str) -> str:
    """Attach stray ﾞ ﾟ ゛ ゜ and combining marks to the kana before them where possible."""
    out: list[str] = []
    for ch in text:
        if ch in _DAKUTEN or ch in _HANDAKUTEN:
            combining = _COMBINING[ch]
            if out and _is_kana(out[-1]):
                # NFC on a kana + combining mark pair only; never on the whole text (kanji).
                composed = unicodedata.normalize("NFC", out[-1] + combining)
                if len(composed) == 1:
                    out[-1] = composed
                    continue
            out.append(_SPACING[combining])
        else:
            out.append(ch)
    return "".join(out)


def _long_vowel_hyphens(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch in _HYPHENS and out and (out[-1] in _KATAKANA_LETTERS or out[-1] == "ー"):
            out.append("ー")
        else:
            out.append(ch)
    return "".join(out)


def normalize_kana(text: str) -> str:
    """Normalise a name reading to registry form: full-width katakana, single full-width spaces.

    Hiragana become katakana; half-width katakana become full width with their sound marks
    combined (ｶﾞ -> ガ, ﾜﾞ -> ヷ); ASCII becomes full width; runs of half- or full-width
    whitespace become one full-width space; the ends are stripped. Kanji pass through
    unchanged. ``normalize_kana("やまだ  ﾀﾛｳ")`` == ``"ヤマダ　タロウ"``.
    """
    text = text.translate(_ZERO_WIDTH)
    text = jaconv.h2z(text, kana=True, ascii=True, digit=True)
    text = jaconv.hira2kata(text)
    text = _compose_sound_marks(text)
    text = _long_vowel_hyphens(text)
    return FULLWIDTH_SPACE.join(text.split())


def is_katakana_name(text: str) -> bool:
    """True if ``text`` is a registry-form katakana reading.

    Allowed: full-width katakana ァ..ヺ (including ヴ ヵ ヶ ヷ..ヺ), ー, ・ (used in foreign
    names), ヽ ヾ, and single full-width spaces between parts. Not allowed: empty text,
    leading/trailing or doubled spaces, half-width or hiragana characters, kanji, Latin letters.
    """
    if not text:
        return False
    parts = text.split(FULLWIDTH_SPACE)
    return all(
        part and all(ch in _KATAKANA_LETTERS or ch in _NAME_MARKS for ch in part) for part in parts
    )


_SMALL_TO_LARGE: Final = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_FOLD: Final = str.maketrans("ヂヅヲヰヱヷヸヹヺ", "ジズオイエバビベボ")
_VU: Final = (("ヴァ", "バ"), ("ヴィ", "ビ"), ("ヴェ", "ベ"), ("ヴォ", "ボ"), ("ヴ", "ブ"))


def _expand_iteration_marks(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch in "ヽヾ" and out and out[-1] in _KATAKANA_LETTERS:
            # ヽ repeats the previous kana unvoiced (サヽキ = ササキ), ヾ voiced (イスヾ = イスズ).
            base = unicodedata.normalize("NFD", out[-1])[0]
            if ch == "ヾ":
                voiced = unicodedata.normalize("NFC", base + "\u3099")
                out.append(voiced if len(voiced) == 1 else base)
            else:
                out.append(base)
        else:
            out.append(ch)
    return "".join(out)


def search_key(text: str) -> str:
    """A key for matching name readings by prefix or substring.

    ``search_key("やまだ")``, ``search_key("ﾔﾏﾀﾞ")`` and ``search_key("ヤマダ　タロウ")`` are
    ``"ヤマダ"``, ``"ヤマダ"`` and ``"ヤマダタロウ"``: compare keys, never raw text. The folding
    rules are listed in the module docstring. Kanji are kept, so a kanji name has a key too.
    """
    # Upper-case first: upper() can turn one character into ASCII letters (ß -> SS), which
    # normalize_kana then widens, so the key stays a fixed point of search_key.
    text = normalize_kana(text.upper())
    # Removing separators can bring a hyphen next to katakana: read it as ー here too.
    text = _long_vowel_hyphens("".join(text.split()).replace("・", ""))
    text = _expand_iteration_marks(text)
    for vu, b_row in _VU:
        text = text.replace(vu, b_row)
    return text.translate(_SMALL_TO_LARGE).translate(_FOLD)
