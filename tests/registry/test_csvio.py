"""The registry CSV: exact round trip, all-or-nothing import with every bad row reported."""

from __future__ import annotations

import io
from datetime import date

import pytest

from kiban.core.actors import operator_actor
from kiban.core.errors import ValidationFailed
from kiban.core.models import AuditEntry, Municipality
from kiban.registry import bulk, csvio
from kiban.registry.models import CertificateIssue, Household, Person, PersonState, RegistryEvent
from kiban.registry.towns import towns_for
from tests.factories import municipality

AS_OF = date(2026, 11, 1)
pytestmark = pytest.mark.django_db
OP = operator_actor("test")


def _export(m: Municipality, **kw: object) -> bytes:
    out = io.BytesIO()
    csvio.export_csv(actor=OP, municipality=m, as_of=AS_OF, out=out, **kw)  # type: ignore[arg-type]
    return out.getvalue()


def _wipe(m: Municipality) -> None:
    CertificateIssue.objects.filter(municipality=m).delete()
    PersonState.objects.filter(municipality=m).delete()
    RegistryEvent.objects.filter(municipality=m).delete()
    Person.objects.filter(municipality=m).delete()
    Household.objects.filter(municipality=m).delete()


@pytest.mark.parametrize("include_removed", [False, True])
def test_export_import_export_gives_identical_bytes(include_removed: bool) -> None:
    m = municipality()
    bulk.generate(actor=OP, municipality=m, residents=250, seed=11, as_of=AS_OF)
    first = _export(m, include_removed=include_removed, with_mynumber=True, purpose="移行")
    assert first.startswith("\ufeff住民票コード,世帯番号,氏名,氏名_フリガナ".encode())
    _wipe(m)
    csvio.import_csv(actor=OP, municipality=m, data=first)
    second = _export(m, include_removed=include_removed, with_mynumber=True, purpose="移行")
    assert second == first
    assert first.count(b"\r\n") == Person.objects.filter(municipality=m).count() + 1


def test_import_accepts_a_file_without_bom_and_is_audited_once() -> None:
    m = municipality()
    bulk.generate(actor=OP, municipality=m, residents=60, seed=2, as_of=AS_OF)
    data = _export(m)
    _wipe(m)
    before = AuditEntry.objects.filter(municipality=m, action="registry.import").count()
    result = csvio.import_csv(actor=OP, municipality=m, data=data.removeprefix(b"\xef\xbb\xbf"))
    assert result.persons == 60
    assert AuditEntry.objects.filter(municipality=m, action="registry.import").count() == before + 1
    assert _export(m) == data


def _row(**overrides: str) -> dict[str, str]:
    town = towns_for("141003")[0]
    row = {c: "" for c in csvio.COLUMNS}
    row.update(
        {
            csvio.RESIDENT_CODE: "12345678901",
            csvio.HOUSEHOLD_NO: "H1",
            csvio.NAME: "山田　太郎",
            csvio.KANA: "ヤマダ　タロウ",
            csvio.BIRTH: "1980-04-01",
            csvio.SEX: "男",
            csvio.RELATIONSHIP: "世帯主",
            csvio.POSTCODE: town.postcode,
            csvio.TOWN: town.machiaza_id,
            csvio.ADDRESS: f"{bulk.town_label(town)}1番地",
            csvio.STATUS: "住民",
            csvio.SINCE: "2010-05-06",
        }
    )
    row.update(overrides)
    return row


def _csv(rows: list[dict[str, str]]) -> bytes:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(csvio.COLUMNS)
    for r in rows:
        writer.writerow([r[c] for c in csvio.COLUMNS])
    return buffer.getvalue().encode()


def test_a_file_with_bad_rows_imports_nothing_and_reports_every_bad_row() -> None:
    m = municipality()
    rows = [
        _row(),  # line 2: fine
        _row(**{csvio.RESIDENT_CODE: "12345678902", csvio.RELATIONSHIP: "妻",
                csvio.MYNUMBER: "123456789012"}),  # line 3: bad My Number check digit
        _row(**{csvio.RESIDENT_CODE: "12345678903", csvio.HOUSEHOLD_NO: "H2",
                csvio.TOWN: "9999000"}),  # line 4: unknown town
        _row(**{csvio.RESIDENT_CODE: "12345678904", csvio.HOUSEHOLD_NO: "H3",
                csvio.BIRTH: "2023-02-30"}),  # line 5: impossible date
        _row(**{csvio.HOUSEHOLD_NO: "H4"}),  # line 6: duplicate 住民票コード (line 2)
        _row(**{csvio.RESIDENT_CODE: "12345678906", csvio.HOUSEHOLD_NO: "H5",
                csvio.RELATIONSHIP: "子"}),  # line 7: household without head
        _row(**{csvio.RESIDENT_CODE: "12345678907", csvio.HOUSEHOLD_NO: "H6",
                csvio.SEX: "X"}),  # line 8: bad sex code
        _row(**{csvio.RESIDENT_CODE: "1234567890", csvio.HOUSEHOLD_NO: "H7"}),  # line 9: length
    ]  # fmt: skip
    with pytest.raises(ValidationFailed) as caught:
        csvio.import_csv(actor=OP, municipality=m, data=_csv(rows))
    found = {(d["line"], d["column"]) for d in caught.value.details}
    assert found == {
        (3, csvio.MYNUMBER),
        (4, csvio.TOWN),
        (5, csvio.BIRTH),
        (6, csvio.RESIDENT_CODE),
        (7, csvio.RELATIONSHIP),
        (8, csvio.SEX),
        (9, csvio.RESIDENT_CODE),
    }
    for d in caught.value.details:
        assert d["reason_ja"] and d["reason_en"]
    assert not Person.objects.filter(municipality=m).exists()
    assert not Household.objects.filter(municipality=m).exists()


def test_duplicates_against_the_database_are_reported() -> None:
    m = municipality()
    csvio.import_csv(actor=OP, municipality=m, data=_csv([_row()]))
    again = _csv([_row(), _row(**{csvio.RESIDENT_CODE: "22345678901", csvio.HOUSEHOLD_NO: "H9"})])
    with pytest.raises(ValidationFailed) as caught:
        csvio.import_csv(actor=OP, municipality=m, data=again)
    found = {(d["line"], d["column"]) for d in caught.value.details}
    assert found == {(2, csvio.RESIDENT_CODE), (2, csvio.HOUSEHOLD_NO)}
    assert Person.objects.filter(municipality=m).count() == 1


def test_missing_and_unknown_columns_are_reported_on_line_one() -> None:
    data = "住民票コード,氏名,ふしぎな列\r\n1,2,3\r\n".encode()
    _, errors = csvio.parse_csv(data, municipality=municipality())
    assert {e.line for e in errors} == {1}
    assert {"ふしぎな列", csvio.BIRTH} <= {e.column for e in errors}


def test_wareki_dates_and_numeric_sex_codes_are_accepted() -> None:
    rows, errors = csvio.parse_csv(
        _csv([_row(**{csvio.BIRTH: "昭和55年4月1日", csvio.SEX: "1"})]),
        municipality=municipality(),
    )
    assert errors == []
    assert rows[0].birth_date == date(1980, 4, 1) and rows[0].sex == "1"
