"""Zengin 総合振込 files out and result files back, checked byte by byte against REFERENCE."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiban.benefits import zengin
from kiban.benefits.zengin import (
    RESULT_CODES,
    ResultFileReader,
    ResultRecord,
    TransferHeader,
    TransferRecord,
    ZenginFormatError,
    customer_codes_for_payment,
    iter_transfer_file,
    parse_result_csv,
    parse_result_file,
    parse_transfer_file,
    payment_id_from_customer_number,
    write_result_file,
    write_transfer_file,
    write_transfer_file_to,
)

HEADER = TransferHeader(
    requester_code="0123456789",
    requester_name="ｼﾌﾞﾔｸ ｷﾕｳﾌｷﾝ",
    transfer_date=date(2027, 1, 4),
    bank_code="0001",
    bank_name="ﾐｽﾞﾎ",
    branch_code="001",
    branch_name="ﾄｳｷﾖｳ",
    account_type="1",
    account_number="765",
)


def record(payment_id: int = 1, **changes: object) -> TransferRecord:
    code1, code2 = customer_codes_for_payment(payment_id)
    base = TransferRecord(
        bank_code="0005",
        bank_name="ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ",
        branch_code="123",
        branch_name="ｼﾌﾞﾔ",
        account_type="1",
        account_number="1234",
        recipient_name="ﾔﾏﾀﾞ ｼﾖｳｺﾞ",
        amount=100_000,
        customer_code1=code1,
        customer_code2=code2,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def pos(rec: bytes, start: int, end: int) -> bytes:
    """Bytes at 1-based inclusive positions, as REFERENCE writes them."""
    return rec[start - 1 : end]


def lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n")
    parts = data[:-2].split(b"\r\n")
    assert all(len(p) == 120 for p in parts)
    return parts


def test_header_layout() -> None:
    header = lines(write_transfer_file(HEADER, [record()]))[0]
    assert pos(header, 1, 1) == b"1"
    assert pos(header, 2, 3) == b"21"
    assert pos(header, 4, 4) == b"0"
    assert pos(header, 5, 14) == b"0123456789"
    name = "ｼﾌﾞﾔｸ ｷﾕｳﾌｷﾝ".encode("cp932")
    assert len(name) == 12  # ﾞ is its own byte
    assert pos(header, 15, 54) == name + b" " * 28  # C: left-aligned, space-filled
    assert pos(header, 55, 58) == b"0104"  # MMDD
    assert pos(header, 59, 62) == b"0001"
    assert pos(header, 63, 77) == b"\xd0\xbd\xde\xce" + b" " * 11  # ﾐｽﾞﾎ
    assert pos(header, 78, 80) == b"001"
    assert pos(header, 81, 95) == "ﾄｳｷﾖｳ".encode("cp932").ljust(15)
    assert pos(header, 96, 96) == b"1"
    assert pos(header, 97, 103) == b"0000765"  # N: right-aligned, zero-filled
    assert pos(header, 104, 120) == b" " * 17


def test_data_record_layout() -> None:
    data = lines(write_transfer_file(HEADER, [record(payment_id=4321, amount=98_765)]))[1]
    assert pos(data, 1, 1) == b"2"
    assert pos(data, 2, 5) == b"0005"
    assert pos(data, 6, 20) == "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ".encode("cp932").ljust(15)
    assert pos(data, 21, 23) == b"123"
    assert pos(data, 24, 38) == b"\xbc\xcc\xde\xd4" + b" " * 11  # ｼﾌﾞﾔ
    assert pos(data, 39, 42) == b"0000"
    assert pos(data, 43, 43) == b"1"
    assert pos(data, 44, 50) == b"0001234"
    # ﾔﾏﾀﾞ ｼﾖｳｺﾞ: large ﾖ (0xD6), not small ｮ (0xAE)
    assert pos(data, 51, 80) == b"\xd4\xcf\xc0\xde \xbc\xd6\xb3\xba\xde" + b" " * 20
    assert pos(data, 81, 90) == b"0000098765"
    assert pos(data, 91, 91) == b"0"
    assert pos(data, 92, 101) == b"0000000000"
    assert pos(data, 102, 111) == b"0000004321"
    assert pos(data, 112, 112) == b"7"
    assert pos(data, 113, 113) == b" "
    assert pos(data, 114, 120) == b" " * 7


def test_edi_record() -> None:
    data = lines(
        write_transfer_file(
            HEADER, [record(customer_code1="", customer_code2="", edi="INV-2027 01")]
        )
    )[1]
    assert pos(data, 92, 111) == b"INV-2027 01".ljust(20)
    assert pos(data, 113, 113) == b"Y"
    with pytest.raises(ZenginFormatError) as caught:
        write_transfer_file(HEADER, [record(edi="X")])  # customer codes set as well
    assert caught.value.field == "edi"


def test_trailer_and_end_records() -> None:
    amounts = [1, 250_000, 9_999_999_999]
    recs = [record(payment_id=i, amount=a) for i, a in enumerate(amounts)]
    out = lines(write_transfer_file(HEADER, recs))
    assert len(out) == 1 + len(amounts) + 2
    trailer, end = out[-2], out[-1]
    assert pos(trailer, 1, 1) == b"8"
    assert pos(trailer, 2, 7) == b"000003"
    assert pos(trailer, 8, 19) == b"%012d" % sum(amounts)
    assert pos(trailer, 20, 120) == b" " * 101
    assert end == b"9" + b" " * 119


def test_line_endings() -> None:
    crlf = write_transfer_file(HEADER, [record(), record(2)])
    bare = write_transfer_file(HEADER, [record(), record(2)], line_ending="")
    assert len(crlf) == 5 * 122 and crlf.count(b"\r\n") == 5
    assert len(bare) == 5 * 120 and b"\r" not in bare and b"\n" not in bare
    assert crlf.replace(b"\r\n", b"") == bare
    for bad in ("\n", "\r", "\n\r"):
        with pytest.raises(ValueError, match="line_ending"):
            write_transfer_file(HEADER, [record()], line_ending=bad)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, zengin.MAX_AMOUNT), min_size=0, max_size=30))
def test_trailer_totals_equal_the_sum_and_round_trip(amounts: list[int]) -> None:
    recs = [record(payment_id=i, amount=a) for i, a in enumerate(amounts)]
    data = write_transfer_file(HEADER, recs, line_ending="")
    assert len(data) == 120 * (len(amounts) + 3)
    trailer = data[-240:-120]
    assert int(pos(trailer, 2, 7)) == len(amounts)
    assert int(pos(trailer, 8, 19)) == sum(amounts)
    parsed = parse_transfer_file(data)
    assert [r.amount for r in parsed.records] == amounts
    assert [r.customer_number for r in parsed.records] == [r.customer_number for r in recs]


def test_transfer_file_parses_back_to_the_same_records() -> None:
    recs = [record(1), record(2, account_type="4", transfer_kind="8", new_code=1)]
    parsed = parse_transfer_file(write_transfer_file(HEADER, recs))
    assert parsed.header.kind_code == "21"
    assert parsed.header.transfer_date_in(2027) == HEADER.transfer_date
    assert parsed.header.requester_name == HEADER.requester_name
    assert parsed.header.account_number == "0000765"
    assert parsed.summary.count == 2
    for sent, got in zip(recs, parsed.records, strict=True):
        assert got.recipient_name == sent.recipient_name
        assert got.account_number == sent.account_number.zfill(7)
        assert got.account_type == sent.account_type
        assert got.transfer_kind == sent.transfer_kind
        assert got.new_code == sent.new_code
        assert got.customer_number == sent.customer_number


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": zengin.MAX_AMOUNT + 1}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": True}, "amount"),
        ({"account_number": "12345678"}, "account_number"),
        ({"account_number": "12-34"}, "account_number"),
        ({"account_number": ""}, "account_number"),
        ({"bank_code": "005"}, "bank_code"),
        ({"branch_code": "1234"}, "branch_code"),
        ({"account_type": "3"}, "account_type"),
        ({"recipient_name": "ｼｮｳｺﾞ"}, "recipient_name"),  # small kana
        ({"recipient_name": "ﾀﾛｰ"}, "recipient_name"),  # half-width long vowel
        ({"recipient_name": "ﾔﾏﾀﾞ,ﾀﾛｳ"}, "recipient_name"),
        ({"recipient_name": "山田"}, "recipient_name"),
        ({"recipient_name": "ﾔﾏﾀﾞ"}, None),  # control: valid
        ({"recipient_name": "ｱ" * 31}, "recipient_name"),
        ({"recipient_name": ""}, "recipient_name"),
        ({"bank_name": "ｱ" * 16}, "bank_name"),
        ({"customer_code1": "12345678901"}, "customer_code1"),
        ({"customer_code2": "12a"}, "customer_code2"),
        ({"new_code": 3}, "new_code"),
        ({"transfer_kind": "9"}, "transfer_kind"),
    ],
)
def test_bad_data_fields_name_the_record(changes: dict[str, object], field: str | None) -> None:
    recs = [record(1), record(2, **changes), record(3)]
    if field is None:
        assert len(write_transfer_file(HEADER, recs)) == 6 * 122
        return
    with pytest.raises(ZenginFormatError) as caught:
        write_transfer_file(HEADER, recs)
    err = caught.value
    assert isinstance(err, ValueError)
    assert (err.record_number, err.line_number, err.field) == (2, 3, field)
    assert "2 件目" in err.message_ja and "3 行目" in err.message_ja
    assert "data record 2" in err.message_en and "line 3" in err.message_en


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"requester_code": "123456789"}, "requester_code"),
        ({"requester_name": "ｱ" * 41}, "requester_name"),
        ({"requester_name": "ｼﾌﾞﾔ区"}, "requester_name"),
        ({"account_type": "4"}, "account_type"),  # header allows 1, 2, 9 only
        ({"account_number": "12345678"}, "account_number"),
    ],
)
def test_bad_header_fields(changes: dict[str, object], field: str) -> None:
    header = replace(HEADER, **changes)  # type: ignore[arg-type]
    with pytest.raises(ZenginFormatError) as caught:
        iter_transfer_file(header, [])  # checked before the first record is asked for
    assert (caught.value.line_number, caught.value.field) == (1, field)


def test_optional_characters_only_when_allowed() -> None:
    rec = record(recipient_name="ｦﾉ/ｶ")
    with pytest.raises(ZenginFormatError):
        write_transfer_file(HEADER, [rec])
    data = write_transfer_file(HEADER, [rec], allow="ｦ/")
    assert pos(lines(data)[1], 51, 54) == b"\xa6\xc9/\xb6"


def test_streaming_writer_is_lazy_and_constant_memory() -> None:
    def endless() -> Iterator[TransferRecord]:
        for i in itertools.count():
            yield record(i)

    first = list(itertools.islice(iter_transfer_file(HEADER, endless()), 3))
    assert [chunk[:1] for chunk in first] == [b"1", b"2", b"2"]

    fp = io.BytesIO()
    summary = write_transfer_file_to(fp, HEADER, (record(i, amount=i + 1) for i in range(2000)))
    assert (summary.count, summary.total_amount) == (2000, sum(range(1, 2001)))
    assert len(fp.getvalue()) == 2003 * 122


def test_more_records_than_the_trailer_can_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zengin, "MAX_RECORDS", 2)
    with pytest.raises(ZenginFormatError) as caught:
        write_transfer_file(HEADER, [record(1), record(2), record(3)])
    assert caught.value.record_number == 3


def test_customer_codes_round_trip() -> None:
    assert customer_codes_for_payment(12_345_678_901_234) == ("0000001234", "5678901234")
    assert payment_id_from_customer_number("00000012345678901234") == 12_345_678_901_234
    with pytest.raises(ValueError):
        customer_codes_for_payment(10**20)
    with pytest.raises(ValueError):
        payment_id_from_customer_number("12a")


# --- results ---------------------------------------------------------------------------


def results_for(codes: str) -> tuple[list[TransferRecord], bytes]:
    recs = [record(payment_id=1000 + i, amount=(i + 1) * 1000) for i in range(len(codes))]
    parsed = parse_transfer_file(write_transfer_file(HEADER, recs))  # as the bank reads it
    returned = [
        ResultRecord.from_transfer(r, code) for r, code in zip(parsed.records, codes, strict=True)
    ]
    return recs, write_result_file(parsed.header, returned)


def test_result_file_layout() -> None:
    _recs, data = results_for("01")
    out = lines(data)
    assert pos(out[0], 1, 4) == b"1910"
    assert pos(out[0], 55, 58) == b"0104"
    ok, failed = out[1], out[2]
    assert pos(ok, 51, 80) == "ﾔﾏﾀﾞ ｼﾖｳｺﾞ".encode("cp932").ljust(30)
    assert pos(ok, 81, 90) == b"0000001000"
    assert pos(ok, 92, 111) == b"00000000000000001000"
    assert pos(ok, 112, 112) == b"0"
    assert pos(failed, 112, 112) == b"1"
    trailer = out[3]
    assert pos(trailer, 2, 7) == b"000002"
    assert pos(trailer, 8, 19) == b"%012d" % 3000
    assert pos(trailer, 20, 25) == b"000001"
    assert pos(trailer, 26, 37) == b"%012d" % 1000
    assert pos(trailer, 38, 43) == b"000001"
    assert pos(trailer, 44, 55) == b"%012d" % 2000


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="0123489", min_size=1, max_size=25), st.sampled_from(["", "\r\n"]))
def test_round_trip_transfer_to_result(codes: str, eol: str) -> None:
    recs, data = results_for(codes)
    if eol == "":
        data = data.replace(b"\r\n", b"")
    result = parse_result_file(data)
    assert [r.payment_id for r in result.records] == [1000 + i for i in range(len(codes))]
    assert [r.result_code for r in result.records] == list(codes)
    assert [r.amount for r in result.records] == [r.amount for r in recs]
    assert [r.line_number for r in result.records] == list(range(2, len(codes) + 2))
    trailer = result.trailer
    assert trailer.total_count == len(codes)
    assert trailer.succeeded_count == codes.count("0")
    assert trailer.succeeded_amount == sum(
        r.amount for r, c in zip(recs, codes, strict=True) if c == "0"
    )
    assert trailer.failed_amount == sum(
        r.amount for r, c in zip(recs, codes, strict=True) if c != "0"
    )


def test_result_reader_streams_from_a_file_object() -> None:
    _recs, data = results_for("0" * 50)
    reader = ResultFileReader(io.BytesIO(data))
    assert reader.header.kind_code == "91"
    assert reader.trailer is None
    assert sum(1 for _ in reader) == 50
    assert reader.trailer is not None and reader.trailer.total_count == 50


def test_result_file_with_blank_detail_counts_and_eof_marker() -> None:
    _recs, data = results_for("02")
    out = lines(data)
    out[3] = pos(out[3], 1, 19) + b" " * 101
    result = parse_result_file(b"\r\n".join(out) + b"\r\n\x1a")
    assert result.trailer.succeeded_count is None
    assert result.trailer.total_amount == 3000


def _corrupt(data: bytes, line: int, start: int, new: bytes) -> bytes:
    out = lines(data)
    rec = out[line - 1]
    out[line - 1] = rec[: start - 1] + new + rec[start - 1 + len(new) :]
    return b"\r\n".join(out) + b"\r\n"


@pytest.mark.parametrize(
    ("mutate", "line", "field"),
    [
        (lambda d: _corrupt(d, 3, 112, b"5"), 3, "result_code"),
        (lambda d: _corrupt(d, 2, 81, b"00000x0000"), 2, "amount"),
        (lambda d: _corrupt(d, 4, 2, b"000003"), 4, "total_count"),
        (lambda d: _corrupt(d, 4, 8, b"000000000001"), 4, "total_amount"),
        (lambda d: _corrupt(d, 4, 20, b"000002"), 4, "succeeded_count"),
        (lambda d: _corrupt(d, 1, 4, b"1"), 1, "code_division"),
        (lambda d: _corrupt(d, 1, 55, b"1332"), 1, "transfer_date"),
        (lambda d: _corrupt(d, 2, 1, b"7"), 2, "file"),
        (lambda d: d.replace(b"\r\n", b"\n"), 2, "file"),  # LF alone
        (lambda d: d[: 122 * 2 + 60], 3, "file"),  # cut inside a record
        (lambda d: d[: 122 * 4], 4, "file"),  # no end record
        (lambda d: d[: 122 * 3], 3, "file"),  # no trailer
        (lambda d: d + d[-122:], 6, "file"),  # data after the end record
        (lambda d: d[:122] + d, 2, "file"),  # second header
        (lambda d: d[:120] + b"\r\r" + d[122:], 2, "file"),
    ],
)
def test_malformed_result_files_report_the_line(mutate, line: int, field: str) -> None:  # type: ignore[no-untyped-def]
    _recs, data = results_for("01")
    with pytest.raises(ZenginFormatError) as caught:
        parse_result_file(mutate(data))
    assert (caught.value.line_number, caught.value.field) == (line, field)
    assert f"{line} 行目" in caught.value.message_ja


def test_empty_result_file() -> None:
    with pytest.raises(ZenginFormatError):
        parse_result_file(b"")


def test_result_codes_table_has_both_languages() -> None:
    assert set(RESULT_CODES) == set("0123489")
    assert RESULT_CODES["1"].ja == "資金不足"
    assert all(code.ja and code.en for code in RESULT_CODES.values())


def test_result_csv() -> None:
    text = (
        "\ufeff顧客番号,金額,振替結果コード,備考\r\n"
        "1001,5000,0,\r\n"
        "\r\n"
        "00000000000000001002,7000,2,x\r\n"
    )
    rows = parse_result_csv(text)
    assert [(r.payment_id, r.amount, r.result_code, r.line_number) for r in rows] == [
        (1001, 5000, "0", 2),
        (1002, 7000, "2", 4),
    ]
    assert rows[0].customer_number == "00000000000000001001"
    assert rows[0].succeeded and not rows[1].succeeded
    reordered = parse_result_csv("振替結果コード,顧客番号,金額\n9,1,1\n")
    assert (reordered[0].result_code, reordered[0].payment_id) == ("9", 1)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("顧客番号,金額\n1,1\n", 1),
        ("顧客番号,金額,振替結果コード\n1,1,5\n", 2),
        ("顧客番号,金額,振替結果コード\n1,1,0\nx,1,0\n", 3),
        ("顧客番号,金額,振替結果コード\n1,-1,0\n", 2),
        ("顧客番号,金額,振替結果コード\n1,1\n", 2),
        ("顧客番号,金額,振替結果コード\n" + "1" * 21 + ",1,0\n", 2),
    ],
)
def test_bad_result_csv(text: str, line: int) -> None:
    with pytest.raises(ZenginFormatError) as caught:
        parse_result_csv(text)
    assert caught.value.line_number == line
