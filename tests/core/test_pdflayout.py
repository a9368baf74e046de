"""Fitting text into a width: shrink to fit, or wrap Japanese text within the width."""

from __future__ import annotations

import itertools

import pytest
from django.conf import settings as django_settings
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from kiban.core.pdflayout import BREAK, NO_END, NO_START, _units, fit_lines, fit_size, wrap

FONT = "PdfLayoutTestJP"


@pytest.fixture(scope="module", autouse=True)
def _font() -> None:
    pdfmetrics.registerFont(TTFont(FONT, str(django_settings.PDF_FONT_PATH)))


def width(text: str, size: float) -> float:
    return pdfmetrics.stringWidth(text, FONT, size)


CHARS = st.sampled_from(
    list("給付金のお知らせ住民票写し令和八年度特別定額ー、。（）「」・ abcXYZ0123456789")
)


def test_fit_size_is_the_largest_half_point_that_fits() -> None:
    text = "神奈川県横浜市中区山下町1丁目2番3号　グランドメゾン横浜山下町"
    size = fit_size(text, FONT, 12, 300)
    assert width(text, size) <= 300 < width(text, size + 0.5)
    assert size * 2 == int(size * 2)
    assert fit_size("短い", FONT, 12, 300) == 12
    assert fit_size(text * 5, FONT, 12, 300, minimum=8) == 8


@settings(max_examples=80, deadline=None)
@given(st.text(CHARS, max_size=120), st.floats(60, 400))
@example("00、、「 「", 60.0)  # a space after an opening bracket is no place to break
def test_wrap_keeps_every_character_and_every_line_fits(text: str, room: float) -> None:
    lines = wrap(text, FONT, 11, room)
    assert all(width(line, 11) <= room + 1e-6 for line in lines)
    # Only spaces at a break are dropped.
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    # 禁則: where no unbreakable piece is wider than a line, no line starts with closing
    # punctuation or ends with an opening bracket.
    if all(width(u.rstrip(" "), 11) <= room for u in _units(text)):
        for previous, line in itertools.pairwise(lines):
            assert not line or line[0] not in NO_START, lines
            assert not previous or previous[-1] not in NO_END, lines


def test_wrap_prefers_marked_phrase_boundaries() -> None:
    text = BREAK.join(["公金受取口座が", "登録されていないため、", "お振込みが", "できません。"])
    lines = wrap(text, FONT, 11, width("公金受取口座が登録されて", 11))
    # Breaks only between phrases: never inside 登録されて|いないため.
    assert lines == ["公金受取口座が", "登録されていないため、", "お振込みができません。"]


def test_fit_lines_shrinks_then_wraps_and_never_cuts() -> None:
    room = 450.0
    short = "定額給付金のお知らせ"
    assert fit_lines(short, FONT, 16, room, minimum=10) == (16, (short,))
    slightly = "令和八年度物価高騰対策重点支援地方創生臨時給付金のお知らせ"  # shrinks
    size, lines = fit_lines(slightly, FONT, 16, room, minimum=10, single_minimum=13)
    assert lines == (slightly,) and 13 <= size < 16 and width(slightly, size) <= room
    long = "令和八年度物価高騰対策重点支援地方創生臨時交付金を活用した低所得世帯及び子育て世帯への特別給付金のお知らせ"
    size, lines = fit_lines(long, FONT, 16, room, minimum=10, single_minimum=13, balance=True)
    assert len(lines) == 2 and "".join(lines) == long and size >= 10
    assert all(width(line, size) <= room for line in lines)
    assert abs(len(lines[0]) - len(lines[1])) <= 2  # balanced for a centred heading
    huge = long * 6
    size, lines = fit_lines(huge, FONT, 16, room, minimum=10)
    assert size == 10 and "".join(lines) == huge and len(lines) > 2
