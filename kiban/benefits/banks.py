"""Bank and branch master (PyPI ``zengin-code``) and bank account field validation.

Pure module: no Django import. The master is bundled data, pinned by version in
pyproject.toml; :data:`MASTER_VERSION` ends with its data date (e.g. ``1.1.0.20260824``).
Importing ``zengin_code`` loads all ~29,000 branches (about 0.2 s), so it is imported on
first lookup only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from kiban.benefits.zengin_kana import bank_kana_to_zengin
from kiban.core.errors import ValidationFailed

__all__ = [
    "ACCOUNT_TYPES",
    "BankAccountError",
    "BranchInfo",
    "UnknownBankError",
    "lookup_branch",
    "master_version",
    "normalize_account_number",
    "normalize_account_type",
    "normalize_bank_code",
    "normalize_branch_code",
]

#: 預金種目 a benefit may be paid into: code → (Japanese, English).
ACCOUNT_TYPES: dict[str, tuple[str, str]] = {
    "1": ("普通", "ordinary"),
    "2": ("当座", "current"),
    "4": ("貯蓄", "savings"),
}
_ACCOUNT_TYPE_NAMES = {ja: code for code, (ja, _en) in ACCOUNT_TYPES.items()} | {
    en: code for code, (_ja, en) in ACCOUNT_TYPES.items()
}
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


class BankAccountError(ValidationFailed, ValueError):
    """A bank code, branch code, account number or account type that is malformed.

    ``field`` is one of ``bank_code``, ``branch_code``, ``account_number``, ``account_type``.
    """

    code = "bank_account_invalid"

    def __init__(self, message_ja: str, message_en: str, *, field: str) -> None:
        super().__init__(message_ja, message_en, details={"field": field})
        self.field = field


class UnknownBankError(ValidationFailed, LookupError):
    """Well-formed codes that are not in the bank master.

    ``unknown`` says which one: ``"bank"`` (the bank code itself is unknown) or ``"branch"``
    (the bank exists but has no such branch).
    """

    code = "unknown_bank"

    def __init__(
        self, message_ja: str, message_en: str, *, unknown: Literal["bank", "branch"]
    ) -> None:
        super().__init__(message_ja, message_en, details={"unknown": unknown})
        self.unknown = unknown


@dataclass(frozen=True, slots=True)
class BranchInfo:
    """One branch as the master describes it; kana are the master's full-width form."""

    bank_code: str
    bank_name: str
    bank_kana: str
    branch_code: str
    branch_name: str
    branch_kana: str

    @property
    def bank_name_zengin(self) -> str:
        """Bank name for a Zengin file: half-width kana, at most 15 bytes."""
        return bank_kana_to_zengin(self.bank_kana)

    @property
    def branch_name_zengin(self) -> str:
        """Branch name for a Zengin file: half-width kana, at most 15 bytes."""
        return bank_kana_to_zengin(self.branch_kana)


def _digits(
    value: str | int, *, field: str, label_ja: str, label_en: str, width: int, pad: bool
) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BankAccountError(
            f"{label_ja}は数字で指定してください。",
            f"The {label_en} must be digits.",
            field=field,
        )
    text = str(value).strip().translate(_FULL_WIDTH_DIGITS)
    ok_length = 1 <= len(text) <= width if pad else len(text) == width
    if not (text.isascii() and text.isdigit()) or not ok_length:
        need_ja = f"1〜{width}桁" if pad else f"{width}桁"
        need_en = f"1 to {width} digits" if pad else f"exactly {width} digits"
        raise BankAccountError(
            f"{label_ja}は{need_ja}の数字です（入力: {value!s}）。",
            f"The {label_en} must be {need_en} (got {value!s}).",
            field=field,
        )
    return text.zfill(width)


def normalize_bank_code(code: str) -> str:
    """Exactly 4 digits (full-width digits are accepted and folded)."""
    return _digits(
        code, field="bank_code", label_ja="金融機関コード", label_en="bank code", width=4, pad=False
    )


def normalize_branch_code(code: str) -> str:
    """Exactly 3 digits (full-width digits are accepted and folded)."""
    return _digits(
        code, field="branch_code", label_ja="支店コード", label_en="branch code", width=3, pad=False
    )


def normalize_account_number(number: str | int) -> str:
    """1–7 digits, zero-padded on the left to the 7 digits Zengin files carry.

    ``"12345"`` → ``"0012345"``. Eight digits or more are refused: 7 is the field width,
    and ゆうちょ numbers (8 digits) must first be converted to their 振込用 branch/number.
    """
    return _digits(
        number,
        field="account_number",
        label_ja="口座番号",
        label_en="account number",
        width=7,
        pad=True,
    )


def normalize_account_type(account_type: str | int) -> str:
    """``"1"`` 普通, ``"2"`` 当座 or ``"4"`` 貯蓄; also accepts 1/2/4 as int or the names."""
    key = str(account_type).strip() if not isinstance(account_type, bool) else ""
    key = key.translate(_FULL_WIDTH_DIGITS)
    code = key if key in ACCOUNT_TYPES else _ACCOUNT_TYPE_NAMES.get(key)
    if code is None:
        raise BankAccountError(
            f"預金種目は 1（普通）、2（当座）、4（貯蓄）のいずれかです（入力: {account_type!s}）。",
            "The account type must be 1 (ordinary), 2 (current) or 4 (savings)"
            f" (got {account_type!s}).",
            field="account_type",
        )
    return code


@cache
def _banks() -> Any:
    from zengin_code import Bank  # bundled data, loaded once on first use

    return Bank.all


def master_version() -> str:
    """Version of the bundled bank master; the suffix is its data date."""
    _banks()
    import zengin_code

    return str(zengin_code.__version__)


def lookup_branch(bank_code: str, branch_code: str) -> BranchInfo:
    """Find a branch in the bank master.

    Codes are validated first (:class:`BankAccountError` if malformed); well-formed codes
    missing from the master raise :class:`UnknownBankError` saying whether the bank or the
    branch is unknown.
    """
    bank_code = normalize_bank_code(bank_code)
    branch_code = normalize_branch_code(branch_code)
    bank = _banks().get(bank_code)
    if bank is None:
        raise UnknownBankError(
            f"金融機関コード {bank_code} の銀行が見つかりません。",
            f"No bank has the code {bank_code}.",
            unknown="bank",
        )
    branch = bank.branches.get(branch_code)
    if branch is None:
        raise UnknownBankError(
            f"{bank.name}（{bank_code}）に支店コード {branch_code} の支店がありません。",
            f"Bank {bank.roma.title()} ({bank_code}) has no branch with the code {branch_code}.",
            unknown="branch",
        )
    return BranchInfo(
        bank_code=bank_code,
        bank_name=str(bank.name),
        bank_kana=str(bank.kana),
        branch_code=branch_code,
        branch_name=str(branch.name),
        branch_kana=str(branch.kana),
    )
