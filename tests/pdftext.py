"""Read text and shapes back out of a generated PDF, for layout tests.

A small PDF content-stream interpreter on top of pyHanko's reader (pypdf is not a project
dependency). It decodes text through each font's own ``/ToUnicode`` map and measures it with
the font's own ``/Widths`` as embedded in the file, so a test checks what a viewer would
draw, independently of the code that wrote the PDF. It understands what reportlab writes:
text (``BT``/``Tf``/``Tm``/``Td``/``Tj``/``TJ``...), the graphics state (``q``/``Q``/``cm``),
rectangles (``re``) and form XObjects (``Do``).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _mul(m: Matrix, n: Matrix) -> Matrix:
    """``m`` × ``n`` in PDF's row-vector convention (apply ``m`` first, then ``n``)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    )


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


@dataclass(frozen=True)
class TextRun:
    """One text-showing operation: its text and where it starts and ends on the page."""

    text: str
    x0: float
    x1: float
    y: float
    size: float  # effective size on the page (font size × text and graphics scaling)


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class Page:
    width: float
    height: float
    runs: list[TextRun] = field(default_factory=list)
    #: Bounding box of the rectangles drawn by each form XObject placed on the page.
    forms: list[tuple[str, Box]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.runs)

    def find(self, needle: str) -> list[TextRun]:
        return [r for r in self.runs if needle in r.text]


# --- tokens ----------------------------------------------------------------------------------

_DELIMS = b"()<>[]{}/%"
_WS = b" \t\r\n\f\x00"


class _Name(str):
    pass


class _Op(str):
    pass


def _string(data: bytes, i: int) -> tuple[bytes, int]:
    """A literal string starting after its "(" at ``i``; returns (bytes, index after ")")."""
    out = bytearray()
    depth = 1
    while True:
        ch = data[i]
        i += 1
        if ch == 0x5C:  # backslash
            nxt = data[i]
            i += 1
            simple = {0x6E: 10, 0x72: 13, 0x74: 9, 0x62: 8, 0x66: 12}
            if nxt in simple:
                out.append(simple[nxt])
            elif 0x30 <= nxt <= 0x37:
                digits = bytes([nxt])
                while len(digits) < 3 and 0x30 <= data[i] <= 0x37:
                    digits += bytes([data[i]])
                    i += 1
                out.append(int(digits, 8) & 0xFF)
            elif nxt in (0x0A, 0x0D):
                if nxt == 0x0D and data[i] == 0x0A:
                    i += 1
            else:
                out.append(nxt)
        elif ch == 0x28:
            depth += 1
            out.append(ch)
        elif ch == 0x29:
            depth -= 1
            if depth == 0:
                return bytes(out), i
            out.append(ch)
        else:
            out.append(ch)


def _tokens(data: bytes) -> list[Any]:
    """Operands (float, bytes, _Name, list) and operators (_Op) of a content stream."""
    out: list[Any] = []
    stack: list[list[Any]] = []
    i, n = 0, len(data)
    while i < n:
        ch = data[i]
        if ch in _WS:
            i += 1
        elif ch == 0x25:  # comment
            while i < n and data[i] not in b"\r\n":
                i += 1
        elif ch == 0x28:
            s, i = _string(data, i + 1)
            (stack[-1] if stack else out).append(s)
        elif ch == 0x3C and data[i + 1 : i + 2] == b"<":
            i += 2  # inline dictionaries do not occur in reportlab's page content
            (stack[-1] if stack else out).append(_Op("<<"))
        elif ch == 0x3E and data[i + 1 : i + 2] == b">":
            i += 2
            (stack[-1] if stack else out).append(_Op(">>"))
        elif ch == 0x3C:
            end = data.index(b">", i)
            hexes = re.sub(rb"\s", b"", data[i + 1 : end])
            (stack[-1] if stack else out).append(
                bytes.fromhex((hexes + b"0" * (len(hexes) % 2)).decode())
            )
            i = end + 1
        elif ch == 0x5B:
            stack.append([])
            i += 1
        elif ch == 0x5D:
            done = stack.pop()
            (stack[-1] if stack else out).append(done)
            i += 1
        else:
            j = i + 1 if ch == 0x2F else i
            while j < n and data[j] not in _WS and data[j] not in _DELIMS:
                j += 1
            word = data[i:j].decode("latin-1")
            i = j
            target = stack[-1] if stack else out
            if word.startswith("/"):
                target.append(_Name(word[1:]))
            else:
                try:
                    target.append(float(word))
                except ValueError:
                    target.append(_Op(word))
    return out


# --- fonts -----------------------------------------------------------------------------------


def _to_unicode(cmap: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}

    def utf16(h: bytes) -> str:
        return bytes.fromhex(h.decode()).decode("utf-16-be")

    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            mapping[int(src, 16)] = utf16(dst)
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for lo, hi, dst in re.findall(
            rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block
        ):
            start = int(dst, 16)
            for k, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                mapping[code] = chr(start + k)
    return mapping


@dataclass
class _Font:
    unicode: dict[int, str]
    first: int
    widths: list[float]
    standard: str  # BaseFont of a standard 14 font without /Widths (measured by reportlab)

    def decode(self, raw: bytes) -> str:
        if not self.unicode:
            return raw.decode("latin-1")
        return "".join(self.unicode.get(b, "\ufffd") for b in raw)

    def advance(self, raw: bytes) -> float:
        """Width of ``raw`` in text space units per 1 pt of font size."""
        if self.widths:
            total = 0.0
            for b in raw:
                k = b - self.first
                total += self.widths[k] if 0 <= k < len(self.widths) else 0.0
            return total / 1000
        from reportlab.pdfbase.pdfmetrics import stringWidth

        return stringWidth(raw.decode("latin-1"), self.standard or "Helvetica", 1)


