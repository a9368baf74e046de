"""Account holder names in the half-width kana that Zengin (全銀) files carry.

Pure module: no Django import.

The character set every bank accepts for 受取人名 (recipient name) is, per
/work/shared/REFERENCE.md: half-width katakana in their LARGE form only (ｼﾖｳｺﾞ, never
ｼｮｳｺﾞ), the voicing marks ﾞ and ﾟ as separate characters, A–Z, 0–9, space and ``( ) - .``.
Banks differ on ``/`` and ``ｦ`` (refused unless the caller allows them with ``allow=``);
``ｰ`` (half-width long vowel) and ``,`` are refused by every bank.

Conversion rules of :func:`to_zengin_kana`:

* hiragana become katakana; full-width katakana, letters, digits and ``（）．－`` become
  their half-width forms; lower-case Latin letters become upper case;
* small kana are enlarged (ァ→ｱ, ッ→ﾂ, ャ→ﾔ, ヮ→ﾜ, ヵ→ｶ, ヶ→ｹ);
* voiced kana are split into base + mark (ガ→ｶﾞ, パ→ﾊﾟ, ヴ→ｳﾞ);
* the historical kana ヰ and ヱ become ｲ and ｴ (the usual bank transliteration);
* the long vowel mark (ー, or half-width ｰ) and dash-like characters (‐ ‑ ‒ – — ― −)
  become the hyphen ``-``. The REFERENCE forbids the *character* ｰ in a file; writing the
  long vowel as a hyphen is the rule most banks publish (ｼﾞﾖ-ｼﾞ for ジョージ), so it is
  the default. Pass ``long_vowel="reject"`` for a bank that wants such names refused;
* runs of spaces (ASCII or the ideographic space 　) collapse to one space and leading or
  trailing spaces are dropped.

Anything else (kanji, comma, 、, ・, symbols, tabs, emoji, a voicing mark with no kana to
carry it) is refused with :class:`ZenginNameError`, which names the offending character and
its position: a clerk must correct the name rather than the file carrying garbage.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from kiban.core.errors import ValidationFailed

__all__ = [
    "OPTIONAL_CHARS",
    "ZENGIN_CHARS",
    "ZenginNameError",
    "bank_kana_to_zengin",
    "is_zengin_text",
    "to_zengin_kana",
    "truncate_zengin",
]

_HALF_LARGE_KANA = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ"
_VOICED = "ﾞ"
_SEMI_VOICED = "ﾟ"

#: Characters every bank accepts in a Zengin text field (one cp932 byte each).
ZENGIN_CHARS: frozenset[str] = frozenset(
    _HALF_LARGE_KANA + _VOICED + _SEMI_VOICED + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ().-"
)
#: Characters some banks accept and others refuse; allowed only on request.
OPTIONAL_CHARS: frozenset[str] = frozenset("ｦ/")


def _build_kana_table() -> dict[str, str]:
    full_large = (
        "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
    )
    table = dict(zip(full_large, _HALF_LARGE_KANA, strict=True))
    for full_voiced, base in zip(
        "ガギグゲゴザジズゼゾダヂヅデドバビブベボ", "ｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾊﾋﾌﾍﾎ", strict=True
    ):
        table[full_voiced] = base + _VOICED
    for full_semi, base in zip("パピプペポ", "ﾊﾋﾌﾍﾎ", strict=True):
        table[full_semi] = base + _SEMI_VOICED
    small = dict(zip("ァィゥェォッャュョヮヵヶ", "ｱｲｳｴｵﾂﾔﾕﾖﾜｶｹ", strict=True))
    table.update(small)
    table.update({"ヴ": "ｳ" + _VOICED, "ヷ": "ﾜ" + _VOICED, "ヸ": "ｲ" + _VOICED})
    table.update({"ヹ": "ｴ" + _VOICED, "ヰ": "ｲ", "ヱ": "ｴ", "ヲ": "ｦ", "ヺ": "ｦ" + _VOICED})
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789().-/":
        table[ch] = ch
    for ch in "abcdefghijklmnopqrstuvwxyz":
        table[ch] = ch.upper()
    for dash in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212":
        table[dash] = "-"
    return table


_KANA_TABLE = _build_kana_table()
_LONG_VOWEL = "ー"  # half-width ｰ is folded to this before the table lookup
_SPACES = re.compile(" +")
# Characters whose fold to the full-width or ASCII form is safe: the half-width/full-width
# forms block (ＡＢ, ０１, （）, ｶﾞ, ｰ) and the ideographic space. NFKC is not applied to the
# whole name: it would silently turn ① into 1 or ㈱ into (株).
_WIDTH_FOLD = re.compile("[\u3000\uff01-\uff5e\uff61-\uff9f]+")


class ZenginNameError(ValidationFailed, ValueError):
    """A name that cannot be written into a Zengin file.

    ``char`` is the offending character (``None`` when the problem is the length or an empty
    name) and ``position`` its 1-based position in the name, counting a kana with its voicing
    mark (ｶﾞ, カ゛) as one character.
    """

    code = "zengin_name"

    def __init__(
        self,
        message_ja: str,
        message_en: str,
        *,
        char: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(message_ja, message_en)
        self.char = char
        self.position = position


def _bad_char(ch: str, position: int, hint_ja: str = "", hint_en: str = "") -> ZenginNameError:
    code_point = f"U+{ord(ch):04X}"
    return ZenginNameError(
        f"{position}文字目の「{ch}」({code_point}) は振込データに使えない文字です。{hint_ja}",
        f"Character {position} {ch!r} ({code_point}) cannot be used in a bank transfer file."
        f"{' ' + hint_en if hint_en else ''}",
        char=ch,
        position=position,
    )


def _hint(ch: str) -> tuple[str, str]:
    if ch in ",、，":
        return (
            "カンマは使えません。区切りは空白にしてください。",
            "Commas are not allowed; use a space.",
        )
    if ch in "・･":
        return (
            "中黒は使えません。空白かピリオドにしてください。",
            "The middle dot is not allowed; use a space or a full stop.",
        )
    if ch in "ｦヲを":
        return ("「ｦ」を受け付けない銀行があります。", "Some banks refuse 'ｦ'.")
    if ch == "/":
        return ("「/」を受け付けない銀行があります。", "Some banks refuse '/'.")
    if ch in (_LONG_VOWEL, "ｰ"):
        return ("長音記号はこの設定では使えません。", "The long vowel mark is refused here.")
    name = unicodedata.name(ch, "")
    if name.startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH")):
        return ("漢字はカナで入力してください。", "Write kanji in katakana.")
    return ("", "")


def _fold_width(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", match.group())


def to_zengin_kana(
    name: str,
    *,
    max_len: int | None = None,
    truncate: bool = False,
    long_vowel: Literal["hyphen", "reject"] = "hyphen",
    allow: str = "",
) -> str:
    """Convert a holder name to Zengin half-width form, or refuse it.

    ``max_len`` is in bytes, which equals characters here (every output character is one
    cp932 byte; ﾞ and ﾟ count as one each). A longer name raises :class:`ZenginNameError`
    unless ``truncate`` is true, in which case it is cut without separating a kana from its
    voicing mark. ``allow`` may contain ``ｦ`` and/or ``/`` for banks that accept them.
    The result is never empty and is stable: converting it again returns it unchanged.
    """
    extra = frozenset(allow)
    if not extra <= OPTIONAL_CHARS:
        raise ValueError(f"allow may only contain {''.join(sorted(OPTIONAL_CHARS))!r}")
    if long_vowel not in ("hyphen", "reject"):
        raise ValueError("long_vowel must be 'hyphen' or 'reject'")
    # Spacing voicing marks (゛ ゜) would become "space + combining mark" under NFKC.
    text = name.replace("゛", "\u3099").replace("゜", "\u309a")
    text = _WIDTH_FOLD.sub(_fold_width, text)
    out: list[str] = []
    # Error positions count characters of this composed form: the same as the input except
    # that a half-width voiced pair (ｶﾞ) or kana + combining mark counts as one.
    composed = unicodedata.normalize("NFC", text)
    for index, ch in enumerate(composed, start=1):
        if ch in (" ", "\u3000"):
            out.append(" ")
            continue
        if "\u3041" <= ch <= "\u3096":  # hiragana (incl. small ゕ ゖ) → katakana
            ch = chr(ord(ch) + 0x60)
        if ch == _LONG_VOWEL:
            if long_vowel == "reject":
                raise _bad_char(ch, index, *_hint(ch))
            out.append("-")
            continue
        converted = _KANA_TABLE.get(ch)
        if converted is None or any(c not in ZENGIN_CHARS and c not in extra for c in converted):
            if ch in ("\u3099", "\u309a"):
                raise ZenginNameError(
                    f"{index}文字目の濁点・半濁点の前に、それを付けられるカナがありません。",
                    f"The voicing mark at position {index} does not follow a kana that takes it.",
                    char=ch,
                    position=index,
                )
            raise _bad_char(ch, index, *_hint(ch))
        out.append(converted)
    result = _SPACES.sub(" ", "".join(out)).strip(" ")
    if not result:
        raise ZenginNameError("名前が空です。", "The name is empty.", char=None, position=None)
    if max_len is not None and len(result) > max_len:
        if truncate:
            return truncate_zengin(result, max_len)
        raise ZenginNameError(
            f"カナ氏名は半角{max_len}文字以内にしてください（変換後 {len(result)} 文字:"
            f" {result}）。",
            f"The kana name must be at most {max_len} half-width characters"
            f" ({len(result)} after conversion: {result}).",
        )
    return result


def truncate_zengin(text: str, max_len: int) -> str:
    """Cut half-width text to ``max_len`` bytes without leaving a kana without its mark.

    If the cut would separate ﾞ or ﾟ from the kana before it, the kana goes too, so the
    result is a clean prefix; trailing spaces are dropped.
    """
    if max_len < 0:
        raise ValueError("max_len must not be negative")
    if len(text) <= max_len:
        return text
    cut = max_len
    if cut > 0 and text[cut] in (_VOICED, _SEMI_VOICED):
        cut -= 1
    return text[:cut].rstrip(" ")


def bank_kana_to_zengin(kana: str, *, max_len: int = 15) -> str:
    """Half-width Zengin form of a bank or branch kana name from the zengin-code master.

    The master's kana are full-width with small kana already enlarged (ミズホ, トウキヨウ,
    full-width －．Ａ and the ideographic space); the result is cut to ``max_len`` bytes
    (15, the width of the bank and branch name fields).
    """
    return to_zengin_kana(kana, max_len=max_len, truncate=True)


def is_zengin_text(text: str, *, allow: str = "") -> bool:
    """True if every character of ``text`` may appear in a Zengin text field as is."""
    extra = frozenset(allow) & OPTIONAL_CHARS
    return all(ch in ZENGIN_CHARS or ch in extra for ch in text)
