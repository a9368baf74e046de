"""Bank business days (銀行営業日) for transfer dates.

Pure module: no Django import. A bank business day is a day that is not a Saturday or
Sunday, not a national holiday (国民の祝日, 振替休日 and 国民の休日, from ``jpholiday``) and not
in the year-end break December 31 – January 3 (銀行法施行令 第5条).
"""

from __future__ import annotations

from datetime import date, timedelta

import jpholiday

from kiban.core.errors import ValidationFailed

__all__ = [
    "TransferDateError",
    "add_bank_business_days",
    "check_transfer_date",
    "format_day",
    "is_bank_business_day",
    "next_bank_business_day",
]

_WEEKDAYS_JA = "月火水木金土日"
_WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_ONE_DAY = timedelta(days=1)


class TransferDateError(ValidationFailed, ValueError):
    """A transfer date that is not usable; ``suggestion`` is the next one that is."""

    code = "transfer_date"

    def __init__(self, message_ja: str, message_en: str, *, suggestion: date) -> None:
        super().__init__(message_ja, message_en, details={"suggestion": suggestion.isoformat()})
        self.suggestion = suggestion


def _as_date(d: date) -> date:
    # datetime is a subclass of date; compare calendar days only.
    return date(d.year, d.month, d.day)


def _year_end_break(d: date) -> bool:
    return (d.month == 12 and d.day == 31) or (d.month == 1 and d.day <= 3)


def is_bank_business_day(d: date) -> bool:
    """True if banks are open on ``d`` (a ``datetime`` counts as its calendar day)."""
    d = _as_date(d)
    return d.weekday() < 5 and not _year_end_break(d) and not jpholiday.is_holiday(d)


def next_bank_business_day(d: date) -> date:
    """The first bank business day on or after ``d``: ``d`` itself if banks are open.

    For the first business day strictly after ``d``, pass ``d + timedelta(days=1)``.
    """
    d = _as_date(d)
    while not is_bank_business_day(d):
        d += _ONE_DAY
    return d


def add_bank_business_days(d: date, days: int) -> date:
    """The ``days``-th bank business day after ``d`` (``days`` ≥ 0; 0 is
    :func:`next_bank_business_day`). Use it for deadlines such as "the file must reach the
    bank 3 business days before the transfer date" in reverse, or lead times forward.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    d = next_bank_business_day(d)
    for _ in range(days):
        d = next_bank_business_day(d + _ONE_DAY)
    return d


def format_day(d: date) -> tuple[str, str]:
    """``("2027-01-04 (月)", "2027-01-04 (Mon)")``."""
    return (
        f"{d.isoformat()} ({_WEEKDAYS_JA[d.weekday()]})",
        f"{d.isoformat()} ({_WEEKDAYS_EN[d.weekday()]})",
    )


def _reason(d: date) -> tuple[str, str]:
    if _year_end_break(d):
        return (
            "年末年始（12月31日〜1月3日）の銀行休業日",
            "in the bank year-end break (Dec 31 – Jan 3)",
        )
    holiday = jpholiday.is_holiday_name(d)
    if holiday:
        return (f"祝日（{holiday}）", "a national holiday")
    if d.weekday() >= 5:
        return ("土曜日・日曜日", "a weekend")
    return ("", "")


def check_transfer_date(d: date, *, earliest: date | None = None) -> None:
    """Refuse a transfer date on which banks are closed, or before ``earliest``.

    ``earliest`` is the first date the caller can still meet (e.g. today plus the bank's
    lead time, see :func:`add_bank_business_days`). The :class:`TransferDateError` message
    suggests the next valid date, e.g. ``2027-01-04 (月)``.
    """
    d = _as_date(d)
    if earliest is not None and d < _as_date(earliest):
        suggestion = next_bank_business_day(earliest)
        s_ja, s_en = format_day(suggestion)
        e_ja, e_en = format_day(_as_date(earliest))
        raise TransferDateError(
            f"振込指定日は {e_ja} 以降にしてください。{s_ja} 以降が指定できます。",
            f"The transfer date must be {e_en} or later; {s_en} is the first possible date.",
            suggestion=suggestion,
        )
    if not is_bank_business_day(d):
        suggestion = next_bank_business_day(d)
        d_ja, d_en = format_day(d)
        s_ja, s_en = format_day(suggestion)
        reason_ja, reason_en = _reason(d)
        raise TransferDateError(
            f"{d_ja} は{reason_ja}で銀行の休業日です。次の営業日 {s_ja} を指定してください。",
            f"{d_en} is {reason_en}, when banks are closed. The next business day is {s_en}.",
            suggestion=suggestion,
        )