def _font(obj: Any) -> _Font:
    unicode: dict[int, str] = {}
    if "/ToUnicode" in obj:
        unicode = _to_unicode(obj["/ToUnicode"].data)
    widths = [float(w) for w in _get(obj, "/Widths", [])]
    first = int(_get(obj, "/FirstChar", 0))
    return _Font(unicode, first, widths, str(_get(obj, "/BaseFont", "/Helvetica"))[1:])


# --- interpreter -----------------------------------------------------------------------------


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` dereferenced (pyHanko's ``get`` leaves indirect references as they are)."""
    if obj is None or key not in obj:
        return default
    return obj[key]


def _run(page: Page, content: bytes, resources: Any, ctm: Matrix, form_name: str = "") -> None:
    fonts: dict[str, _Font] = {}
    font_res = _get(resources, "/Font", {})
    xobjects = _get(resources, "/XObject", {})
    stack: list[Matrix] = []
    operands: list[Any] = []
    font: _Font | None = None
    size = 0.0
    leading = 0.0
    tm = lm = IDENTITY
    boxes: list[Box] = []
    joinable = False  # the last run may continue (same text object, no repositioning)

    def show(raw: bytes) -> None:
        nonlocal tm, joinable
        assert font is not None, "text shown before a font was set"
        trm = _mul(tm, ctm)
        x0, y0 = _apply(trm, 0, 0)
        tm = _mul((1, 0, 0, 1, font.advance(raw) * size, 0), tm)
        x1, _ = _apply(_mul(tm, ctm), 0, 0)
        scale = abs(_mul((size, 0, 0, size, 0, 0), trm)[3])
        run = TextRun(font.decode(raw), x0, x1, y0, scale)
        last = page.runs[-1] if page.runs else None
        # One drawString spanning two font subsets is two Tj in a row: one run again.
        if joinable and last is not None and abs(last.y - y0) < 0.01 and abs(last.x1 - x0) < 0.01:
            run = TextRun(last.text + run.text, last.x0, x1, y0, min(last.size, scale))
            page.runs[-1] = run
        else:
            page.runs.append(run)
        joinable = True

    for tok in _tokens(content):
        if not isinstance(tok, _Op):
            operands.append(tok)
            continue
        op = str(tok)
        args = operands
        operands = []
        if op not in ("Tj", "TJ", "Tf", "TL"):
            joinable = False
        if op == "q":
            stack.append(ctm)
        elif op == "Q":
            ctm = stack.pop()
        elif op == "cm":
            ctm = _mul(tuple(args[:6]), ctm)  # type: ignore[arg-type]
        elif op == "BT":
            tm = lm = IDENTITY
        elif op == "Tf":
            name = str(args[0])
            if name not in fonts:
                fonts[name] = _font(font_res[f"/{name}"])
            font, size = fonts[name], float(args[1])
        elif op == "TL":
            leading = float(args[0])
        elif op == "Tm":
            tm = lm = tuple(float(a) for a in args[:6])  # type: ignore[assignment]
        elif op in ("Td", "TD"):
            if op == "TD":
                leading = -float(args[1])
            tm = lm = _mul((1, 0, 0, 1, float(args[0]), float(args[1])), lm)
        elif op == "T*":
            tm = lm = _mul((1, 0, 0, 1, 0, -leading), lm)
        elif op == "Tj":
            show(args[0])
        elif op == "'":
            tm = lm = _mul((1, 0, 0, 1, 0, -leading), lm)
            show(args[0])
        elif op == "TJ":
            for part in args[0]:
                if isinstance(part, bytes):
                    show(part)
                else:
                    tm = _mul((1, 0, 0, 1, -float(part) / 1000 * size, 0), tm)
        elif op == "re":
            x, y, w, h = (float(a) for a in args[:4])
            xa, ya = _apply(ctm, x, y)
            xb, yb = _apply(ctm, x + w, y + h)
            boxes.append(Box(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)))
        elif op == "Do":
            name = str(args[0])
            xobj = xobjects[f"/{name}"]
            if str(_get(xobj, "/Subtype")) == "/Form":
                matrix = tuple(float(v) for v in _get(xobj, "/Matrix", IDENTITY))
                _run(page, xobj.data, _get(xobj, "/Resources", resources),
                     _mul(matrix, ctm), name)  # type: ignore[arg-type]  # fmt: skip
            else:
                xa, ya = _apply(ctm, 0, 0)
                xb, yb = _apply(ctm, 1, 1)
                page.forms.append((name, Box(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))))
    if form_name and boxes:
        page.forms.append((form_name, Box(min(b.x0 for b in boxes), min(b.y0 for b in boxes),
                                          max(b.x1 for b in boxes), max(b.y1 for b in boxes))))  # fmt: skip


def read_pages(pdf: bytes) -> list[Page]:
    """Every page of ``pdf`` (the latest revision, after any incremental update)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    pages: list[Page] = []

    def walk(node: Any) -> None:
        if str(_get(node, "/Type")) == "/Pages":
            for kid in node["/Kids"]:
                walk(kid.get_object())
            return
        box = [float(v) for v in node["/MediaBox"]]
        page = Page(width=box[2] - box[0], height=box[3] - box[1])
        contents = node["/Contents"]
        if isinstance(contents, list):
            data = b"\n".join(c.get_object().data for c in contents)
        else:
            data = contents.data
        _run(page, data, _get(node, "/Resources"), IDENTITY)
        pages.append(page)

    walk(reader.root["/Pages"])
    return pages


def page_text(pdf: bytes) -> str:
    """All text of all pages, one line per text-showing operation."""
    return "\n".join(p.text for p in read_pages(pdf))
