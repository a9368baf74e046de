"""Zengin (全銀協) fixed-length bank files: 総合振込 requests out, transfer results back.

Pure module: no Django import. Layouts follow /work/shared/REFERENCE.md; positions in the
docstrings below are 1-based and inclusive, as in the bank specifications.

Every record is exactly 120 bytes of JIS X 0201 text (コード区分 0) encoded with cp932, so
each permitted character is one byte (half-width kana, ﾞ and ﾟ included). N fields are
right-aligned and zero-filled, C fields left-aligned and space-filled. Records are separated
by CR LF (the default) or by nothing, a per-bank setting; LF alone is never written and is
refused when read.

Matching results to payments: a transfer data record carries the payment's id in
顧客コード1 + 顧客コード2 (bytes 92–111, 20 digits; see :func:`customer_codes_for_payment`).
Banks return results in the 口座振替 (種別 91) layout, whose 顧客番号 occupies the same
bytes 92–111, so :attr:`ResultRecord.payment_id` gives the payment back. Records that use
EDI information (識別表示 ``Y``) cannot be matched this way.

A file holds at most 999,999 data records (the trailer count has 6 digits): larger batches
are split into several files by the caller. Writers stream, one record at a time, and
readers (:class:`TransferFileReader`, :class:`ResultFileReader`) iterate without holding
the file in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import IO, Generic, NamedTuple, TypeVar

from kiban.benefits.zengin_kana import OPTIONAL_CHARS, ZENGIN_CHARS
from kiban.core.errors import ValidationFailed

__all__ = [
    "LINE_ENDINGS",
    "MAX_AMOUNT",
    "MAX_RECORDS",
    "MAX_TOTAL_AMOUNT",
    "RECORD_LENGTH",
    "RESULT_CODES",
    "ParsedHeader",
    "ResultCode",
    "ResultFile",
    "ResultFileReader",
    "ResultRecord",
    "ResultRow",
    "ResultTrailer",
    "TransferFile",
    "TransferFileReader",
    "TransferHeader",
    "TransferRecord",
    "TransferSummary",
    "ZenginFormatError",
    "customer_codes_for_payment",
    "iter_result_file",
    "iter_transfer_file",
    "parse_result_csv",
    "parse_result_file",
    "parse_transfer_file",
    "payment_id_from_customer_number",
    "write_result_file",
    "write_transfer_file",
    "write_transfer_file_to",
]

RECORD_LENGTH = 120
#: 振込金額 is 10 N.
MAX_AMOUNT = 9_999_999_999
#: 合計件数 is 6 N.
MAX_RECORDS = 999_999
#: 合計金額 is 12 N.
MAX_TOTAL_AMOUNT = 999_999_999_999
#: Record separators a bank may ask for: none, or CR LF.
LINE_ENDINGS = ("", "\r\n")

TRANSFER_KIND_CODE = "21"  # 総合振込
RESULT_KIND_CODE = "91"  # 口座振替 layout, used for returned results


class ResultCode(NamedTuple):
    ja: str
    en: str


#: 振替結果コード (byte 112 of a result data record).
RESULT_CODES: dict[str, ResultCode] = {
    "0": ResultCode("振替済", "transferred"),
    "1": ResultCode("資金不足", "insufficient funds"),
    "2": ResultCode("取引なし", "no such account"),
    "3": ResultCode("預金者都合による停止", "stopped by the account holder"),
    "4": ResultCode("依頼書なし", "no authorisation on file"),
    "8": ResultCode("委託者都合による停止", "stopped by the requester"),
    "9": ResultCode("その他", "other"),
}

_FIELDS: dict[str, tuple[str, str]] = {
    "data_kind": ("データ区分", "record type"),
    "kind_code": ("種別コード", "type code"),
    "code_division": ("コード区分", "code division"),
    "requester_code": ("依頼人コード", "requester code"),
    "requester_name": ("依頼人名", "requester name"),
    "transfer_date": ("振込指定日", "transfer date"),
    "bank_code": ("銀行番号", "bank code"),
    "bank_name": ("銀行名", "bank name"),
    "branch_code": ("支店番号", "branch code"),
    "branch_name": ("支店名", "branch name"),
    "account_type": ("預金種目", "account type"),
    "account_number": ("口座番号", "account number"),
    "recipient_name": ("受取人名", "recipient name"),
    "amount": ("金額", "amount"),
    "new_code": ("新規コード", "new code"),
    "customer_code1": ("顧客コード1", "customer code 1"),
    "customer_code2": ("顧客コード2", "customer code 2"),
    "customer_number": ("顧客番号", "customer number"),
    "transfer_kind": ("振込指定区分", "transfer kind"),
    "edi": ("EDI情報", "EDI information"),
    "result_code": ("振替結果コード", "result code"),
    "total_count": ("合計件数", "total count"),
    "total_amount": ("合計金額", "total amount"),
    "succeeded_count": ("振替済件数", "transferred count"),
    "succeeded_amount": ("振替済金額", "transferred amount"),
    "failed_count": ("振替不能件数", "failed count"),
    "failed_amount": ("振替不能金額", "failed amount"),
    "record": ("レコード", "record"),
    "file": ("ファイル", "file"),
}
_KINDS = {
    "header": ("ヘッダー", "header"),
    "data": ("データレコード", "data record"),
    "trailer": ("トレーラー", "trailer"),
    "end": ("エンドレコード", "end record"),
}


class ZenginFormatError(ValidationFailed, ValueError):
    """A value that does not fit a Zengin file, or a file that is not well formed.

    ``line_number`` is the 1-based position of the 120-byte record in the file (the header
    is line 1); ``record_number`` the 1-based index among data records (``None`` for the
    header, trailer and end record); ``field`` the English field key (e.g. ``"amount"``).
    """

    code = "zengin_format"

    def __init__(
        self,
        message_ja: str,
        message_en: str,
        *,
        line_number: int | None = None,
        record_number: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(
            message_ja,
            message_en,
            details={"line_number": line_number, "record_number": record_number, "field": field},
        )
        self.line_number = line_number
        self.record_number = record_number
        self.field = field


class _FieldError(Exception):
    """Raised by field helpers; turned into ZenginFormatError with the record's position."""

    def __init__(self, field: str, problem_ja: str, problem_en: str) -> None:
        super().__init__(problem_en)
        self.field = field
        self.problem_ja = problem_ja
        self.problem_en = problem_en


