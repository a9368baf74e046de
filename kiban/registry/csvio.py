"""The registry CSV layout: export as of a date, all-or-nothing import (データ移行).

One layout, documented in ``docs/registry-csv.md``: UTF-8 with a BOM (a BOM is optional on
import), CRLF line ends, one row per person with Japanese headers. Export then import into
an empty municipality then export again gives the same bytes.

Import checks every row before writing anything and reports every problem with its line
number; a file with any bad row imports nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, BinaryIO

from django.db import transaction
from django.utils import timezone

from kiban.core import audit
from kiban.core.actors import Actor
from kiban.core.crypto import decrypt, lookup_hash
from kiban.core.errors import Forbidden, ValidationFailed
from kiban.core.identifiers import IdentifierError, validate_mynumber, validate_resident_code
from kiban.core.kana import is_katakana_name, normalize_kana
from kiban.core.models import Municipality, Role
from kiban.core.wareki import WarekiError, parse_date
from kiban.registry import bulk
from kiban.registry.models import OPEN_END, EventKind, Household, Person, PersonState, Status
from kiban.registry.towns import Town, towns_for

__all__ = [
    "COLUMNS",
    "ExportResult",
    "ImportResult",
    "export_csv",
    "import_csv",
    "parse_csv",
]

# The layout, in order. Headers are what municipal staff call these items.
RESIDENT_CODE = "住民票コード"
HOUSEHOLD_NO = "世帯番号"
NAME = "氏名"
KANA = "氏名_フリガナ"
BIRTH = "生年月日"
SEX = "性別"
RELATIONSHIP = "続柄"
POSTCODE = "郵便番号"
TOWN = "町字ID"
ADDRESS = "住所"
BUILDING = "方書"
NATIONALITY = "国籍"
HONSEKI = "本籍"
STATUS = "状態"
SINCE = "住定日"
MYNUMBER = "個人番号"
PROTECTED = "支援措置"

COLUMNS: tuple[str, ...] = (
    RESIDENT_CODE,
    HOUSEHOLD_NO,
    NAME,
    KANA,
    BIRTH,
    SEX,
    RELATIONSHIP,
    POSTCODE,
    TOWN,
    ADDRESS,
    BUILDING,
    NATIONALITY,
    HONSEKI,
    STATUS,
    SINCE,
    MYNUMBER,
    PROTECTED,
)
_OPTIONAL = {MYNUMBER, PROTECTED, BUILDING, HONSEKI, NATIONALITY, POSTCODE}

SEX_TEXT = {"1": "男", "2": "女"}
SEX_CODE = {"男": "1", "女": "2", "1": "1", "2": "2"}
STATUS_TEXT: dict[str, str] = {
    Status.RESIDENT.value: "住民",
    Status.MOVED_OUT.value: "転出",
    Status.DECEASED.value: "死亡",
}
STATUS_CODE = {v: k for k, v in STATUS_TEXT.items()}
SPACE = "\u3000"
_POSTCODE = re.compile(r"[0-9]{3}-?[0-9]{4}")
_NATIONALITY = re.compile(r"[A-Z]{2}")


def _format_postcode(postcode: str) -> str:
    return f"{postcode[:3]}-{postcode[3:]}" if len(postcode) == 7 else postcode


# --- export -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    rows: int
    sha256: str


def _export_rows(
    municipality: Municipality, as_of: date, include_removed: bool, with_mynumber: bool
) -> Iterator[list[str]]:
    states = PersonState.objects.filter(
        municipality=municipality, valid_from__lte=as_of, valid_to__gt=as_of
    )
    if not include_removed:
        states = states.filter(status=Status.RESIDENT)
    rows = states.order_by(
        "household__household_no", "-is_head", "person__birth_date", "person__resident_code"
    ).values_list(
        "person__resident_code",
        "household__household_no",
        "family_name",
        "given_name",
        "family_kana",
        "given_kana",
        "person__birth_date",
        "person__sex",
        "relationship",
        "postcode",
        "town_code",
        "town_name",
        "address_detail",
        "building",
        "person__nationality",
        "honseki",
        "status",
        "valid_from",
        "person__mynumber_enc",
        "person__protected",
    )
    for (
        code,
        hno,
        fam,
        giv,
        fkana,
        gkana,
        birth,
        sex,
        rel,
        postcode,
        town,
        town_name,
        detail,
        building,
        nationality,
        honseki,
        status,
        since,
        enc,
        protected,
    ) in rows.iterator(chunk_size=5000):
        yield [
            code,
            hno or "",
            f"{fam}{SPACE}{giv}",
            f"{fkana}{SPACE}{gkana}",
            birth.isoformat(),
            SEX_TEXT.get(sex, sex),
            rel,
            _format_postcode(postcode),
            town,
            f"{town_name}{detail}",
            building,
            nationality,
            honseki,
            STATUS_TEXT.get(status, status),
            since.isoformat(),
            decrypt(enc) if (with_mynumber and enc) else "",
            "1" if protected else "",
        ]


def export_csv(
    *,
    actor: Actor,
    municipality: Municipality,
    as_of: date,
    out: BinaryIO,
    include_removed: bool = False,
    with_mynumber: bool = False,
    purpose: str = "",
) -> ExportResult:
    """Write the registry as of ``as_of`` to ``out`` in the documented layout.

    Residents only unless ``include_removed`` (then also 除票: moved out, deceased). My
    Numbers are written only with ``with_mynumber``, which needs the municipality admin role
    and a purpose. Audited as ``registry.export`` with the row count and the file's SHA-256.
    """
    actor.require(municipality, Role.MUNICIPALITY_ADMIN, Role.REGISTRY_CLERK)
    if with_mynumber:
        actor.require(municipality, Role.MUNICIPALITY_ADMIN)
        if not purpose.strip():
            raise Forbidden(
                "個人番号を出力するには利用目的が必要です。",
                "A purpose is required to export My Numbers.",
                code="purpose_required",
            )
    digest = hashlib.sha256()
    count = 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def emit() -> None:
        data = buffer.getvalue().encode("utf-8")
        digest.update(data)
        out.write(data)
        buffer.seek(0)
        buffer.truncate()

    buffer.write("\ufeff")
    writer.writerow(COLUMNS)
    with transaction.atomic():  # one consistent snapshot, and the audit entry with it
        for row in _export_rows(municipality, as_of, include_removed, with_mynumber):
            writer.writerow(row)
            count += 1
            if count % 5000 == 0:
                emit()
        emit()
        result = ExportResult(count, digest.hexdigest())
        audit.record(
            municipality=municipality,
            actor=actor,
            action="registry.export",
            subject_type="registry",
            subject_id=municipality.code,
            purpose=purpose,
            details={
                "as_of": as_of.isoformat(),
                "rows": count,
                "sha256": result.sha256,
                "include_removed": include_removed,
                "with_mynumber": with_mynumber,
            },
        )
    return result


# --- import -----------------------------------------------------------------------------------


@dataclass
class RowError:
    line: int
    column: str
    reason_ja: str
    reason_en: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "reason_ja": self.reason_ja,
            "reason_en": self.reason_en,
        }

    def __str__(self) -> str:
        where = f"{self.line}行目" + (f" [{self.column}]" if self.column else "")
        return f"{where}: {self.reason_ja} / line {self.line}: {self.reason_en}"


@dataclass
class ParsedRow:
    line: int
    resident_code: str
    household_no: str
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    birth_date: date
    sex: str
    relationship: str
    postcode: str
    town: Town
    address_detail: str
    building: str
    nationality: str
    honseki: str
    status: str
    since: date
    mynumber: str
    protected: bool


@dataclass(frozen=True)
class ImportResult:
    households: int
    persons: int
    sha256: str


def _read_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValidationFailed(
            "ファイルがUTF-8ではありません。",
            "The file is not UTF-8.",
            code="import_invalid",
            details=[
                RowError(
                    line,
                    "",
                    "UTF-8として読めない文字があります。",
                    "Bytes that are not valid UTF-8.",
                ).as_dict()
            ],
        ) from e
    return text.removeprefix("\ufeff")


def _split_name(value: str, label_ja: str, label_en: str) -> tuple[str, str] | RowError:
    parts = value.replace(" ", SPACE).strip(SPACE).split(SPACE, 1)
    if len(parts) != 2 or not parts[0] or not parts[1].strip(SPACE):
        return RowError(
            0,
            "",
            f"{label_ja}は氏と名を全角空白で区切ってください（例: 山田　太郎）。",
            f"Separate the family and given {label_en} with a full-width space.",
        )
    return parts[0], parts[1].strip(SPACE)


class _RowChecker:
    """Validates one row at a time; errors go to ``errors``."""

    def __init__(self, municipality: Municipality, today: date) -> None:
        self.towns = {t.machiaza_id: t for t in towns_for(municipality.code)}
        self.today = today
        self.errors: list[RowError] = []

    def error(self, line: int, column: str, ja: str, en: str) -> None:
        self.errors.append(RowError(line, column, ja, en))

    def date(self, line: int, column: str, value: str) -> date | None:
        if not value:
            self.error(line, column, f"{column}を入力してください。", f"{column} is required.")
            return None
        try:
            d = parse_date(value)
        except WarekiError as e:
            self.error(
                line,
                column,
                f"日付が正しくありません: {e.message_ja}",
                f"Impossible or unreadable date: {e.message_en}",
            )
            return None
        if d > self.today:
            self.error(
                line,
                column,
                f"{column}が未来の日付です（{value}）。",
                f"{column} is in the future ({value}).",
            )
            return None
        return d

    def row(self, line: int, raw: dict[str, str]) -> ParsedRow | None:
        before = len(self.errors)
        e = self.error
        code = raw[RESIDENT_CODE]
        try:
            code = validate_resident_code(code)
        except IdentifierError as err:
            e(line, RESIDENT_CODE, err.message_ja, err.message_en)
        household_no = raw[HOUSEHOLD_NO]
        if not household_no:
            e(
                line,
                HOUSEHOLD_NO,
                "世帯番号を入力してください。",
                "The household number is required.",
            )
        elif len(household_no) > 16:
            e(
                line,
                HOUSEHOLD_NO,
                "世帯番号は16文字以内です。",
                "The household number is at most 16 characters.",
            )
        names = _split_name(raw[NAME], "氏名", "name")
        family = given = ""
        if isinstance(names, RowError):
            e(line, NAME, names.reason_ja, names.reason_en)
        else:
            family, given = names
            if len(family) > 40 or len(given) > 40:
                e(
                    line,
                    NAME,
                    "氏・名はそれぞれ40文字以内です。",
                    "Family and given names are at most 40 characters each.",
                )
        kanas = _split_name(normalize_kana(raw[KANA]), "フリガナ", "name reading")
        family_kana = given_kana = ""
        if isinstance(kanas, RowError):
            e(line, KANA, kanas.reason_ja, kanas.reason_en)
        else:
            family_kana, given_kana = kanas
            if not (is_katakana_name(family_kana) and is_katakana_name(given_kana)):
                e(
                    line,
                    KANA,
                    "フリガナは全角カタカナで入力してください。",
                    "The reading must be in full-width katakana.",
                )
        birth = self.date(line, BIRTH, raw[BIRTH])
        sex = SEX_CODE.get(raw[SEX])
        if sex is None:
            e(
                line,
                SEX,
                f"性別は「男」「女」（または1、2）です（入力: {raw[SEX]!r}）。",
                f"Sex must be 男 or 女 (or 1, 2), not {raw[SEX]!r}.",
            )
        relationship = raw[RELATIONSHIP]
        if not relationship or len(relationship) > 16:
            e(
                line,
                RELATIONSHIP,
                "続柄を16文字以内で入力してください。",
                "The relationship is required (at most 16 characters).",
            )
        town = self.towns.get(raw[TOWN])
        detail = ""
        if town is None:
            e(
                line,
                TOWN,
                f"町字ID「{raw[TOWN]}」はこの団体の町字にありません。",
                f"Unknown town id {raw[TOWN]!r} for this municipality.",
            )
        else:
            label = bulk.town_label(town)
            if not raw[ADDRESS].startswith(label):
                e(
                    line,
                    ADDRESS,
                    f"住所が町字IDの町字（{label}）で始まっていません。",
                    f"The address does not start with the town of the town id ({label}).",
                )
            else:
                detail = raw[ADDRESS][len(label) :]
        postcode = raw[POSTCODE].replace("-", "")
        if raw[POSTCODE] and not _POSTCODE.fullmatch(raw[POSTCODE]):
            e(
                line,
                POSTCODE,
                "郵便番号は7桁の数字です（例: 231-0023）。",
                "The postcode is 7 digits (e.g. 231-0023).",
            )
        nationality = raw[NATIONALITY]
        if nationality and not _NATIONALITY.fullmatch(nationality):
            e(
                line,
                NATIONALITY,
                "国籍はISO 3166の2文字コードです（日本国籍は空欄）。",
                "Nationality is an ISO 3166 two-letter code (empty for Japanese nationals).",
            )
        status = STATUS_CODE.get(raw[STATUS])
        if status is None:
            e(
                line,
                STATUS,
                "状態は「住民」「転出」「死亡」のいずれかです。",
                "Status must be 住民, 転出 or 死亡.",
            )
        since = self.date(line, SINCE, raw[SINCE])
        if birth and since and since < birth:
            e(
                line,
                SINCE,
                "住定日が生年月日より前です。",
                "The date settled is before the birth date.",
            )
        mynumber = raw[MYNUMBER]
        if mynumber:
            try:
                mynumber = validate_mynumber(mynumber)
            except IdentifierError as err:
                e(line, MYNUMBER, err.message_ja, err.message_en)
        if raw[PROTECTED] not in ("", "1"):
            e(line, PROTECTED, "支援措置は「1」または空欄です。", "支援措置 must be 1 or empty.")
        for column, limit in ((BUILDING, 80), (HONSEKI, 120)):
            if len(raw[column]) > limit:
                e(
                    line,
                    column,
                    f"{column}は{limit}文字以内です。",
                    f"{column} is at most {limit} characters.",
                )
        if len(self.errors) > before:
            return None
        assert birth and since and sex and status and town  # checked above
        return ParsedRow(
            line,
            code,
            household_no,
            family,
            given,
            family_kana,
            given_kana,
            birth,
            sex,
            relationship,
            postcode,
            town,
            detail,
            raw[BUILDING],
            nationality,
            raw[HONSEKI],
            status,
            since,
            mynumber,
            raw[PROTECTED] == "1",
        )


def parse_csv(
    data: bytes, *, municipality: Municipality, today: date | None = None
) -> tuple[list[ParsedRow], list[RowError]]:
    """Parse and check a file without touching the database (except nothing): rows, errors."""
    text = _read_text(data)
    checker = _RowChecker(municipality, today or timezone.localdate())
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return [], [RowError(1, "", "ファイルが空です。", "The file is empty.")]
    missing = [c for c in COLUMNS if c not in header and c not in _OPTIONAL]
    unknown = [c for c in header if c not in COLUMNS]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if missing or unknown or duplicated:
        errors = [
            RowError(1, c, f"必須の列「{c}」がありません。", f"Required column {c!r} is missing.")
            for c in missing
        ]
        errors += [
            RowError(1, c, f"列「{c}」は定義されていません。", f"Unknown column {c!r}.")
            for c in unknown
        ]
        errors += [
            RowError(1, c, f"列「{c}」が重複しています。", f"Column {c!r} appears twice.")
            for c in duplicated
        ]
        return [], errors
    index = {c: header.index(c) for c in COLUMNS if c in header}
    rows: list[ParsedRow] = []
    line = reader.line_num + 1
    for values in reader:
        if values and len(values) != len(header):
            checker.error(
                line,
                "",
                f"列の数が{len(values)}です（見出しは{len(header)}列）。",
                f"{len(values)} fields, the header has {len(header)}.",
            )
        elif values:
            raw = {
                c: (values[i].strip() if i is not None else "")
                for c, i in ((c, index.get(c)) for c in COLUMNS)
            }
            parsed = checker.row(line, raw)
            if parsed is not None:
                rows.append(parsed)
        line = reader.line_num + 1
    errors = checker.errors
    errors += _check_across_rows(rows)
    return rows, errors


def _check_across_rows(rows: list[ParsedRow]) -> list[RowError]:
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    seen_mynumber: dict[str, int] = {}
    households: dict[str, list[ParsedRow]] = defaultdict(list)
    for r in rows:
        if r.resident_code in seen:
            errors.append(
                RowError(
                    r.line,
                    RESIDENT_CODE,
                    f"住民票コード {r.resident_code} が{seen[r.resident_code]}行目と重複しています。",
                    f"Resident code {r.resident_code} duplicates line {seen[r.resident_code]}.",
                )
            )
        else:
            seen[r.resident_code] = r.line
        if r.mynumber:
            if r.mynumber in seen_mynumber:
                errors.append(
                    RowError(
                        r.line,
                        MYNUMBER,
                        f"個人番号が{seen_mynumber[r.mynumber]}行目と重複しています。",
                        f"My Number duplicates line {seen_mynumber[r.mynumber]}.",
                    )
                )
            else:
                seen_mynumber[r.mynumber] = r.line
        households[r.household_no].append(r)
    for number, members in households.items():
        heads = [
            r
            for r in members
            if r.status == Status.RESIDENT and r.relationship == bulk.HEAD_RELATIONSHIP
        ]
        residents = [r for r in members if r.status == Status.RESIDENT]
        if residents and not heads:
            errors.append(
                RowError(
                    residents[0].line,
                    RELATIONSHIP,
                    f"世帯番号 {number} に世帯主がいません（続柄「世帯主」の住民が必要です）。",
                    f"Household {number} has no head (a resident with 続柄 世帯主 is required).",
                )
            )
        for extra in heads[1:]:
            errors.append(
                RowError(
                    extra.line,
                    RELATIONSHIP,
                    f"世帯番号 {number} に世帯主が複数います。",
                    f"Household {number} has more than one head.",
                )
            )
    return errors


def _check_against_database(municipality: Municipality, rows: list[ParsedRow]) -> list[RowError]:
    if not Person.objects.filter(municipality=municipality).exists() and not (
        Household.objects.filter(municipality=municipality).exists()
    ):
        return []
    errors: list[RowError] = []

    def chunks(items: list[Any]) -> Iterable[list[Any]]:
        for i in range(0, len(items), 500):
            yield items[i : i + 500]

    by_code = {r.resident_code: r for r in rows}
    for part in chunks(list(by_code)):
        for code in Person.objects.filter(
            municipality=municipality, resident_code__in=part
        ).values_list("resident_code", flat=True):
            errors.append(
                RowError(
                    by_code[code].line,
                    RESIDENT_CODE,
                    f"住民票コード {code} は登録済みです。",
                    f"Resident code {code} is already registered.",
                )
            )
    by_hash = {lookup_hash(r.mynumber): r for r in rows if r.mynumber}
    for part in chunks(list(by_hash)):
        for digest in Person.objects.filter(
            municipality=municipality, mynumber_hash__in=part
        ).values_list("mynumber_hash", flat=True):
            errors.append(
                RowError(
                    by_hash[digest].line,
                    MYNUMBER,
                    "この個人番号は登録済みです。",
                    "This My Number is already registered.",
                )
            )
    first_line: dict[str, int] = {}
    for r in rows:
        first_line.setdefault(r.household_no, r.line)
    for part in chunks(list(first_line)):
        for number in Household.objects.filter(
            municipality=municipality, household_no__in=part
        ).values_list("household_no", flat=True):
            errors.append(
                RowError(
                    first_line[number],
                    HOUSEHOLD_NO,
                    f"世帯番号 {number} は登録済みです。",
                    f"Household number {number} is already registered.",
                )
            )
    return errors


def _specs(rows: list[ParsedRow], today: date) -> Iterator[bulk.HouseholdSpec]:
    households: dict[str, list[ParsedRow]] = defaultdict(list)
    for r in rows:
        households[r.household_no].append(r)
    for number, members in households.items():
        persons = []
        for r in members:
            event = bulk.EventSpec(EventKind.IMPORT, r.since, today, {}, "データ移行")
            state = bulk.StateSpec(
                r.since,
                OPEN_END,
                r.status,
                r.relationship,
                r.status == Status.RESIDENT and r.relationship == bulk.HEAD_RELATIONSHIP,
                r.family_name,
                r.given_name,
                r.family_kana,
                r.given_kana,
                r.postcode,
                r.town.machiaza_id,
                bulk.town_label(r.town),
                r.address_detail,
                r.building,
                r.honseki,
                0,
            )
            persons.append(
                bulk.PersonSpec(
                    r.resident_code,
                    r.mynumber,
                    r.birth_date,
                    r.sex,
                    r.nationality,
                    r.protected,
                    [event],
                    [state],
                )
            )
        yield bulk.HouseholdSpec(number, min(r.since for r in members), persons)


def import_csv(
    *,
    actor: Actor,
    municipality: Municipality,
    data: bytes,
    source: str = "",
    progress: bulk.Progress | None = None,
) -> ImportResult:
    """Import a file in the documented layout: everything or nothing.

    Every row is checked first (identifiers, dates, codes, towns, duplicates in the file
    and in the database, one head per household). If any row is bad nothing is written and
    ValidationFailed is raised with ``details``: one ``{"line", "column", "reason_ja",
    "reason_en"}`` per problem, in line order. Otherwise one transaction writes all rows
    (each person gets one state from 住定日 and an ``import`` event) and one audit entry
    ``registry.import``.
    """
    actor.require(municipality, Role.MUNICIPALITY_ADMIN)
    today = timezone.localdate()
    digest = hashlib.sha256(data).hexdigest()
    rows, errors = parse_csv(data, municipality=municipality, today=today)
    with transaction.atomic():
        if not errors:
            errors = _check_against_database(municipality, rows)
        if errors:
            errors.sort(
                key=lambda x: (x.line, COLUMNS.index(x.column) if x.column in COLUMNS else -1)
            )
            lines = len({x.line for x in errors})
            raise ValidationFailed(
                f"{lines}行に誤りがあるため、取り込みませんでした（{len(errors)}件）。",
                f"Nothing was imported: {len(errors)} problems on {lines} lines.",
                code="import_invalid",
                details=[x.as_dict() for x in errors],
            )
        result = bulk.load(
            municipality=municipality,
            actor=actor,
            households=_specs(rows, today),
            action="registry.import",
            details={"source": source[:200], "sha256": digest, "rows": len(rows)},
            progress=progress,
            expected_persons=len(rows),
        )
    return ImportResult(result.households, result.persons, digest)


def format_errors(details: list[dict[str, Any]]) -> list[str]:
    """One readable line per problem, for the CLI."""
    return [str(RowError(d["line"], d["column"], d["reason_ja"], d["reason_en"])) for d in details]
