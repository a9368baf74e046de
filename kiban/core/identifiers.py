"""Check digits for Japanese public identifiers (pure module: no Django).

Identifiers handled here, with the rules from docs REFERENCE "Check digits":

- 個人番号 (My Number): 12 digits, check digit last.
- 法人番号 (corporate number): 13 digits, check digit FIRST.
- 全国地方公共団体コード (local government code): 6 digits, check digit last.
- 住民票コード (resident record code): 11 digits. The check-digit formula (平成14年総務省告示
  第436号) is unverified, so only length and digits are checked; the code is stored as given.

Every validator accepts what people actually type: full-width digits, spaces (half or full
width) and hyphen-like separators are normalised away before validation. Anything else that is
not an ASCII digit is rejected with reason ``"non_digit"``. Validators return the normalised
value (ASCII digits only) so callers store one canonical form.

The check digits catch most typing errors but not all of them; see the notes on each
``*_check_digit`` function. Never put a real person's number in code, tests or fixtures:
use the ``generate_*`` functions, which make synthetic numbers with a valid check digit.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final, Literal

__all__ = [
    "KINDS",
    "IdentifierError",
    "Reason",
    "corporate_number_check_digit",
    "generate_corporate_number",
    "generate_lg_code",
    "generate_mynumber",
    "generate_resident_code",
    "lg_code_check_digit",
    "mynumber_check_digit",
    "normalize_digits",
    "validate_corporate_number",
    "validate_lg_code",
    "validate_mynumber",
    "validate_resident_code",
]

Reason = Literal["length", "non_digit", "check_digit"]

MYNUMBER_LENGTH: Final = 12
CORPORATE_NUMBER_LENGTH: Final = 13
LG_CODE_LENGTH: Final = 6
RESIDENT_CODE_LENGTH: Final = 11

_ASCII_DIGITS: Final = frozenset("0123456789")

# Full-width digits become ASCII; separators people type between digit groups are deleted.
# ー/ｰ are included because Japanese IMEs often produce the long-vowel mark where a hyphen
# was meant ("1234ー5678").
_SEPARATORS: Final = " \t\u3000-\uff0d\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff70"
_NORMALIZE_TABLE: Final = {
    **{0xFF10 + i: str(i) for i in range(10)},
    **{ord(ch): None for ch in _SEPARATORS},
}


class IdentifierError(ValueError):
    """An identifier failed validation.

    ``reason`` is a stable machine-readable code ("length", "non_digit" or "check_digit");
    ``message_ja`` and ``message_en`` are for people. ``str(error)`` gives both.
    """

    reason: Reason
    message_ja: str
    message_en: str

    def __init__(self, reason: Reason, message_ja: str, message_en: str) -> None:
        super().__init__(f"{message_ja} / {message_en}")
        self.reason = reason
        self.message_ja = message_ja
        self.message_en = message_en


def normalize_digits(value: str) -> str:
    """Turn full-width digits into ASCII and drop spaces and hyphen-like separators.

    Other characters are left in place so that validation can report them.
    """
    return value.translate(_NORMALIZE_TABLE)


def _check_shape(value: str, *, length: int, label_ja: str, label_en: str) -> str:
    """Normalise ``value`` and check it is exactly ``length`` ASCII digits."""
    normalized = normalize_digits(value)
    if any(ch not in _ASCII_DIGITS for ch in normalized):
        raise IdentifierError(
            "non_digit",
            f"{label_ja}には数字以外の文字を入力できません。",
            f"The {label_en} may contain digits only.",
        )
    if len(normalized) != length:
        raise IdentifierError(
            "length",
            f"{label_ja}は{length}桁の数字です（入力は{len(normalized)}桁）。",
            f"The {label_en} must be {length} digits (got {len(normalized)}).",
        )
    return normalized


def _require_base(base: str, length: int) -> list[int]:
    """Digits of a check-digit base; programming errors raise plain ValueError."""
    if len(base) != length or any(ch not in _ASCII_DIGITS for ch in base):
        raise ValueError(f"expected {length} ASCII digits, got {base!r}")
    return [int(ch) for ch in base]


def _check_digit_error(label_ja: str, label_en: str) -> IdentifierError:
    return IdentifierError(
        "check_digit",
        f"{label_ja}が正しくありません。入力内容を確認してください（検査用数字が一致しません）。",
        f"The {label_en} is not valid: please check it (check digit mismatch).",
    )


def _random_digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(count))


# --- 個人番号 (My Number) -------------------------------------------------------------------

_MYNUMBER_WEIGHTS: Final = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def mynumber_check_digit(base11: str) -> int:
    """Check digit of a My Number from its first 11 digits.

    r = sum(digit * weight) mod 11 with weights 6,5,4,3,2,7,6,5,4,3,2 (left to right);
    check = 0 if r <= 1 else 11 - r. Because r = 0 and r = 1 both give 0, a few single-digit
    typos (those that move r between 0 and 1) are not detected.
    """
    digits = _require_base(base11, MYNUMBER_LENGTH - 1)
    remainder = sum(d * w for d, w in zip(digits, _MYNUMBER_WEIGHTS, strict=True)) % 11
    return 0 if remainder <= 1 else 11 - remainder


def validate_mynumber(value: str) -> str:
    """Validate a 個人番号 and return it as 12 ASCII digits; raise IdentifierError."""
    number = _check_shape(value, length=MYNUMBER_LENGTH, label_ja="個人番号", label_en="My Number")
    if mynumber_check_digit(number[:-1]) != int(number[-1]):
        raise _check_digit_error("個人番号", "My Number")
    return number


def generate_mynumber(rng: random.Random) -> str:
    """A synthetic My Number with a valid check digit (for demos and tests only)."""
    base = _random_digits(rng, MYNUMBER_LENGTH - 1)
    return f"{base}{mynumber_check_digit(base)}"


# --- 法人番号 (corporate number) -------------------------------------------------------------


def corporate_number_check_digit(base12: str) -> int:
    """Check digit (the FIRST digit) of a 法人番号 from the 12 digits that follow it.

    With Pn the n-th digit of the base counted from the right, weight Qn = 1 for odd n and 2
    for even n; check = 9 - (sum(Pn * Qn) mod 9), so it is never 0. Replacing a 0 by a 9 (or
    the reverse) changes the sum by a multiple of 9 and goes undetected.
    """
    digits = _require_base(base12, CORPORATE_NUMBER_LENGTH - 1)
    total = sum(d * (1 if n % 2 == 1 else 2) for n, d in enumerate(reversed(digits), start=1))
    return 9 - total % 9


def validate_corporate_number(value: str) -> str:
    """Validate a 法人番号 and return it as 13 ASCII digits; raise IdentifierError."""
    number = _check_shape(
        value, length=CORPORATE_NUMBER_LENGTH, label_ja="法人番号", label_en="corporate number"
    )
    if corporate_number_check_digit(number[1:]) != int(number[0]):
        raise _check_digit_error("法人番号", "corporate number")
    return number


def generate_corporate_number(rng: random.Random) -> str:
    """A synthetic 法人番号 with a valid check digit (for demos and tests only)."""
    base = _random_digits(rng, CORPORATE_NUMBER_LENGTH - 1)
    return f"{corporate_number_check_digit(base)}{base}"


# --- 全国地方公共団体コード (local government code) -------------------------------------------

_LG_CODE_WEIGHTS: Final = (6, 5, 4, 3, 2)


def lg_code_check_digit(base5: str) -> int:
    """Check digit of a 全国地方公共団体コード from its first 5 digits.

    r = sum(digit * weight) mod 11 with weights 6,5,4,3,2; check = (11 - r) mod 10.
    r = 0 and r = 10 both give 1, so some single-digit typos are not detected.
    """
    digits = _require_base(base5, LG_CODE_LENGTH - 1)
    remainder = sum(d * w for d, w in zip(digits, _LG_CODE_WEIGHTS, strict=True)) % 11
    return (11 - remainder) % 10


def validate_lg_code(value: str) -> str:
    """Validate a 6-digit 全国地方公共団体コード; return it normalised; raise IdentifierError.

    Only the format and check digit are checked, not that the municipality exists.
    """
    code = _check_shape(
        value,
        length=LG_CODE_LENGTH,
        label_ja="地方公共団体コード",
        label_en="local government code",
    )
    if lg_code_check_digit(code[:-1]) != int(code[-1]):
        raise _check_digit_error("地方公共団体コード", "local government code")
    return code


def generate_lg_code(rng: random.Random) -> str:
    """A synthetic local government code: a real prefecture number (01-47), valid check digit.

    The result may or may not name an existing municipality.
    """
    base = f"{rng.randint(1, 47):02d}{_random_digits(rng, 3)}"
    return f"{base}{lg_code_check_digit(base)}"


# --- 住民票コード (resident record code) -----------------------------------------------------


def validate_resident_code(value: str) -> str:
    """Validate a 住民票コード: 11 digits after normalisation; raise IdentifierError.

    The check-digit formula is unverified, so the last digit is NOT checked (see module doc).
    """
    return _check_shape(
        value,
        length=RESIDENT_CODE_LENGTH,
        label_ja="住民票コード",
        label_en="resident record code",
    )


def generate_resident_code(rng: random.Random) -> str:
    """A synthetic 11-digit 住民票コード (random digits; no check digit is computed)."""
    return _random_digits(rng, RESIDENT_CODE_LENGTH)


KINDS: Final[dict[str, Callable[[str], str]]] = {
    "mynumber": validate_mynumber,
    "corporate": validate_corporate_number,
    "lgcode": validate_lg_code,
    "resident": validate_resident_code,
}
"""Validators by the kind names the CLI uses."""
