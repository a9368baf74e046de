"""Japanese era dates: formatting, parsing, boundaries, JPKI birth codes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.core import wareki
from kiban.core.wareki import WarekiError, era_of, format_wareki, jpki_birth_code, parse_date

modern_dates = st.dates(min_value=date(1873, 1, 1), max_value=date(2100, 12, 31))

# First day of each era and the last day of the era before it (REFERENCE table).
BOUNDARIES = [
    ("大正", date(1912, 7, 30), "明治45年7月29日", "大正元年7月30日"),
    ("昭和", date(1926, 12, 25), "大正15年12月24日", "昭和元年12月25日"),
    ("平成", date(1989, 1, 8), "昭和64年1月7日", "平成元年1月8日"),
    ("令和", date(2019, 5, 1), "平成31年4月30日", "令和元年5月1日"),
]


def _reason(text: str) -> str:
    with pytest.raises(WarekiError) as info:
        parse_date(text)
    return info.value.reason


# --- formatting ------------------------------------------------------------------------------


def test_format_styles() -> None:
    d = date(2026, 11, 23)
    assert format_wareki(d) == "令和8年11月23日"
    assert format_wareki(d, style="long") == "令和8年11月23日"
    assert format_wareki(d, style="short") == "R08.11.23"
    assert format_wareki(d, style="en") == "2026-11-23 (Reiwa 8)"


def test_first_year_is_gannen_in_long_form_only() -> None:
    assert format_wareki(date(2019, 5, 1)) == "令和元年5月1日"
    assert format_wareki(date(2019, 5, 1), style="short") == "R01.05.01"
    assert format_wareki(date(2019, 5, 1), style="en") == "2019-05-01 (Reiwa 1)"


@pytest.mark.parametrize(("era_name", "first_day", "day_before_text", "first_day_text"), BOUNDARIES)
def test_era_boundaries(
    era_name: str, first_day: date, day_before_text: str, first_day_text: str
) -> None:
    day_before = first_day - timedelta(days=1)
    assert era_of(first_day).name == era_name
    assert era_of(day_before).name != era_name
    assert format_wareki(first_day) == first_day_text
    assert format_wareki(day_before) == day_before_text
    assert parse_date(first_day_text) == first_day
    assert parse_date(day_before_text) == day_before


def test_meiji_starts_1868_01_25_and_gregorian_dates_start_1873() -> None:
    assert era_of(date(1868, 1, 25)).name == "明治"
    with pytest.raises(WarekiError):
        era_of(date(1868, 1, 24))
    assert format_wareki(date(1873, 1, 1)) == "明治6年1月1日"
    with pytest.raises(WarekiError) as info:
        format_wareki(date(1872, 12, 31))
    assert info.value.reason == "before_gregorian"


def test_short_form_keeps_three_digit_years() -> None:
    assert format_wareki(date(2118, 1, 1), style="short") == "R100.01.01"
    assert parse_date("R100.01.01") == date(2118, 1, 1)


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("令和8年11月23日", date(2026, 11, 23)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("令和1年5月1日", date(2019, 5, 1)),
        ("R08.11.23", date(2026, 11, 23)),
        ("R8.11.23", date(2026, 11, 23)),
        ("r8.11.23", date(2026, 11, 23)),
        ("H31.04.30", date(2019, 4, 30)),
        ("H31/4/30", date(2019, 4, 30)),
        ("S64.01.07", date(1989, 1, 7)),
        ("T01.07.30", date(1912, 7, 30)),
        ("M45.07.29", date(1912, 7, 29)),
        ("令和８年１１月２３日", date(2026, 11, 23)),
        ("Ｒ０８．１１．２３", date(2026, 11, 23)),
        (" 令和 8 年 11 月 23 日 ", date(2026, 11, 23)),
        ("㍻31年4月30日", date(2019, 4, 30)),
        ("2026-11-23", date(2026, 11, 23)),
        ("2026/11/23", date(2026, 11, 23)),
        ("2026/1/5", date(2026, 1, 5)),
        ("２０２６－１１－２３", date(2026, 11, 23)),
        ("2026年11月23日", date(2026, 11, 23)),
        ("20261123", date(2026, 11, 23)),
    ],
)
def test_parse_accepted_forms(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("令和1年4月30日", "outside_era"),
        ("令和元年4月30日", "outside_era"),
        ("平成31年5月1日", "outside_era"),
        ("昭和64年1月8日", "outside_era"),
        ("平成0年1月8日", "outside_era"),
        ("R00.05.01", "outside_era"),
        ("令和8年2月30日", "invalid_date"),
        ("2026-02-30", "invalid_date"),
        ("2026-13-01", "invalid_date"),
        ("R07.02.29", "invalid_date"),
        ("明治5年12月2日", "before_gregorian"),
        ("明治元年1月25日", "before_gregorian"),
        ("", "format"),
        ("令和", "format"),
        ("2026-11", "format"),
        ("X08.11.23", "format"),
        ("R08.11/23", "format"),
        ("R٠٨.11.23", "format"),
        ("令和8年11月23日です", "format"),
    ],
)
def test_parse_rejects(text: str, reason: str) -> None:
    assert _reason(text) == reason


def test_leap_day_in_era_form() -> None:
    assert parse_date("R06.02.29") == date(2024, 2, 29)
    assert parse_date("平成12年2月29日") == date(2000, 2, 29)


def test_error_messages_in_both_languages() -> None:
    with pytest.raises(WarekiError) as info:
        parse_date("平成31年5月1日")
    error = info.value
    assert isinstance(error, ValueError)
    assert "平成" in error.message_ja and "2019-04-30" in error.message_ja
    assert "Heisei" in error.message_en and "2019-04-30" in error.message_en
    assert str(error) == f"{error.message_ja} / {error.message_en}"


# --- properties ------------------------------------------------------------------------------


@given(d=modern_dates, style=st.sampled_from(["long", "short"]))
def test_format_parse_round_trip(d: date, style: wareki.Style) -> None:
    assert parse_date(format_wareki(d, style=style)) == d


@given(d=modern_dates)
def test_iso_round_trip(d: date) -> None:
    assert parse_date(d.isoformat()) == d


@given(d=modern_dates)
def test_long_and_short_forms_agree(d: date) -> None:
    era, year = wareki.to_wareki(d)
    short = format_wareki(d, style="short")
    assert short.startswith(f"{era.letter}{year:02d}.")
    long_year = "元" if year == 1 else str(year)
    assert format_wareki(d).startswith(f"{era.name}{long_year}年")


@given(d=modern_dates)
def test_era_year_counts_from_era_start(d: date) -> None:
    era = era_of(d)
    assert era.start <= d
    later = [e for e in wareki.ERAS if e.start > era.start]
    assert all(d < e.start for e in later)
    assert wareki.to_wareki(d)[1] == d.year - era.start.year + 1


@given(d=st.dates(min_value=date(1873, 1, 1), max_value=date(2100, 12, 31)))
def test_agrees_with_japanera_from_1873(d: date) -> None:
    """Cross-check against the independent japanera table (which differs only before 1873)."""
    from japanera import EraDate

    theirs = EraDate.from_date(d)
    era, year = wareki.to_wareki(d)
    assert theirs.era.kanji == era.name
    assert theirs.era.absolute_year_to_relative_year(d.year) == year


# --- JPKI ------------------------------------------------------------------------------------


def test_jpki_birth_code_reference_example() -> None:
    assert jpki_birth_code(date(1990, 1, 2)) == "419900102"


@pytest.mark.parametrize(
    ("d", "code"),
    [
        (date(1912, 7, 29), "119120729"),
        (date(1912, 7, 30), "219120730"),
        (date(1926, 12, 24), "219261224"),
        (date(1926, 12, 25), "319261225"),
        (date(1989, 1, 7), "319890107"),
        (date(1989, 1, 8), "419890108"),
        (date(2019, 4, 30), "420190430"),
        (date(2019, 5, 1), "520190501"),
    ],
)
def test_jpki_birth_code_era_digit_switches_at_boundaries(d: date, code: str) -> None:
    assert jpki_birth_code(d) == code


@given(d=st.dates(min_value=date(1868, 1, 25), max_value=date(2100, 12, 31)))
def test_jpki_birth_code_shape(d: date) -> None:
    code = jpki_birth_code(d)
    assert len(code) == 9 and code.isdigit()
    assert code[1:] == d.strftime("%Y%m%d")
    assert 1 <= int(code[0]) <= 5


@given(text=st.text(max_size=30))
def test_parse_date_fails_only_with_wareki_error(text: str) -> None:
    try:
        result = parse_date(text)
    except WarekiError as error:
        assert error.reason in {"format", "invalid_date", "outside_era", "before_gregorian"}
    else:
        assert isinstance(result, date)
