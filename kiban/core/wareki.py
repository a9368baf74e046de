"""Japanese era dates (和暦) for the modern eras (pure module: no Django).

The era table follows docs REFERENCE "Wareki". The installed ``japanera`` package was checked
and is not used: it starts 明治 on 1868-01-23 (the Gregorian date of 慶応4年1月1日 is
1868-01-25), has no JIS X 0301 letters, and romanises 大正/昭和 as "Taishou"/"Shouwa". Five
rows do not justify the dependency; the tests cross-check this table against japanera from 1873.

Japan used the lunisolar calendar until 明治5年12月2日; the next day was 明治6年1月1日 =
1873-01-01. A Gregorian date before 1873 therefore has no correct 和暦 rendering by simple
arithmetic (the real 明治5年 dates were lunisolar), so formatting and parsing of era dates
refuse anything before 1873-01-01. ``era_of`` and ``jpki_birth_code`` work from 1868-01-25,
because they only name the era a Gregorian day fell in.

Formats:

- long: ``令和8年11月23日``, year 1 as ``元年`` (``令和元年5月1日``).
- short: JIS X 0301, ``R08.11.23`` (two-digit era year, longer if the year reaches 100).
- en: ``2026-11-23 (Reiwa 8)``: the ISO date first, so it cannot be misread.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

__all__ = [
    "ERAS",
    "GREGORIAN_ADOPTION",
    "Era",
    "Style",
    "WarekiError",
    "era_by_letter",
    "era_by_name",
    "era_of",
    "format_wareki",
    "jpki_birth_code",
    "parse_date",
    "to_wareki",
]

Style = Literal["long", "short", "en"]


@dataclass(frozen=True, slots=True)
class Era:
    """A modern Japanese era: ``name`` 令和, ``letter`` R (JIS X 0301), ``romaji`` Reiwa.

    ``start`` is the first Gregorian day of the era; ``jpki_digit`` is the era digit used in
    JPKI certificates (1 明治 ... 5 令和).
    """

    name: str
    letter: str
    romaji: str
    start: date
    jpki_digit: int


ERAS: Final[tuple[Era, ...]] = (
    Era("明治", "M", "Meiji", date(1868, 1, 25), 1),
    Era("大正", "T", "Taisho", date(1912, 7, 30), 2),
    Era("昭和", "S", "Showa", date(1926, 12, 25), 3),
    Era("平成", "H", "Heisei", date(1989, 1, 8), 4),
    Era("令和", "R", "Reiwa", date(2019, 5, 1), 5),
)
"""Eras in chronological order."""

GREGORIAN_ADOPTION: Final = date(1873, 1, 1)
"""明治6年1月1日: the first day whose 和暦 follows from the Gregorian date."""

_BY_NAME: Final = {era.name: era for era in ERAS}
_BY_LETTER: Final = {era.letter: era for era in ERAS}


class WarekiError(ValueError):
    """A date could not be parsed or expressed in 和暦.

    ``reason`` is one of "format" (unreadable text), "invalid_date" (no such calendar day,
    e.g. Feb 30), "outside_era" (the day is not in the named era, e.g. 令和元年4月30日) and
    "before_gregorian" (before 1873-01-01 or before 明治). ``str(error)`` gives both messages.
    """

    def __init__(self, reason: str, message_ja: str, message_en: str) -> None:
        super().__init__(f"{message_ja} / {message_en}")
        self.reason = reason
        self.message_ja = message_ja
        self.message_en = message_en


def era_by_name(name: str) -> Era:
    """The era called ``name`` (e.g. "平成"); KeyError if unknown."""
    return _BY_NAME[name]


def era_by_letter(letter: str) -> Era:
    """The era with JIS X 0301 ``letter`` (e.g. "H", case-insensitive); KeyError if unknown."""
    return _BY_LETTER[letter.upper()]


def _next_start(era: Era) -> date | None:
    index = ERAS.index(era)
    return ERAS[index + 1].start if index + 1 < len(ERAS) else None


def era_of(d: date) -> Era:
    """The era containing ``d``; WarekiError for days before 明治 (1868-01-25)."""
    for era in reversed(ERAS):
        if d >= era.start:
            return era
    raise WarekiError(
        "before_gregorian",
        f"{d.isoformat()}は明治より前の日付です。",
        f"{d.isoformat()} is before the Meiji era.",
    )


def _require_gregorian(d: date, text: str | None = None) -> None:
    if d < GREGORIAN_ADOPTION:
        shown = text if text is not None else d.isoformat()
        raise WarekiError(
            "before_gregorian",
            f"「{shown}」は明治6年（1873年）の改暦より前のため、和暦と西暦を変換できません。",
            f"{shown!r} is before Japan adopted the Gregorian calendar (1873): Japanese era "
            "and Western dates cannot be converted.",
        )


def to_wareki(d: date) -> tuple[Era, int]:
    """``(era, era_year)`` for ``d`` (from 1873-01-01); e.g. 2019-05-01 -> (令和, 1)."""
    _require_gregorian(d)
    era = era_of(d)
    return era, d.year - era.start.year + 1


def format_wareki(d: date, *, style: Style = "long") -> str:
    """Format ``d`` as 和暦.

    ``long``: 令和8年11月23日 (令和元年5月1日); ``short``: R08.11.23 (JIS X 0301);
    ``en``: 2026-11-23 (Reiwa 8). Raises WarekiError before 1873-01-01.
    """
    era, year = to_wareki(d)
    if style == "long":
        year_text = "元" if year == 1 else str(year)
        return f"{era.name}{year_text}年{d.month}月{d.day}日"
    if style == "short":
        return f"{era.letter}{year:02d}.{d.month:02d}.{d.day:02d}"
    if style == "en":
        return f"{d.isoformat()} ({era.romaji} {year})"
    raise ValueError(f"unknown style {style!r}")


_ERA_TOKEN: Final = "|".join([*_BY_NAME, *_BY_LETTER])
_ERA_YEAR: Final = rf"(?P<era>{_ERA_TOKEN})(?P<year>元|\d{{1,4}})"
# re.ASCII: \d must not match other scripts' digits, which int() would happily accept.
_ERA_PATTERNS: Final = (
    re.compile(rf"{_ERA_YEAR}年(?P<month>\d{{1,2}})月(?P<day>\d{{1,2}})日", re.ASCII),
    re.compile(rf"{_ERA_YEAR}([./-])(?P<month>\d{{1,2}})\3(?P<day>\d{{1,2}})", re.ASCII),
)
_WESTERN_PATTERNS: Final = (
    re.compile(r"(?P<year>\d{4})([./-])(?P<month>\d{1,2})\2(?P<day>\d{1,2})", re.ASCII),
    re.compile(r"(?P<year>\d{4})年(?P<month>\d{1,2})月(?P<day>\d{1,2})日", re.ASCII),
    re.compile(r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})", re.ASCII),
)


def _normalize_input(text: str) -> str:
    # NFKC turns full-width digits, letters and punctuation into ASCII and the square era
    # signs (㍻, ㋿) into their names. Dates contain no kanji that NFKC could alter.
    normalized = unicodedata.normalize("NFKC", text)
    return "".join(normalized.split()).upper()


def _make_date(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise WarekiError(
            "invalid_date",
            f"「{text}」は存在しない日付です。",
            f"{text!r} is not a valid calendar date.",
        ) from None


def parse_date(text: str) -> date:
    """Parse a date written in 和暦 or Western form.

    Accepted: 令和8年11月23日, 令和元年5月1日, R08.11.23, R8.11.23, H31.04.30 (also with
    ``/`` or ``-``, lowercase letters and the era sign ㋿), 2026-11-23, 2026/11/23,
    2026年11月23日 and 20261123; full-width digits and spaces anywhere are fine. Raises
    WarekiError when the text is unreadable, the day does not exist, or the day lies outside
    the named era (令和元年4月30日, 平成31年5月1日), or an era date is before 1873-01-01.
    """
    normalized = _normalize_input(text)
    for pattern in _ERA_PATTERNS:
        match = pattern.fullmatch(normalized)
        if match:
            return _era_date(match, text)
    for pattern in _WESTERN_PATTERNS:
        match = pattern.fullmatch(normalized)
        if match:
            return _make_date(int(match["year"]), int(match["month"]), int(match["day"]), text)
    raise WarekiError(
        "format",
        f"「{text}」を日付として読み取れません。例: 令和8年11月23日、R08.11.23、2026-11-23",
        f"Cannot read {text!r} as a date. Examples: 令和8年11月23日, R08.11.23, 2026-11-23.",
    )


def _era_date(match: re.Match[str], text: str) -> date:
    token = match["era"]
    era = _BY_NAME[token] if token in _BY_NAME else _BY_LETTER[token]
    year = 1 if match["year"] == "元" else int(match["year"])
    if year < 1:
        raise _outside_era(era, text)
    result = _make_date(era.start.year + year - 1, int(match["month"]), int(match["day"]), text)
    # Before 1873 a 明治 date was lunisolar: refuse it rather than call it outside the era.
    _require_gregorian(result, text)
    end = _next_start(era)
    if result < era.start or (end is not None and result >= end):
        raise _outside_era(era, text)
    return result


def _outside_era(era: Era, text: str) -> WarekiError:
    end = _next_start(era)
    if end is None:
        span_ja = f"{era.start.isoformat()}から"
        span_en = f"since {era.start.isoformat()}"
    else:
        last = (end - timedelta(days=1)).isoformat()
        span_ja = f"{era.start.isoformat()}から{last}まで"
        span_en = f"from {era.start.isoformat()} to {last}"
    return WarekiError(
        "outside_era",
        f"「{text}」は{era.name}の日付ではありません（{era.name}は{span_ja}）。",
        f"{text!r} is not a {era.romaji} date ({era.romaji}: {span_en}).",
    )


def jpki_birth_code(d: date) -> str:
    """Birth date as written in a JPKI signature certificate: era digit + Gregorian YYYYMMDD.

    1990-01-02 -> "419900102". Raises WarekiError before 明治 (1868-01-25).
    """
    return f"{era_of(d).jpki_digit}{d.year:04d}{d.month:02d}{d.day:02d}"
