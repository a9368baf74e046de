"""A faster reader for SQLite's date columns, returning exactly what Django's does.

Django's SQLite backend turns every value of a ``date`` column into a ``datetime.date``
through a chain of Python calls (bytes → str → ``parse_date`` → ``date.fromisoformat``).
A registry reads millions of dates of a few tens of thousands of distinct days (births,
moves), so the reader here remembers each distinct value: a repeated date costs one
dictionary lookup in C. A new value is converted by Django's own function, so the result
is the same in every case (an unparsable value still raises or gives None as it did).
Dates are immutable, so sharing one object between rows is safe.
"""

from __future__ import annotations

import datetime
import sqlite3
from typing import Any

from django.db.backends.sqlite3.base import decoder
from django.utils.dateparse import parse_date

#: Distinct values remembered; beyond it new values are converted but not kept (days in
#: use by a municipality number tens of thousands; this bounds memory all the same).
MAX_REMEMBERED = 200_000

_django_date = decoder(parse_date)


class _Dates(dict[bytes, Any]):
    def __missing__(self, raw: bytes) -> datetime.date | None:
        value = _django_date(raw)
        if len(self) < MAX_REMEMBERED:
            self[raw] = value
        return value


_dates = _Dates()


def install() -> None:
    """Register the remembering reader for SQLite ``date`` columns (process-wide)."""
    sqlite3.register_converter("date", _dates.__getitem__)
