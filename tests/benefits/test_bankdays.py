"""Bank business days: weekends, national holidays and the Dec 31 – Jan 3 break."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import jpholiday
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.benefits.bankdays import (
    TransferDateError,
    add_bank_business_days,
    check_transfer_date,
    is_bank_business_day,
    next_bank_business_day,
)


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (date(2026, 12, 30), True),  # Wednesday
        (date(2026, 12, 31), False),  # Thursday, year-end break
        (date(2027, 1, 1), False),  # 元日
        (date(2027, 1, 2), False),  # Saturday, and break
        (date(2027, 1, 4), True),  # Monday
        (date(2029, 1, 3), False),  # Wednesday, break without a holiday
        (date(2026, 5, 6), False),  # 振替休日 (憲法記念日 was a Sunday)
        (date(2026, 9, 22), False),  # 国民の休日
        (date(2026, 9, 24), True),
        (date(2026, 11, 28), False),  # Saturday
        (date(2026, 11, 29), False),  # Sunday
    ],
)
def test_known_days(day: date, open_: bool) -> None:
    assert is_bank_business_day(day) is open_


def test_next_business_day_is_inclusive() -> None:
    assert next_bank_business_day(date(2026, 12, 30)) == date(2026, 12, 30)
    assert next_bank_business_day(date(2026, 12, 31)) == date(2027, 1, 4)
    assert next_bank_business_day(datetime(2026, 12, 31, 23, 59)) == date(2027, 1, 4)


def test_add_business_days() -> None:
    assert add_bank_business_days(date(2026, 12, 29), 0) == date(2026, 12, 29)
    assert add_bank_business_days(date(2026, 12, 29), 2) == date(2027, 1, 4)
    with pytest.raises(ValueError):
        add_bank_business_days(date(2026, 12, 29), -1)


def test_check_transfer_date_suggests_the_next_business_day() -> None:
    check_transfer_date(date(2027, 1, 4))
    with pytest.raises(TransferDateError) as caught:
        check_transfer_date(date(2026, 12, 31))
    err = caught.value
    assert isinstance(err, ValueError)
    assert err.suggestion == date(2027, 1, 4)
    assert "2027-01-04 (月)" in err.message_ja and "年末年始" in err.message_ja
    assert "2027-01-04 (Mon)" in err.message_en


def test_check_transfer_date_names_the_holiday() -> None:
    with pytest.raises(TransferDateError) as caught:
        check_transfer_date(date(2026, 9, 22))
    assert "国民の休日" in caught.value.message_ja
    assert caught.value.suggestion == date(2026, 9, 24)


def test_check_transfer_date_earliest() -> None:
    with pytest.raises(TransferDateError) as caught:
        check_transfer_date(date(2026, 12, 28), earliest=date(2026, 12, 30))
    assert caught.value.suggestion == date(2026, 12, 30)
    check_transfer_date(date(2026, 12, 30), earliest=date(2026, 12, 30))


def _closed(d: date) -> bool:
    return (
        d.weekday() >= 5
        or jpholiday.is_holiday(d)
        or (d.month, d.day) in {(12, 31), (1, 1), (1, 2), (1, 3)}
    )


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2050, 12, 31)))
def test_next_business_day_is_never_a_closed_day(d: date) -> None:
    found = next_bank_business_day(d)
    assert found >= d
    assert not _closed(found)
    assert is_bank_business_day(found)
    assert (found - d).days <= 10
    day = d
    while day < found:  # nothing open was skipped
        assert _closed(day)
        day += timedelta(days=1)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2050, 12, 31)))
def test_check_transfer_date_agrees_with_is_business_day(d: date) -> None:
    if is_bank_business_day(d):
        check_transfer_date(d)
    else:
        with pytest.raises(TransferDateError) as caught:
            check_transfer_date(d)
        assert caught.value.suggestion == next_bank_business_day(d)
        assert caught.value.suggestion.isoformat() in caught.value.message_en