def _located(
    err: _FieldError, *, kind: str, line_number: int | None, record_number: int | None
) -> ZenginFormatError:
    kind_ja, kind_en = _KINDS[kind]
    field_ja, field_en = _FIELDS.get(err.field, (err.field, err.field))
    if record_number is not None:
        where_ja = f"{kind_ja} {record_number} 件目"
        where_en = f"{kind_en} {record_number}"
    else:
        where_ja, where_en = kind_ja, kind_en
    if line_number is not None:
        where_ja += f"（{line_number} 行目）"
        where_en += f" (line {line_number})"
    return ZenginFormatError(
        f"{where_ja}の{field_ja}: {err.problem_ja}",
        f"{where_en}, {field_en}: {err.problem_en}",
        line_number=line_number,
        record_number=record_number,
        field=err.field,
    )


# --- payment ids in customer codes ------------------------------------------------------


def customer_codes_for_payment(payment_id: int) -> tuple[str, str]:
    """顧客コード1 and 顧客コード2 carrying a payment id (20 digits, zero-padded).

    The bank echoes bytes 92–111 back as the result's 顧客番号, which
    :func:`payment_id_from_customer_number` turns into the id again.
    """
    if isinstance(payment_id, bool) or not isinstance(payment_id, int):
        raise TypeError("payment_id must be an int")
    if not 0 <= payment_id < 10**20:
        raise ValueError("payment_id must fit in 20 digits")
    number = f"{payment_id:020d}"
    return number[:10], number[10:]


def payment_id_from_customer_number(customer_number: str) -> int:
    """The payment id stored by :func:`customer_codes_for_payment` (20 digits or fewer)."""
    if not (customer_number.isascii() and customer_number.isdigit()) or len(customer_number) > 20:
        raise ValueError(f"not a customer number: {customer_number!r}")
    return int(customer_number)


# --- field encoding ----------------------------------------------------------------------


def _num(
    value: str | int, width: int, field: str, *, exact: bool = False, allow_empty: bool = False
) -> bytes:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _FieldError(field, "数字で指定してください。", "must be digits.")
    text = str(value)
    if text == "" and allow_empty:
        return b"0" * width
    if not (text.isascii() and text.isdigit()):
        raise _FieldError(
            field,
            f"数字以外が含まれています（{text!r}）。",
            f"must contain digits only (got {text!r}).",
        )
    if exact and len(text) != width:
        raise _FieldError(
            field,
            f"{width} 桁の数字です（{len(text)} 桁: {text}）。",
            f"must be exactly {width} digits (got {len(text)}: {text}).",
        )
    if len(text) > width:
        raise _FieldError(
            field,
            f"{width} 桁を超えています（{len(text)} 桁: {text}）。",
            f"exceeds {width} digits (got {len(text)}: {text}).",
        )
    return text.zfill(width).encode("ascii")


def _text(
    value: str, width: int, field: str, extra: frozenset[str], *, required: bool = False
) -> bytes:
    if not isinstance(value, str):
        raise _FieldError(field, "文字列で指定してください。", "must be a string.")
    if required and not value.strip(" "):
        raise _FieldError(field, "空にはできません。", "must not be empty.")
    for position, ch in enumerate(value, start=1):
        if ch not in ZENGIN_CHARS and ch not in extra:
            raise _FieldError(
                field,
                f"{position} 文字目の「{ch}」は使えません（半角カナ大文字・英大文字・数字・"
                "空白・( ) - . のみ。to_zengin_kana で変換してください）。",
                f"character {position} {ch!r} is not allowed (half-width large kana, A-Z, "
                "0-9, space and ( ) - . only; convert with to_zengin_kana).",
            )
    if len(value) > width:
        raise _FieldError(
            field,
            f"半角 {width} 文字を超えています（{len(value)} 文字）。",
            f"exceeds {width} half-width characters (got {len(value)}).",
        )
    return value.encode("cp932").ljust(width, b" ")


def _choice(value: str | int, allowed: str, field: str) -> bytes:
    text = str(value) if not isinstance(value, bool) else ""
    if len(text) != 1 or text not in allowed:
        options = "、".join(allowed)
        raise _FieldError(
            field,
            f"{options} のいずれかです（{text!r}）。",
            f"must be one of {', '.join(allowed)} (got {text!r}).",
        )
    return text.encode("ascii")


