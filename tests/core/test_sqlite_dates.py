"""The remembering SQLite date reader gives exactly Django's values, once per distinct day."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest
from django.db.backends.sqlite3.base import decoder
from django.utils.dateparse import parse_date

from kiban.core import sqlite_dates

django_date = decoder(parse_date)


def test_installed_for_sqlite_date_columns() -> None:
    assert sqlite3.converters["DATE"] == sqlite_dates._dates.__getitem__


@pytest.mark.parametrize("raw", [b"2026-11-23", b"1900-02-28", b"2024-02-29", b"9999-12-31"])
def test_same_value_as_django_and_one_object_per_day(raw: bytes) -> None:
    read = sqlite3.converters["DATE"]
    assert read(raw) == django_date(raw)
    assert isinstance(read(raw), date)
    assert read(bytes(raw)) is read(raw)  # remembered: the same object again


def test_bad_values_behave_as_django_does() -> None:
    read = sqlite3.converters["DATE"]
    assert read(b"not a date") is None and django_date(b"not a date") is None
    for impossible in (b"2026-02-29", b"2026-13-01"):
        with pytest.raises(ValueError):
            django_date(impossible)
        with pytest.raises(ValueError):
            read(impossible)


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    dates = sqlite_dates._Dates()
    monkeypatch.setattr(sqlite_dates, "MAX_REMEMBERED", 3)
    days = [f"2026-01-{d:02d}".encode() for d in range(1, 11)]
    assert [dates[d] for d in days] == [date(2026, 1, d) for d in range(1, 11)]
    assert len(dates) == 3


@pytest.mark.django_db
def test_a_query_reads_dates_through_it() -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE t_dates (d date)")
        cur.executemany("INSERT INTO t_dates VALUES (%s)", [("2026-04-27",), ("2026-04-27",)])
        cur.execute("SELECT d FROM t_dates")
        first, second = (row[0] for row in cur.fetchall())
    assert first == date(2026, 4, 27) and first is second
