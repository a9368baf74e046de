"""Notice letters (給付金のお知らせ) for payees who have no registered account.

One A4 page per entitlement (per household in a household program), addressed to the payee
at their latest registry address, with wareki dates and a QR code that opens the portal's
online application (account registration) for the program. Letters are batched into PDF
files of ``per_file`` pages for printing; the file names sort in print order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from kiban.benefits.models import Program
from kiban.benefits.services import CLERK, approved_with_state, get_program, latest_states
from kiban.core import audit
from kiban.core.actors import Actor
from kiban.core.models import Municipality
from kiban.core.pdflayout import BREAK, fit_lines, fit_size
from kiban.core.wareki import format_wareki
from kiban.registry.addresses import full_town_name
from kiban.registry.models import PersonState

FONT = "KibanJP"

#: Page geometry (A4 portrait): text and the QR code stay within these margins.
MARGIN = 25 * mm
QR_SIZE = 35 * mm
QR_GAP = 6 * mm  # between the paragraph that points at the QR code and the code
BODY_SIZE = 11
BODY_LEADING = 6.5 * mm

#: The paragraph printed beside the QR code ("右の" = to its right: the code is placed there),
#: with its phrase boundaries marked (``BREAK``) so that it wraps between phrases.
QR_PARAGRAPH_JA = BREAK.join(
    "公金受取口座が|登録されていないため、|お振込みが|できません。|右の|QRコードから|"
    "マイナンバーカードで|ログインし、|ご本人名義の|口座を|登録してください|（申請）。|"
    "登録後、|指定の|口座へ|お振込みします。".split("|")
)
QR_PARAGRAPH_EN = (
    "You are eligible for this benefit. Please register your own bank account online: "
    "scan the QR code on the right and sign in with your My Number card."
)


@dataclass
class Letter:
    entitlement_id: int
    name: str
    postcode: str
    address: str  # full postal address: 都道府県 + 市区町村 + 町字 + 番地以下
    amount: int
    members: int
    building: str = ""  # 方書, printed after the address (on its own line if need be)


@dataclass
class LetterRun:
    letters: int = 0
    files: list[Path] = field(default_factory=list)


@cache
def _register_font() -> str:
    pdfmetrics.registerFont(TTFont(FONT, settings.PDF_FONT_PATH))
    return FONT


def application_url(municipality: Municipality, program: Program) -> str:
    base = str(settings.PORTAL_BASE_URL).rstrip("/")
    return f"{base}/benefits/{municipality.code}/{program.program_id}/account/"


@cache
def _qr_runs(url: str) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """QR modules as horizontal runs (row, first column, length); computed once per URL."""
    qr = segno.make(url, error="m")
    rows = [list(row) for row in qr.matrix_iter(scale=1, border=2)]
    runs = []
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                runs.append((r, start, c - start))
            else:
                c += 1
    return len(rows), tuple(runs)


def _qr(canvas: Canvas, url: str, x: float, y: float, size: float) -> None:
    """Draw the QR code as vector runs, defined once per PDF file and reused per page."""
    name = "qr" + hashlib.sha1(url.encode()).hexdigest()[:12]  # noqa: S324 - a name, not security
    defined: set[str] = canvas.__dict__.setdefault("_kiban_forms", set())
    if name not in defined:
        n, runs = _qr_runs(url)
        cell = size / n
        canvas.beginForm(name)
        path = canvas.beginPath()
        for r, c, length in runs:
            path.rect(c * cell, size - (r + 1) * cell, length * cell, cell)
        canvas.drawPath(path, stroke=0, fill=1)
        canvas.endForm()
        defined.add(name)
    canvas.saveState()
    canvas.translate(x, y)
    canvas.doForm(name)
    canvas.restoreState()


def address_lines(letter: Letter, font: str, room: float) -> tuple[float, tuple[str, ...]]:
    """(size, lines) of the address block: on one line at 12 pt down to 10 pt if it fits,
    else the 方書 on a line of its own, each line shrunk (down to 8 pt) or wrapped."""
    whole = f"{letter.address}\u3000{letter.building}" if letter.building else letter.address
    size = fit_size(whole, font, 12, room, minimum=10)
    if pdfmetrics.stringWidth(whole, font, size) <= room:
        return size, (whole,)
    parts = [p for p in (letter.address, letter.building) if p]
    size = min(fit_size(p, font, 12, room, minimum=8) for p in parts)
    out: list[str] = []
    for part in parts:
        out += fit_lines(part, font, size, room, minimum=size)[1]
    return size, tuple(out)


def draw_letter(
    canvas: Canvas, letter: Letter, *, municipality: Municipality, program: Program, today: date
) -> None:
    """One page of the notice. Every line stays within the margins: long lines are shrunk or
    wrapped, never cut off; the QR code sits to the right of the paragraph that refers to it."""
    font = _register_font()
    width, height = A4
    left, right = MARGIN, width - MARGIN
    room = right - left
    y = height - 25 * mm
    canvas.setFont(font, 10)
    canvas.drawRightString(right, y, format_wareki(today))
    y -= 8 * mm
    if letter.postcode:
        canvas.drawString(left, y, f"〒{letter.postcode[:3]}-{letter.postcode[3:]}")
    y -= 6 * mm
    size, rows = address_lines(letter, font, room)
    canvas.setFont(font, size)
    for i, row in enumerate(rows):
        if i:
            y -= size * 1.4
        canvas.drawString(left, y, row)
    y -= 9 * mm
    name = f"{letter.name}　様"
    canvas.setFont(font, fit_size(name, font, 14, room))
    canvas.drawString(left, y, name)
    y -= 8 * mm
    letterhead = str(
        municipality.setting("letterhead") or f"{municipality.prefecture}{municipality.name}長"
    )
    canvas.setFont(font, fit_size(letterhead, font, 10, room))
    canvas.drawRightString(right, y, letterhead)
    y -= 16 * mm
    title = f"{program.name}のお知らせ"
    size, rows = fit_lines(title, font, 16, room, minimum=10, single_minimum=13, balance=True)
    canvas.setFont(font, size)
    for i, row in enumerate(rows):
        if i:
            y -= size * 1.4
        canvas.drawCentredString(width / 2, y, row)
    y -= 12 * mm
    canvas.setFont(font, BODY_SIZE)
    notice = program.definition.get("notice", {}) if isinstance(program.definition, dict) else {}
    intro = str(notice.get("text") or "あなた（あなたの世帯）は、次の給付金の支給対象です。")
    lines = [*fit_lines(intro, font, BODY_SIZE, room, minimum=BODY_SIZE)[1], ""]
    lines += [
        f"基準日　　　{format_wareki(program.base_date) if program.base_date else '—'}",
        f"対象人数　　{letter.members}人",
        f"支給額　　　{letter.amount:,}円",
    ]
    if program.application_end:
        lines.append(f"申請期限　　{format_wareki(program.application_end)}")
    lines.append("")
    for line in lines:
        canvas.drawString(left, y, line)
        y -= BODY_LEADING
    # The paragraph that points at the QR code, in a column beside it.
    column = room - QR_SIZE - QR_GAP
    paragraph = [
        *fit_lines(QR_PARAGRAPH_JA, font, BODY_SIZE, column, minimum=BODY_SIZE)[1],
        "",
        *fit_lines(QR_PARAGRAPH_EN, font, BODY_SIZE, column, minimum=BODY_SIZE)[1],
    ]
    top = y + BODY_SIZE * 0.88  # the cap height of the paragraph's first line
    url = application_url(municipality, program)
    _qr(canvas, url, right - QR_SIZE, top - QR_SIZE, QR_SIZE)
    for line in paragraph:
        canvas.drawString(left, y, line)
        y -= BODY_LEADING
    y = min(y, top - QR_SIZE - 8 * mm)
    canvas.setFont(font, fit_size(url, font, 8, room))
    canvas.drawString(left, min(y, 45 * mm), url)
    canvas.setFont(font, 8)
    canvas.drawString(
        left,
        min(y, 45 * mm) - 5 * mm,
        f"通知番号 {program.program_id}-{letter.entitlement_id:010d}",
    )
    canvas.showPage()


def pending_letters(municipality: Municipality, program: Program) -> Generator[Letter]:
    """Entitlements whose payee has no registered account, with their latest address, in
    print order (town, then entitlement).

    The entitlements are streamed; the payees' latest registry states are read a block at
    a time, for that block only (not one correlated lookup per field and entitlement,
    which PostgreSQL would run for every notice of the city before sorting the first).
    """
    rows = (
        _without_account(program)
        .order_by("town_code", "id")
        .values_list("id", "person_id", "amount", "members")
        .iterator(chunk_size=LETTER_BLOCK)
    )
    block: list[tuple[int, int, int, int]] = []
    for row in rows:
        block.append(row)
        if len(block) == LETTER_BLOCK:
            yield from _letters(municipality, block)
            block = []
    yield from _letters(municipality, block)


def _letters(
    municipality: Municipality, block: list[tuple[int, int, int, int]]
) -> Iterator[Letter]:
    """The letters of a block of (entitlement, payee, amount, members) rows."""
    latest = latest_states(municipality, [r[1] for r in block])
    for eid, person_id, amount, members in block:
        yield _letter(municipality, eid, latest.get(person_id), amount, members)


#: Notices read from the database at a time.
LETTER_BLOCK = 5000


def _letter(
    municipality: Municipality, eid: int, st: PersonState | None, amount: int, members: int
) -> Letter:
    if st is None:  # every payee has a registry state; should one not, no address
        return Letter(eid, "", "", "", amount, members, "")
    # Stored town names are the full label for generated and imported records, but only
    # the 町字 for recorded events: complete them to the full postal address.
    full_town = full_town_name(
        st.town_name or "",
        lg_code=municipality.code,
        prefecture=municipality.prefecture,
        municipality_name=municipality.name,
        town_code=st.town_code or "",
        postcode=st.postcode or "",
    )
    address = f"{full_town}{(st.address_detail or '').strip()}"
    return Letter(
        eid,
        f"{st.family_name}　{st.given_name}",
        st.postcode or "",
        address,
        amount,
        members,
        st.building or "",
    )


def _without_account(program: Program) -> Any:
    """The program's approved entitlements whose payee has no account: owed a notice."""
    return approved_with_state(program).filter(pay_state="no_account")