def _amount(value: int, field: str, *, minimum: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _FieldError(field, "整数で指定してください。", "must be an integer.")
    if not minimum <= value <= MAX_AMOUNT:
        raise _FieldError(
            field,
            f"{minimum:,} 円以上 {MAX_AMOUNT:,} 円以下です（{value:,}）。",
            f"must be between {minimum:,} and {MAX_AMOUNT:,} yen (got {value:,}).",
        )
    return b"%010d" % value


def _mmdd(value: date) -> bytes:
    if not isinstance(value, date):
        raise _FieldError("transfer_date", "日付で指定してください。", "must be a date.")
    return b"%02d%02d" % (value.month, value.day)


def _extra_chars(allow: str) -> frozenset[str]:
    extra = frozenset(allow)
    if not extra <= OPTIONAL_CHARS:
        raise ValueError(f"allow may only contain {''.join(sorted(OPTIONAL_CHARS))!r}")
    return extra


def _eol(line_ending: str) -> bytes:
    if line_ending not in LINE_ENDINGS:
        raise ValueError(r'line_ending must be "" or "\r\n"')
    return line_ending.encode("ascii")


# --- records -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransferHeader:
    """Header (データ区分 1) of a 総合振込 file: who pays, from which account, on which day.

    Text fields are already in Zengin form (see :func:`to_zengin_kana` and
    :func:`bank_kana_to_zengin`); the writer validates and refuses anything else.
    """

    requester_code: str  # 依頼人コード, 10 digits assigned by the bank
    requester_name: str  # 依頼人名, ≤ 40 half-width
    transfer_date: date  # 振込指定日 (written MMDD)
    bank_code: str  # 仕向銀行番号, 4 digits
    bank_name: str  # ≤ 15 half-width
    branch_code: str  # 3 digits
    branch_name: str  # ≤ 15 half-width
    account_type: str  # 1 普通, 2 当座, 9 その他
    account_number: str  # 1–7 digits, zero-padded


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """Data record (データ区分 2): one payment to one account.

    Put the payment's id into ``customer_code1`` / ``customer_code2`` with
    :func:`customer_codes_for_payment` so the bank's result can be matched back.
    ``edi`` (≤ 20 half-width) replaces both customer codes and sets 識別表示 ``Y``.
    """

    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str  # 1 普通, 2 当座, 4 貯蓄, 9 その他
    account_number: str
    recipient_name: str  # 受取人名, ≤ 30 half-width
    amount: int  # 1 .. 9,999,999,999 yen
    new_code: int = 0  # 0, 1 or 2
    customer_code1: str = ""  # ≤ 10 digits ("" → zeros)
    customer_code2: str = ""
    transfer_kind: str = "7"  # 7 電信, 8 文書
    edi: str | None = None

    @property
    def customer_number(self) -> str | None:
        """Bytes 92–111 as the bank will echo them (``None`` for EDI records)."""
        if self.edi is not None:
            return None
        return self.customer_code1.zfill(10) + self.customer_code2.zfill(10)


@dataclass(frozen=True, slots=True)
class ParsedHeader:
    """A header read from a file. The file gives no year: see :meth:`transfer_date_in`."""

    kind_code: str
    requester_code: str
    requester_name: str
    transfer_mmdd: str
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number: str

    def transfer_date_in(self, year: int) -> date:
        """The transfer date in ``year`` (the caller knows which year it sent)."""
        return date(year, int(self.transfer_mmdd[:2]), int(self.transfer_mmdd[2:]))


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """Data record of a result file (口座振替 layout).

    ``customer_number`` is bytes 92–111 (20 digits), the transfer's 顧客コード1 + 2.
    """

    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number: str
    name: str  # 預金者名 / 受取人名
    amount: int
    customer_number: str
    result_code: str
    new_code: str = "0"
    line_number: int | None = None  # set by the reader

    @classmethod
    def from_transfer(cls, record: TransferRecord, result_code: str) -> ResultRecord:
        """The result a bank reports for ``record`` (used by the demo bank and tests)."""
        customer_number = record.customer_number
        if customer_number is None:
            raise ValueError("an EDI record carries no customer number to report back")
        return cls(
            bank_code=record.bank_code,
            bank_name=record.bank_name,
            branch_code=record.branch_code,
            branch_name=record.branch_name,
            account_type=record.account_type,
            account_number=record.account_number,
            name=record.recipient_name,
            amount=record.amount,
            customer_number=customer_number,
            result_code=result_code,
            new_code=str(record.new_code),
        )

    @property
    def succeeded(self) -> bool:
        return self.result_code == "0"

    @property
    def payment_id(self) -> int:
        return payment_id_from_customer_number(self.customer_number)

    @property
    def result(self) -> ResultCode:
        return RESULT_CODES[self.result_code]


@dataclass(frozen=True, slots=True)
class ResultTrailer:
    """Result trailer. The 振替済/不能 fields are ``None`` when the bank left them blank."""

    total_count: int
    total_amount: int
    succeeded_count: int | None
    succeeded_amount: int | None
    failed_count: int | None
    failed_amount: int | None


@dataclass(frozen=True, slots=True)
class TransferSummary:
    count: int
    total_amount: int


@dataclass(frozen=True, slots=True)
class TransferFile:
    header: ParsedHeader
    records: list[TransferRecord]
    summary: TransferSummary


@dataclass(frozen=True, slots=True)
class ResultFile:
    header: ParsedHeader
    records: list[ResultRecord]
    trailer: ResultTrailer


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One row of a CSV result file (see :func:`parse_result_csv`)."""

    line_number: int
    customer_number: str  # zero-padded to 20 digits
    amount: int
    result_code: str

    @property
    def payment_id(self) -> int:
        return payment_id_from_customer_number(self.customer_number)

    @property
    def succeeded(self) -> bool:
        return self.result_code == "0"


# --- writing -----------------------------------------------------------------------------


def _encode_header(
    header: TransferHeader | ParsedHeader, kind_code: str, extra: frozenset[str]
) -> bytes:
    try:
        if isinstance(header, TransferHeader):
            mmdd = _mmdd(header.transfer_date)
        else:
            mmdd = _parse_mmdd(header.transfer_mmdd.encode("ascii", "replace"))
        record = b"".join(
            (
                b"1",
                _num(kind_code, 2, "kind_code", exact=True),
                b"0",
                _num(header.requester_code, 10, "requester_code", exact=True),
                _text(header.requester_name, 40, "requester_name", extra, required=True),
                mmdd,
                _num(header.bank_code, 4, "bank_code", exact=True),
                _text(header.bank_name, 15, "bank_name", extra),
                _num(header.branch_code, 3, "branch_code", exact=True),
                _text(header.branch_name, 15, "branch_name", extra),
                _choice(header.account_type, "129", "account_type"),
                _num(header.account_number, 7, "account_number"),
                b" " * 17,
            )
        )
    except _FieldError as err:
        raise _located(err, kind="header", line_number=1, record_number=None) from None
    assert len(record) == RECORD_LENGTH
    return record


def _encode_transfer_record(r: TransferRecord, extra: frozenset[str]) -> bytes:
    if r.edi is not None:
        if r.customer_code1 or r.customer_code2:
            raise _FieldError(
                "edi",
                "EDI情報と顧客コードは同時に指定できません。",
                "cannot be combined with customer codes.",
            )
        customer = _text(r.edi, 20, "edi", extra)
        marker = b"Y"
    else:
        customer = _num(r.customer_code1, 10, "customer_code1", allow_empty=True) + _num(
            r.customer_code2, 10, "customer_code2", allow_empty=True
        )
        marker = b" "
    new_code = r.new_code if not isinstance(r.new_code, bool) else -1
    return b"".join(
        (
            b"2",
            _num(r.bank_code, 4, "bank_code", exact=True),
            _text(r.bank_name, 15, "bank_name", extra),
            _num(r.branch_code, 3, "branch_code", exact=True),
            _text(r.branch_name, 15, "branch_name", extra),
            b"0000",
            _choice(r.account_type, "1249", "account_type"),
            _num(r.account_number, 7, "account_number"),
            _text(r.recipient_name, 30, "recipient_name", extra, required=True),
            _amount(r.amount, "amount", minimum=1),
            _choice(str(new_code), "012", "new_code"),
            customer,
            _choice(r.transfer_kind, "78", "transfer_kind"),
            marker,
            b" " * 7,
        )
    )


def _encode_result_record(r: ResultRecord, extra: frozenset[str]) -> bytes:
    if r.result_code not in RESULT_CODES:
        raise _FieldError(
            "result_code",
            f"未知のコードです（{r.result_code!r}）。",
            f"unknown code {r.result_code!r}.",
        )
    return b"".join(
        (
            b"2",
            _num(r.bank_code, 4, "bank_code", exact=True),
            _text(r.bank_name, 15, "bank_name", extra),
            _num(r.branch_code, 3, "branch_code", exact=True),
            _text(r.branch_name, 15, "branch_name", extra),
            b" " * 4,
            _choice(r.account_type, "1249", "account_type"),
            _num(r.account_number, 7, "account_number"),
            _text(r.name, 30, "recipient_name", extra, required=True),
            _amount(r.amount, "amount", minimum=0),
            _choice(r.new_code, "012", "new_code"),
            _num(r.customer_number, 20, "customer_number", exact=True),
            r.result_code.encode("ascii"),
            b" " * 8,
        )
    )


class _Totals:
    __slots__ = (
        "count",
        "failed_amount",
        "failed_count",
        "succeeded_amount",
        "succeeded_count",
        "total",
    )

    def __init__(self) -> None:
        self.count = self.total = 0
        self.succeeded_count = self.succeeded_amount = 0
        self.failed_count = self.failed_amount = 0


_R = TypeVar("_R", TransferRecord, ResultRecord)


def _stream(
    header_bytes: bytes,
    records: Iterable[_R],
    encode: Callable[[_R, frozenset[str]], bytes],
    amount_of: Callable[[_R], int],
    trailer: Callable[[_Totals], bytes],
    extra: frozenset[str],
    eol: bytes,
    totals: _Totals,
) -> Iterator[bytes]:
    yield header_bytes + eol
    for record in records:
        number = totals.count + 1
        line = number + 1
        try:
            if number > MAX_RECORDS:
                raise _FieldError(
                    "record",
                    f"1 ファイルは {MAX_RECORDS:,} 件までです。ファイルを分けてください。",
                    f"a file holds at most {MAX_RECORDS:,} records; split the batch.",
                )
            data = encode(record, extra)
            amount = amount_of(record)
            if totals.total + amount > MAX_TOTAL_AMOUNT:
                raise _FieldError(
                    "amount",
                    f"合計金額が {MAX_TOTAL_AMOUNT:,} 円を超えます。ファイルを分けてください。",
                    f"the file total would exceed {MAX_TOTAL_AMOUNT:,} yen; split the batch.",
                )
        except _FieldError as err:
            raise _located(err, kind="data", line_number=line, record_number=number) from None
        assert len(data) == RECORD_LENGTH
        totals.count = number
        totals.total += amount
        yield data + eol
    yield trailer(totals) + eol
    yield b"9" + b" " * 119 + eol


def _transfer_trailer(t: _Totals) -> bytes:
    return b"8%06d%012d" % (t.count, t.total) + b" " * 101


def iter_transfer_file(
    header: TransferHeader,
    records: Iterable[TransferRecord],
    *,
    line_ending: str = "\r\n",
    allow: str = "",
) -> Iterator[bytes]:
    """Yield a 総合振込 (種別 21) file record by record: header, data, trailer, end.

    Each item is one 120-byte record plus ``line_ending`` (``"\\r\\n"`` or ``""``). The
    header and the options are checked at once; each data record as it is consumed, with
    :class:`ZenginFormatError` naming the record. Memory use does not grow with the file.
    ``allow`` may contain ``ｦ`` and ``/`` for banks that accept them.
    """
    eol = _eol(line_ending)
    extra = _extra_chars(allow)
    header_bytes = _encode_header(header, TRANSFER_KIND_CODE, extra)

    return _stream(
        header_bytes,
        records,
        _encode_transfer_record,
        lambda r: r.amount,
        _transfer_trailer,
        extra,
        eol,
        _Totals(),
    )


def write_transfer_file_to(
    fp: IO[bytes],
    header: TransferHeader,
    records: Iterable[TransferRecord],
    *,
    line_ending: str = "\r\n",
    allow: str = "",
) -> TransferSummary:
    """Write a 総合振込 file to a binary file object; return the trailer's count and total.

    On error part of the file may already be written: write to a temporary file and move
    it into place only when this returns.
    """
    eol = _eol(line_ending)
    extra = _extra_chars(allow)
    totals = _Totals()
    header_bytes = _encode_header(header, TRANSFER_KIND_CODE, extra)
    for chunk in _stream(
        header_bytes,
        records,
        _encode_transfer_record,
        lambda r: r.amount,
        _transfer_trailer,
        extra,
        eol,
        totals,
    ):
        fp.write(chunk)
    return TransferSummary(count=totals.count, total_amount=totals.total)


def write_transfer_file(
    header: TransferHeader,
    records: Iterable[TransferRecord],
    *,
    line_ending: str = "\r\n",
    allow: str = "",
) -> bytes:
    """The whole 総合振込 file as bytes (see :func:`iter_transfer_file`)."""
    return b"".join(iter_transfer_file(header, records, line_ending=line_ending, allow=allow))


def _result_trailer(t: _Totals) -> bytes:
    return (
        b"8%06d%012d%06d%012d%06d%012d"
        % (
            t.count,
            t.total,
            t.succeeded_count,
            t.succeeded_amount,
            t.failed_count,
            t.failed_amount,
        )
        + b" " * 65
    )


def iter_result_file(
    header: TransferHeader | ParsedHeader,
    records: Iterable[ResultRecord],
    *,
    line_ending: str = "\r\n",
    kind_code: str = RESULT_KIND_CODE,
    allow: str = "",
) -> Iterator[bytes]:
    """Yield a result file in the 口座振替 layout, as a bank returns it.

    Used by the demo bank simulator and tests. Data records: 1 ``2`` · 2–5 bank · 6–20 bank
    name · 21–23 branch · 24–38 branch name · 39–42 spaces · 43 account type · 44–50 account
    number · 51–80 name · 81–90 amount · 91 new code · 92–111 顧客番号 (20 N) · 112 振替結果
    コード · 113–120 spaces. Trailer: 1 ``8`` · 2–7 count · 8–19 total · 20–25 振替済件数 ·
    26–37 振替済金額 · 38–43 振替不能件数 · 44–55 振替不能金額 · 56–120 spaces (the
    standard 口座振替 trailer; REFERENCE names these fields without offsets).
    """
    eol = _eol(line_ending)
    extra = _extra_chars(allow)
    header_bytes = _encode_header(header, kind_code, extra)
    totals = _Totals()

    def encode(r: ResultRecord, ex: frozenset[str]) -> bytes:
        data = _encode_result_record(r, ex)
        if r.succeeded:
            totals.succeeded_count += 1
            totals.succeeded_amount += r.amount
        else:
            totals.failed_count += 1
            totals.failed_amount += r.amount
        return data

    return _stream(
        header_bytes, records, encode, lambda r: r.amount, _result_trailer, extra, eol, totals
    )


def write_result_file(
    header: TransferHeader | ParsedHeader,
    records: Iterable[ResultRecord],
    *,
    line_ending: str = "\r\n",
    kind_code: str = RESULT_KIND_CODE,
    allow: str = "",
) -> bytes:
    """The whole result file as bytes (see :func:`iter_result_file`)."""
    return b"".join(
        iter_result_file(header, records, line_ending=line_ending, kind_code=kind_code, allow=allow)
    )


# --- reading -----------------------------------------------------------------------------


def _file_error(ja: str, en: str, line_number: int | None) -> ZenginFormatError:
    where_ja = f"{line_number} 行目: " if line_number is not None else ""
    where_en = f"line {line_number}: " if line_number is not None else ""
    return ZenginFormatError(where_ja + ja, where_en + en, line_number=line_number, field="file")


def _check_record(record: bytes, line_number: int) -> None:
    if b"\n" in record or b"\r" in record:
        raise _file_error(
            "改行位置が 120 バイトごとではありません"
            "（LF のみの改行は使えません。CR LF か改行なし）。",
            "line breaks are not every 120 bytes (LF alone is not allowed: use CR LF or none).",
            line_number,
        )
    if len(record) != RECORD_LENGTH:
        raise _file_error(
            f"レコードが {len(record)} バイトです（120 バイトであること）。",
            f"the record is {len(record)} bytes long, not 120.",
            line_number,
        )


def _iter_raw_records(fp: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, 120-byte record); CR LF or no separators; a final EOF (0x1A) ok."""
    first = fp.read(RECORD_LENGTH + 2)
    if not first:
        raise _file_error("ファイルが空です。", "the file is empty.", None)
    crlf = first[RECORD_LENGTH : RECORD_LENGTH + 2] == b"\r\n"
    pending = b"" if crlf else first[RECORD_LENGTH:]
    _check_record(first[:RECORD_LENGTH], 1)
    yield 1, first[:RECORD_LENGTH]
    step = RECORD_LENGTH + 2 if crlf else RECORD_LENGTH
    line = 1
    while True:
        chunk = pending + fp.read(step - len(pending))
        pending = b""
        if not chunk or chunk == b"\x1a":
            return
        line += 1
        record, tail = chunk[:RECORD_LENGTH], chunk[RECORD_LENGTH:]
        _check_record(record, line)
        if crlf and tail != b"\r\n":
            rest = tail + fp.read(1)
            if rest not in (b"", b"\x1a"):
                raise _file_error(
                    "120 バイトの後に CR LF がありません。",
                    "CR LF is missing after byte 120.",
                    line,
                )
        yield line, record


def _slice(record: bytes, start: int, end: int) -> bytes:
    """Bytes ``start``–``end`` (1-based, inclusive)."""
    return record[start - 1 : end]


def _p_num(record: bytes, start: int, end: int, field: str) -> str:
    raw = _slice(record, start, end)
    if not raw.isdigit():
        shown = raw.decode("cp932", "replace")
        raise _FieldError(
            field, f"数字ではありません（{shown!r}）。", f"is not numeric ({shown!r})."
        )
    return raw.decode("ascii")


def _p_text(record: bytes, start: int, end: int, field: str) -> str:
    raw = _slice(record, start, end)
    try:
        return raw.decode("cp932").rstrip(" ")
    except UnicodeDecodeError:
        raise _FieldError(
            field,
            "文字コードが JIS X 0201 (cp932) ではありません。",
            "is not JIS X 0201 (cp932) text.",
        ) from None


def _parse_mmdd(raw: bytes) -> bytes:
    if len(raw) != 4 or not raw.isdigit():
        raise _FieldError("transfer_date", "MMDD の数字ではありません。", "is not MMDD.")
    try:
        date(2000, int(raw[:2]), int(raw[2:]))  # 2000 is a leap year: 0229 is valid
    except ValueError:
        raise _FieldError(
            "transfer_date",
            f"日付として正しくありません（{raw.decode()}）。",
            f"is not a valid date ({raw.decode()}).",
        ) from None
    return raw


def _parse_header(record: bytes, expected_kind: str | None) -> ParsedHeader:
    if record[:1] != b"1":
        raise _FieldError(
            "data_kind",
            "ファイルがヘッダー（データ区分 1）で始まっていません。",
            "the file does not start with a header (record type 1).",
        )
    kind_code = _p_num(record, 2, 3, "kind_code")
    if expected_kind is not None and kind_code != expected_kind:
        raise _FieldError(
            "kind_code",
            f"{expected_kind} であるべきところ {kind_code} です。",
            f"expected {expected_kind}, found {kind_code}.",
        )
    if _slice(record, 4, 4) != b"0":
        raise _FieldError(
            "code_division",
            "0（JIS）以外には対応していません。",
            "only 0 (JIS X 0201) is supported.",
        )
    return ParsedHeader(
        kind_code=kind_code,
        requester_code=_p_num(record, 5, 14, "requester_code"),
        requester_name=_p_text(record, 15, 54, "requester_name"),
        transfer_mmdd=_parse_mmdd(_slice(record, 55, 58)).decode("ascii"),
        bank_code=_p_num(record, 59, 62, "bank_code"),
        bank_name=_p_text(record, 63, 77, "bank_name"),
        branch_code=_p_num(record, 78, 80, "branch_code"),
        branch_name=_p_text(record, 81, 95, "branch_name"),
        account_type=_p_num(record, 96, 96, "account_type"),
        account_number=_p_num(record, 97, 103, "account_number"),
    )


_D = TypeVar("_D")


class _Reader(Generic[_D]):
    """Header on construction, data records on iteration, trailer checked at the end."""

    _expected_kind: str | None = None

    def __init__(self, fp: IO[bytes]) -> None:
        self._raw = _iter_raw_records(fp)
        line, record = next(self._raw)
        try:
            self.header = _parse_header(record, self._expected_kind)
        except _FieldError as err:
            raise _located(err, kind="header", line_number=line, record_number=None) from None
        self._consumed = False

    def _parse_data(self, record: bytes, line_number: int) -> _D:
        raise NotImplementedError

    def _amount(self, item: _D) -> int:
        raise NotImplementedError

    def _check_trailer(
        self, record: bytes, count: int, total: int, items_ok: int, amount_ok: int
    ) -> None:
        raise NotImplementedError

    def _succeeded(self, item: _D) -> bool:
        return True

    def __iter__(self) -> Iterator[_D]:
        if self._consumed:
            raise RuntimeError("a Zengin reader can be iterated once")
        self._consumed = True
        count = total = count_ok = amount_ok = 0
        state = "data"
        last_line = 1
        for line, record in self._raw:
            last_line = line
            kind = record[:1]
            if state == "data" and kind == b"2":
                count += 1
                try:
                    item = self._parse_data(record, line)
                except _FieldError as err:
                    raise _located(
                        err, kind="data", line_number=line, record_number=count
                    ) from None
                amount = self._amount(item)
                total += amount
                if self._succeeded(item):
                    count_ok += 1
                    amount_ok += amount
                yield item
            elif state == "data" and kind == b"8":
                try:
                    self._check_trailer(record, count, total, count_ok, amount_ok)
                except _FieldError as err:
                    raise _located(
                        err, kind="trailer", line_number=line, record_number=None
                    ) from None
                state = "end"
            elif state == "end" and kind == b"9":
                state = "done"
            elif state == "done":
                raise _file_error(
                    "エンドレコードの後にデータがあります。",
                    "there is data after the end record.",
                    line,
                )
            else:
                shown = kind.decode("cp932", "replace")
                expected = {"data": "2 / 8", "end": "9"}[state]
                extra_ja = "（ヘッダーは 1 ファイル 1 つまで）" if kind == b"1" else ""
                extra_en = " (one header per file)" if kind == b"1" else ""
                raise _file_error(
                    f"データ区分 {shown!r} は想定外です（{expected} を期待）{extra_ja}。",
                    f"unexpected record type {shown!r} (expected {expected}){extra_en}.",
                    line,
                )
        if state != "done":
            missing_ja = "トレーラー" if state == "data" else "エンドレコード"
            missing_en = "trailer" if state == "data" else "end record"
            raise _file_error(
                f"{missing_ja}がないままファイルが終わっています。",
                f"the file ends without a {missing_en}.",
                last_line,
            )

    @staticmethod
    def _check_count(record: bytes, start: int, end: int, field: str, actual: int) -> None:
        stated = int(_p_num(record, start, end, field))
        if stated != actual:
            raise _FieldError(
                field,
                f"記載 {stated:,} に対し実際は {actual:,} です。",
                f"states {stated:,} but the records add up to {actual:,}.",
            )


class TransferFileReader(_Reader[TransferRecord]):
    """Read a 総合振込 file lazily: ``header`` at once, records while iterating.

    Used by the demo bank; the trailer's count and total are checked after the last record.
    """

    _expected_kind = TRANSFER_KIND_CODE

    def __init__(self, fp: IO[bytes]) -> None:
        super().__init__(fp)
        self.summary: TransferSummary | None = None

    def _parse_data(self, record: bytes, line_number: int) -> TransferRecord:
        marker = _slice(record, 113, 113)
        edi: str | None = None
        code1 = code2 = ""
        if marker == b"Y":
            edi = _p_text(record, 92, 111, "edi")
        elif marker == b" ":
            code1 = _p_num(record, 92, 101, "customer_code1")
            code2 = _p_num(record, 102, 111, "customer_code2")
        else:
            raise _FieldError("edi", "識別表示は空白か Y です。", "識別表示 must be space or Y.")
        return TransferRecord(
            bank_code=_p_num(record, 2, 5, "bank_code"),
            bank_name=_p_text(record, 6, 20, "bank_name"),
            branch_code=_p_num(record, 21, 23, "branch_code"),
            branch_name=_p_text(record, 24, 38, "branch_name"),
            account_type=_p_num(record, 43, 43, "account_type"),
            account_number=_p_num(record, 44, 50, "account_number"),
            recipient_name=_p_text(record, 51, 80, "recipient_name"),
            amount=int(_p_num(record, 81, 90, "amount")),
            new_code=int(_p_num(record, 91, 91, "new_code")),
            customer_code1=code1,
            customer_code2=code2,
            transfer_kind=_p_text(record, 112, 112, "transfer_kind"),
            edi=edi,
        )

    def _amount(self, item: TransferRecord) -> int:
        return item.amount

    def _check_trailer(
        self, record: bytes, count: int, total: int, items_ok: int, amount_ok: int
    ) -> None:
        self._check_count(record, 2, 7, "total_count", count)
        self._check_count(record, 8, 19, "total_amount", total)
        self.summary = TransferSummary(count=count, total_amount=total)


class ResultFileReader(_Reader[ResultRecord]):
    """Read a result file (口座振替 layout, any 種別コード) lazily, in constant memory.

    ``header`` is available at once; iterate for :class:`ResultRecord` s; after the last
    one ``trailer`` is set, its counts and amounts having been checked against the records
    (total, and 振替済 / 不能 where the bank filled them in). Unknown 振替結果コード and
    malformed fields raise :class:`ZenginFormatError` with the line number.
    """

    def __init__(self, fp: IO[bytes]) -> None:
        super().__init__(fp)
        self.trailer: ResultTrailer | None = None

    def _parse_data(self, record: bytes, line_number: int) -> ResultRecord:
        result_code = _slice(record, 112, 112).decode("cp932", "replace")
        if result_code not in RESULT_CODES:
            raise _FieldError(
                "result_code",
                f"未知のコード {result_code!r} です（{'・'.join(RESULT_CODES)} のいずれか）。",
                f"unknown code {result_code!r} (expected one of {', '.join(RESULT_CODES)}).",
            )
        return ResultRecord(
            bank_code=_p_num(record, 2, 5, "bank_code"),
            bank_name=_p_text(record, 6, 20, "bank_name"),
            branch_code=_p_num(record, 21, 23, "branch_code"),
            branch_name=_p_text(record, 24, 38, "branch_name"),
            account_type=_p_num(record, 43, 43, "account_type"),
            account_number=_p_num(record, 44, 50, "account_number"),
            name=_p_text(record, 51, 80, "recipient_name"),
            amount=int(_p_num(record, 81, 90, "amount")),
            new_code=_p_num(record, 91, 91, "new_code"),
            customer_number=_p_num(record, 92, 111, "customer_number"),
            result_code=result_code,
            line_number=line_number,
        )

    def _amount(self, item: ResultRecord) -> int:
        return item.amount

    def _succeeded(self, item: ResultRecord) -> bool:
        return item.succeeded

    def _check_trailer(
        self, record: bytes, count: int, total: int, items_ok: int, amount_ok: int
    ) -> None:
        self._check_count(record, 2, 7, "total_count", count)
        self._check_count(record, 8, 19, "total_amount", total)
        if _slice(record, 20, 55).strip(b" "):
            self._check_count(record, 20, 25, "succeeded_count", items_ok)
            self._check_count(record, 26, 37, "succeeded_amount", amount_ok)
            self._check_count(record, 38, 43, "failed_count", count - items_ok)
            self._check_count(record, 44, 55, "failed_amount", total - amount_ok)
            self.trailer = ResultTrailer(
                count, total, items_ok, amount_ok, count - items_ok, total - amount_ok
            )
        else:
            self.trailer = ResultTrailer(count, total, None, None, None, None)


def parse_result_file(data: bytes) -> ResultFile:
    """Parse a whole result file held in memory (CR LF or no line endings).

    For large files iterate a :class:`ResultFileReader` over the open file instead.
    """
    reader = ResultFileReader(io.BytesIO(data))
    records = list(reader)
    assert reader.trailer is not None
    return ResultFile(header=reader.header, records=records, trailer=reader.trailer)


def parse_transfer_file(data: bytes) -> TransferFile:
    """Parse a whole 総合振込 file held in memory (what a bank does with ours)."""
    reader = TransferFileReader(io.BytesIO(data))
    records = list(reader)
    assert reader.summary is not None
    return TransferFile(header=reader.header, records=records, summary=reader.summary)


# --- CSV results -------------------------------------------------------------------------

CSV_COLUMNS = ("顧客番号", "金額", "振替結果コード")


def parse_result_csv(text: str) -> list[ResultRow]:
    """Parse transfer results delivered as CSV instead of a fixed-length file.

    Format: UTF-8 text (a BOM is ignored; decode cp932 files before calling), first row the
    header ``顧客番号,金額,振替結果コード`` (other columns may follow and are ignored, column
    order is free), then one row per transfer:

    * 顧客番号: 1–20 digits, the 顧客コード1 + 2 sent in the transfer (zero-padded to 20);
    * 金額: the amount in yen, digits only;
    * 振替結果コード: one of :data:`RESULT_CODES`.

    Blank rows are skipped. The caller maps 顧客番号 to a payment
    (:attr:`ResultRow.payment_id`). Errors name the CSV line number (header = line 1).
    """
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        raise _file_error("CSV が空です。", "the CSV is empty.", None) from None
    missing = [column for column in CSV_COLUMNS if column not in header]
    if missing:
        raise _file_error(
            f"CSV の見出しに {'、'.join(missing)} がありません（必要: {','.join(CSV_COLUMNS)}）。",
            f"the CSV header lacks {', '.join(missing)} (needed: {','.join(CSV_COLUMNS)}).",
            1,
        )
    index = {column: header.index(column) for column in CSV_COLUMNS}
    rows: list[ResultRow] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise _file_error("列が足りません。", "the row has too few columns.", line)
        number, amount, code = (row[index[c]].strip() for c in CSV_COLUMNS)
        if not (number.isascii() and number.isdigit() and len(number) <= 20):
            raise _file_error(
                f"顧客番号は 1〜20 桁の数字です（{number!r}）。",
                f"顧客番号 must be 1 to 20 digits (got {number!r}).",
                line,
            )
        if not (amount.isascii() and amount.isdigit() and len(amount) <= 10):
            raise _file_error(
                f"金額は 10 桁以内の数字です（{amount!r}）。",
                f"金額 must be up to 10 digits (got {amount!r}).",
                line,
            )
        if code not in RESULT_CODES:
            raise _file_error(
                f"振替結果コード {code!r} は未知です。", f"unknown 振替結果コード {code!r}.", line
            )
        rows.append(
            ResultRow(
                line_number=line,
                customer_number=number.zfill(20),
                amount=int(amount),
                result_code=code,
            )
        )
    return rows
