"""Bank master lookups (bundled zengin-code data) and account field validation."""

from __future__ import annotations

import re

import pytest

from kiban.benefits.banks import (
    BankAccountError,
    UnknownBankError,
    lookup_branch,
    master_version,
    normalize_account_number,
    normalize_account_type,
    normalize_bank_code,
    normalize_branch_code,
)
from kiban.benefits.zengin_kana import is_zengin_text


def test_mizuho_head_office() -> None:
    info = lookup_branch("0001", "001")
    assert (info.bank_code, info.bank_name, info.bank_kana) == ("0001", "みずほ", "ミズホ")
    assert (info.branch_code, info.branch_name, info.branch_kana) == (
        "001",
        "東京営業部",
        "トウキヨウ",
    )
    assert info.bank_name_zengin == "ﾐｽﾞﾎ"
    assert info.branch_name_zengin == "ﾄｳｷﾖｳ"


def test_other_banks_and_full_width_codes() -> None:
    mufg = lookup_branch("０００５", "００１")
    assert mufg.bank_code == "0005"
    assert mufg.bank_name == "三菱ＵＦＪ"
    assert is_zengin_text(mufg.bank_name_zengin)
    assert len(mufg.bank_name_zengin) <= 15
    yucho = lookup_branch("9900", "008")
    assert yucho.bank_name == "ゆうちょ"


def test_unknown_bank_and_branch_are_told_apart() -> None:
    with pytest.raises(UnknownBankError) as caught:
        lookup_branch("9999", "001")
    assert caught.value.unknown == "bank"
    assert "9999" in caught.value.message_ja and "9999" in caught.value.message_en
    with pytest.raises(UnknownBankError) as caught:
        lookup_branch("0001", "999")
    assert caught.value.unknown == "branch"
    assert "みずほ" in caught.value.message_ja and "999" in caught.value.message_en


@pytest.mark.parametrize(
    ("bank", "branch", "field"),
    [
        ("001", "001", "bank_code"),
        ("00001", "001", "bank_code"),
        ("abcd", "001", "bank_code"),
        ("0001", "01", "branch_code"),
        ("0001", "0001", "branch_code"),
        ("0001", "", "branch_code"),
    ],
)
def test_malformed_codes(bank: str, branch: str, field: str) -> None:
    with pytest.raises(BankAccountError) as caught:
        lookup_branch(bank, branch)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_code_normalisers() -> None:
    assert normalize_bank_code(" 0001 ") == "0001"
    assert normalize_branch_code("１２３") == "123"
    with pytest.raises(BankAccountError):
        normalize_bank_code("٠٠٠١")  # Arabic-Indic digits are digits to str.isdigit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", "0000001"),
        ("1234567", "1234567"),
        ("0012345", "0012345"),
        (123, "0000123"),
        ("１２３", "0000123"),
    ],
)
def test_account_number_is_zero_padded(raw: str | int, expected: str) -> None:
    assert normalize_account_number(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345678", "12-345", "12 34", "-1", -1, True, 1.5])
def test_bad_account_numbers(raw: object) -> None:
    with pytest.raises(BankAccountError) as caught:
        normalize_account_number(raw)  # type: ignore[arg-type]
    assert caught.value.field == "account_number"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", "1"), (2, "2"), ("4", "4"), ("普通", "1"), ("当座", "2"), ("貯蓄", "4"), ("１", "1")],
)
def test_account_types(raw: str | int, expected: str) -> None:
    assert normalize_account_type(raw) == expected


@pytest.mark.parametrize("raw", ["3", "9", "0", "", True, "普通預金"])
def test_bad_account_types(raw: object) -> None:
    with pytest.raises(BankAccountError) as caught:
        normalize_account_type(raw)  # type: ignore[arg-type]
    assert caught.value.field == "account_type"


def test_master_version_is_pinned_with_its_data_date() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d{8}", master_version())