def count_pending_letters(program: Program) -> int:
    """How many notices the program's payees without an account are owed."""
    return int(_without_account(program).count())


def generate_notice_letters(
    *,
    actor: Actor,
    municipality: Municipality,
    program_id: str,
    out_dir: Path,
    per_file: int = 1000,
    today: date | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LetterRun:
    """Write notice PDFs (``per_file`` letters each) for payees without an account.

    ``limit`` stops after that many letters (a print run in parts; benchmarks).
    """
    actor.require(municipality, CLERK)
    program = get_program(municipality, program_id)
    today = today or timezone.localdate()
    out_dir.mkdir(parents=True, exist_ok=True)
    run = LetterRun()
    canvas: Canvas | None = None
    path: Path | None = None
    total = count_pending_letters(program)

    def close() -> None:
        nonlocal canvas
        if canvas is not None and path is not None:
            canvas.save()
            run.files.append(path)
            canvas = None

    if limit is not None:
        total = min(total, limit)
    # closing(): a run stopped at its limit, or by an error, ends the server-side cursor now.
    with closing(pending_letters(municipality, program)) as letters:
        for letter in letters:
            if limit is not None and run.letters >= limit:
                break
            if run.letters % per_file == 0:
                close()
                part = run.letters // per_file + 1
                path = out_dir / f"notice-{municipality.code}-{program.program_id}-{part:04d}.pdf"
                canvas = Canvas(str(path), pagesize=A4, pageCompression=1)
                canvas.setTitle(f"{program.name} お知らせ ({part})")
                canvas.setAuthor(municipality.name)
            assert canvas is not None
            draw_letter(canvas, letter, municipality=municipality, program=program, today=today)
            run.letters += 1
            if progress and run.letters % 100 == 0:
                progress(run.letters, total)
    close()
    if progress:
        progress(run.letters, total)
    with transaction.atomic():
        audit.record(
            municipality=municipality, actor=actor, action="benefits.letters.generated",
            subject_type="benefit_program", subject_id=program.program_id,
            details={"letters": run.letters, "files": [p.name for p in run.files]},
        )  # fmt: skip
    return run


def letter_pdf_bytes(letters: list[Letter], municipality: Municipality, program: Program,
                     today: date) -> bytes:  # fmt: skip
    """A PDF of the given letters in memory (console preview)."""
    import io

    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4)
    for letter in letters:
        draw_letter(canvas, letter, municipality=municipality, program=program, today=today)
    canvas.save()
    return buf.getvalue()
