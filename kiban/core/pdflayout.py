"""Fitting text into a width on reportlab PDFs: shrink to fit, or wrap Japanese text.

Shared by the PDFs kiban draws (住民票の写し, benefit notice letters). Widths are measured with
the registered font's own metrics (``reportlab.pdfbase.pdfmetrics.stringWidth``), the same
ones the PDF's ``/Widths`` carry. Line breaking follows the basic Japanese rules (禁則): a
line does not start with closing brackets or punctuation, nor end with an opening bracket;
runs of Latin letters and digits break at spaces. Text that marks its phrase boundaries
with ZERO WIDTH SPACE (U+200B, :data:`BREAK`) breaks only there (and within a phrase only
when it is wider than a line). Pure module (no Django).
"""

from __future__ import annotations

from functools import lru_cache

from reportlab.pdfbase.pdfmetrics import stringWidth

__all__ = ["BREAK", "fit_lines", "fit_size", "wrap"]

#: Marks where a line may break in text with preferred break points (never drawn).
BREAK = "\u200b"

#: Characters that must not start a line (closing brackets, punctuation, small kana, ー).
NO_START = frozenset(
    "、。，．,.)]}）］｝〕〉》」』】・：；:;!?！？ー…‥ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々"
)
#: Characters that must not end a line (opening brackets).
NO_END = frozenset("([{（［｛〔〈《「『【")


def fit_size(text: str, font: str, size: float, room: float, *, minimum: float = 6.0) -> float:
    """The largest size from ``size`` down (0.5 pt steps, not below ``minimum``) at which
    ``text`` is at most ``room`` wide; ``minimum`` if even that is too wide."""
    width = stringWidth(text, font, size)
    if width <= room:
        return size
    # Width scales linearly with the size: start from the estimate, then step down.
    guess = max(minimum, int(size * room / width * 2) / 2)
    while guess > minimum and stringWidth(text, font, guess) > room:
        guess -= 0.5
    return max(guess, minimum)


def _units(text: str) -> list[str]:
    """Unbreakable pieces: the phrases between :data:`BREAK` marks if there are any; else
    one CJK character (with attached punctuation) or one Latin word with its trailing
    spaces."""
    if BREAK in text:
        phrases: list[str] = []
        for phrase in text.split(BREAK):
            if phrases and phrase and phrase[0] in NO_START:
                phrases[-1] += phrase
            elif phrase:
                phrases.append(phrase)
        return phrases
    units: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isascii() and not ch.isspace():
            j = i
            while j < n and text[j].isascii() and not text[j].isspace():
                j += 1
            while j < n and text[j] == " ":
                j += 1
            piece = text[i:j]
        else:
            piece = ch
            j = i + 1
        # An opening bracket holds on to what follows, even across a space ("「 「").
        if units and (piece[0] in NO_START or units[-1].rstrip(" ")[-1:] in NO_END):
            units[-1] += piece
        else:
            units.append(piece)
        i = j
    return units


def _split_long(unit: str, font: str, size: float, room: float) -> list[str]:
    """A piece wider than a line (a long URL or word) broken by characters."""
    parts: list[str] = []
    current = ""
    for ch in unit:
        if current and stringWidth(current + ch, font, size) > room:
            parts.append(current)
            current = ch
        else:
            current += ch
    if current:
        parts.append(current)
    return parts


def wrap(text: str, font: str, size: float, room: float) -> list[str]:
    """``text`` broken into lines at most ``room`` wide at ``size`` (empty text: one line)."""
    lines: list[str] = []
    current = ""
    for unit in _units(text):
        candidate = current + unit
        if stringWidth(candidate.rstrip(" "), font, size) <= room:
            current = candidate
            continue
        if current:
            lines.append(current.rstrip(" "))
            current = ""
        if stringWidth(unit.rstrip(" "), font, size) <= room:
            current = unit
        else:
            *full, current = _split_long(unit.rstrip(" "), font, size, room)
            lines.extend(full)
    lines.append(current.rstrip(" "))
    return lines


@lru_cache(maxsize=4096)
def fit_lines(
    text: str,
    font: str,
    size: float,
    room: float,
    *,
    minimum: float,
    single_minimum: float | None = None,
    max_lines: int = 2,
    balance: bool = False,
) -> tuple[float, tuple[str, ...]]:
    """(size, lines) to draw ``text`` within ``room``: never wider, never cut off.

    One line, shrunk from ``size`` down to ``single_minimum`` (default ``minimum``), if it
    fits; else wrapped at the largest size down to ``minimum`` that needs at most
    ``max_lines`` lines; else wrapped at ``minimum`` into as many lines as it takes.
    ``balance`` evens out the wrapped lines' lengths (for centred headings).
    """
    plain = text.replace(BREAK, "")
    floor = minimum if single_minimum is None else max(single_minimum, minimum)
    one = fit_size(plain, font, size, room, minimum=floor)
    if stringWidth(plain, font, one) <= room:
        return one, (plain,)
    current = size
    while current > minimum and len(wrap(text, font, current, room)) > max_lines:
        current -= 0.5
    current = max(current, minimum)
    lines = wrap(text, font, current, room)
    if balance:
        # The narrowest measure that still needs no more lines than ``room`` does.
        low, high = room / len(lines), room
        while high - low > 1:
            middle = (low + high) / 2
            if len(wrap(text, font, current, middle)) <= len(lines):
                high = middle
            else:
                low = middle
        lines = wrap(text, font, current, high)
    return current, tuple(lines)
