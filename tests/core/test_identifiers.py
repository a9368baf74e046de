"""Check digits for My Number, corporate number, local government code, resident code.

Expected values come from docs REFERENCE (published examples), not from the code under test.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiban.core import identifiers as ids
from kiban.core.identifiers import IdentifierError

digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=20)
rngs = st.integers(min_value=0, max_value=2**32 - 1).map(random.Random)


def _reason(validator: Callable[[str], str], value: str) -> str:
    with pytest.raises(IdentifierError) as info:
        validator(value)
    return info.value.reason


# --- published examples ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["123456789018", "621498320257", "983205673214"])
def test_mynumber_reference_examples_are_valid(value: str) -> None:
    assert ids.validate_mynumber(value) == value
    assert ids.mynumber_check_digit(value[:-1]) == int(value[-1])


@pytest.mark.parametrize("value", ["621498320258", "123456789012"])
def test_mynumber_reference_counterexamples_fail_the_check_digit(value: str) -> None:
    assert _reason(ids.validate_mynumber, value) == "check_digit"


@pytest.mark.parametrize("value", ["5835678256246", "7123456789012", "4011001098993"])
def test_corporate_reference_examples_are_valid(value: str) -> None:
    assert ids.validate_corporate_number(value) == value
    assert ids.corporate_number_check_digit(value[1:]) == int(value[0])


def test_corporate_reference_counterexample_fails() -> None:
    assert _reason(ids.validate_corporate_number, "2835678256246") == "check_digit"


def test_corporate_check_digit_is_first_not_last() -> None:
    # 5835678256246 is valid; moving its first digit to the end must not be.
    assert _reason(ids.validate_corporate_number, "8356782562465") == "check_digit"


@pytest.mark.parametrize("value", ["131016", "141003", "011002", "130001", "011011"])
def test_lg_code_reference_examples_are_valid(value: str) -> None:
    assert ids.validate_lg_code(value) == value


def test_lg_code_reference_counterexample_fails() -> None:
    assert _reason(ids.validate_lg_code, "131017") == "check_digit"


def test_lg_code_check_digit_wraps_remainder_zero_to_one() -> None:
    # 00000: r = 0 -> (11 - 0) mod 10 = 1, the case a naive "11 - r" would get wrong.
    assert ids.lg_code_check_digit("00000") == 1
    assert ids.validate_lg_code("000001") == "000001"


def test_mynumber_remainder_zero_and_one_give_check_zero() -> None:
    # 00000000000: r = 0; 00000000001: weight 2 -> r = 2 -> 9; 00000000006: 12 mod 11 = 1 -> 0.
    assert ids.mynumber_check_digit("00000000000") == 0
    assert ids.mynumber_check_digit("00000000001") == 9
    assert ids.mynumber_check_digit("00000000006") == 0


# --- normalisation and error reasons ---------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "１２３４５６７８９０１８",
        "1234 5678 9018",
        "1234-5678-9018",
        "1234－5678－9018",
        "1234ー5678ー9018",
        "　123456789018 ",
        "1234\u22125678\u20109018",
    ],
)
def test_mynumber_accepts_typed_forms_and_returns_ascii(typed: str) -> None:
    assert ids.validate_mynumber(typed) == "123456789018"


@pytest.mark.parametrize(
    "value",
    ["12345678901a", "1234567890.18", "123456789O18", "١٢٣٤٥٦٧٨٩٠١٨", "12345678901²", "", "   "],
)
def test_non_digits_are_reported(value: str) -> None:
    reason = _reason(ids.validate_mynumber, value)
    # An empty (or all-separator) input has no bad character: it is too short.
    assert reason == ("length" if not value.strip() else "non_digit")


@pytest.mark.parametrize(
    ("validator", "good_length"),
    [
        (ids.validate_mynumber, 12),
        (ids.validate_corporate_number, 13),
        (ids.validate_lg_code, 6),
        (ids.validate_resident_code, 11),
    ],
)
@given(digits=digit_strings)
def test_wrong_length_is_reported_for_every_kind(
    validator: Callable[[str], str], good_length: int, digits: str
) -> None:
    if len(digits) == good_length:
        return
    assert _reason(validator, digits) == "length"


def test_error_carries_both_languages() -> None:
    with pytest.raises(IdentifierError) as info:
        ids.validate_mynumber("123")
    error = info.value
    assert isinstance(error, ValueError)
    assert "個人番号" in error.message_ja
    assert "My Number" in error.message_en
    assert str(error) == f"{error.message_ja} / {error.message_en}"


def test_check_digit_functions_reject_bad_bases() -> None:
    with pytest.raises(ValueError):
        ids.mynumber_check_digit("1234")
    with pytest.raises(ValueError):
        ids.corporate_number_check_digit("12345678901a")
    with pytest.raises(ValueError):
        ids.lg_code_check_digit("１２３４５")


def test_kinds_map_cli_names_to_validators() -> None:
    assert set(ids.KINDS) == {"mynumber", "corporate", "lgcode", "resident"}
    assert ids.KINDS["mynumber"]("123456789018") == "123456789018"
    assert ids.KINDS["corporate"]("5835678256246") == "5835678256246"
    assert ids.KINDS["lgcode"]("131016") == "131016"
    assert ids.KINDS["resident"]("１２３４５６７８９０１") == "12345678901"


def test_resident_code_checks_only_shape() -> None:
    # Formula unverified: every last digit is accepted.
    for last in "0123456789":
        assert ids.validate_resident_code(f"1234567890{last}") == f"1234567890{last}"
    assert _reason(ids.validate_resident_code, "1234567890") == "length"
    assert _reason(ids.validate_resident_code, "1234567890x") == "non_digit"


# --- properties ------------------------------------------------------------------------------


@given(rng=rngs)
def test_generated_numbers_validate(rng: random.Random) -> None:
    mynumber = ids.generate_mynumber(rng)
    corporate = ids.generate_corporate_number(rng)
    lg_code = ids.generate_lg_code(rng)
    resident = ids.generate_resident_code(rng)
    assert ids.validate_mynumber(mynumber) == mynumber and len(mynumber) == 12
    assert ids.validate_corporate_number(corporate) == corporate and len(corporate) == 13
    assert ids.validate_lg_code(lg_code) == lg_code and 1 <= int(lg_code[:2]) <= 47
    assert ids.validate_resident_code(resident) == resident and len(resident) == 11


def test_generation_is_reproducible_from_the_seed() -> None:
    assert ids.generate_mynumber(random.Random(7)) == ids.generate_mynumber(random.Random(7))


def _mynumber_remainder(base11: str) -> int:
    weights = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
    return sum(int(d) * w for d, w in zip(base11, weights, strict=True)) % 11


@given(rng=rngs, position=st.integers(0, 11), shift=st.integers(1, 9))
def test_mynumber_single_digit_change_breaks_check(
    rng: random.Random, position: int, shift: int
) -> None:
    """Any single-digit change is caught, except the one blind spot of the formula.

    r = 0 and r = 1 both give check digit 0, so a change to the first 11 digits that moves r
    between 0 and 1 keeps a valid number. Every other change must be rejected.
    """
    number = ids.generate_mynumber(rng)
    changed_digit = str((int(number[position]) + shift) % 10)
    changed = number[:position] + changed_digit + number[position + 1 :]
    blind_spot = position < 11 and {
        _mynumber_remainder(number[:11]),
        _mynumber_remainder(changed[:11]),
    } == {0, 1}
    if blind_spot:
        assert ids.validate_mynumber(changed) == changed
    else:
        assert _reason(ids.validate_mynumber, changed) == "check_digit"


def test_mynumber_blind_spot_exists() -> None:
    # Documented limitation: 00000000000 (r=0) and 00000000006 (r=1) share check digit 0.
    assert ids.validate_mynumber("000000000000") == "000000000000"
    assert ids.validate_mynumber("000000000060") == "000000000060"


@given(rng=rngs, position=st.integers(0, 12), shift=st.integers(1, 8))
def test_corporate_single_digit_change_other_than_0_9_swap_breaks_check(
    rng: random.Random, position: int, shift: int
) -> None:
    number = ids.generate_corporate_number(rng)
    old = int(number[position])
    new = (old + shift) % 10
    if {old, new} == {0, 9}:
        return  # differs by 9: invisible mod 9 (documented)
    changed = number[:position] + str(new) + number[position + 1 :]
    assert _reason(ids.validate_corporate_number, changed) == "check_digit"


@given(base=st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_corporate_check_digit_is_never_zero(base: str) -> None:
    assert 1 <= ids.corporate_number_check_digit(base) <= 9


@given(number=st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_mynumber_valid_iff_check_digit_matches(number: str) -> None:
    expected_ok = ids.mynumber_check_digit(number[:11]) == int(number[11])
    try:
        ids.validate_mynumber(number)
    except IdentifierError as error:
        assert not expected_ok and error.reason == "check_digit"
    else:
        assert expected_ok


@given(rng=rngs, separators=st.lists(st.sampled_from([" ", "-", "　", "－"]), max_size=4))
def test_normalised_forms_validate_to_the_same_value(
    rng: random.Random, separators: list[str]
) -> None:
    number = ids.generate_mynumber(rng)
    fullwidth = number.translate({ord(str(i)): chr(0xFF10 + i) for i in range(10)})
    typed = fullwidth
    for i, sep in enumerate(separators):
        cut = 3 * (i + 1)
        typed = typed[:cut] + sep + typed[cut:]
    assert ids.validate_mynumber(typed) == number


@given(text=st.text(max_size=20), kind=st.sampled_from(sorted(ids.KINDS)))
def test_validators_fail_only_with_identifier_error(text: str, kind: str) -> None:
    try:
        result = ids.KINDS[kind](text)
    except IdentifierError as error:
        assert error.reason in {"length", "non_digit", "check_digit"}
    else:
        assert result.isascii() and result.isdigit()
