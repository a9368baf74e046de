"""Notice letters (給付金のお知らせ) for payees who have no registered account.

One A4 page per entitlement (per household in a household program), addressed to the payee
at their latest registry address, with wareki dates and a QR code that opens the portal's
online application (account registration) for the program. Letters are batched into PDF
files of ``per_file`` pages for printing; the file names sort in print order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import segno
from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from kiban.benefits.models import EntitlementStatus, Program
from kiban.benefits.services import CLERK, get_program, with_payment_state
from kiban.core import audit
from kiban.core.actors import Actor
from kiban.core.models import Municipality
from kiban.core.wareki import format_wareki
from kiban.registry.models import PersonState

FONT = "KibanJP"


@dataclass
class Letter:
    entitlement_id: int
    name: str
    postcode: str
    address: str
    amount: int
    members: int


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


def draw_letter(
    canvas: Canvas, letter: Letter, *, municipality: Municipality, program: Program, today: date
) -> None:
    """One page of the notice."""
    font = _register_font()
    width, height = A4
    left = 25 * mm
    y = height - 25 * mm
    canvas.setFont(font, 10)
    canvas.drawRightString(width - 25 * mm, y, format_wareki(today))
    y -= 8 * mm
    canvas.drawString(
        left, y, f"〒{letter.postcode[:3]}-{letter.postcode[3:]}" if letter.postcode else ""
    )
    y -= 6 * mm
    canvas.setFont(font, 12)
    canvas.drawString(left, y, letter.address)
    y -= 9 * mm
    canvas.setFont(font, 14)
    canvas.drawString(left, y, f"{letter.name}　様")
    y -= 8 * mm
    canvas.setFont(font, 10)
    letterhead = str(
        municipality.setting("letterhead") or f"{municipality.prefecture}{municipality.name}長"
    )
    canvas.drawRightString(width - 25 * mm, y, letterhead)
    y -= 16 * mm
    canvas.setFont(font, 16)
    canvas.drawCentredString(width / 2, y, f"{program.name}のお知らせ")
    y -= 12 * mm
    canvas.setFont(font, 11)
    notice = program.definition.get("notice", {}) if isinstance(program.definition, dict) else {}
    lines = [
        str(notice.get("text") or "あなた（あなたの世帯）は、次の給付金の支給対象です。"),
        "",
        f"基準日　　　{format_wareki(program.base_date) if program.base_date else '—'}",
        f"対象人数　　{letter.members}人",
        f"支給額　　　{letter.amount:,}円",
    ]
    if program.application_end:
        lines.append(f"申請期限　　{format_wareki(program.application_end)}")
    lines += [
        "",
        "公金受取口座が登録されていないため、お振込みができません。",
        "右のQRコードからマイナンバーカードでログインし、ご本人名義の口座を",
        "登録してください（申請）。登録後、指定の口座へお振込みします。",
        "",
        "You are eligible for this benefit. Please register your own bank account",
        "online (scan the QR code and sign in with your My Number card).",
    ]
    for line in lines:
        canvas.drawString(left, y, line)
        y -= 6.5 * mm
    url = application_url(municipality, program)
    _qr(canvas, url, width - 25 * mm - 35 * mm, 50 * mm, 35 * mm)
    canvas.setFont(font, 8)
    canvas.drawString(left, 45 * mm, url)
    canvas.drawString(left, 40 * mm, f"通知番号 {program.program_id}-{letter.entitlement_id:010d}")
    canvas.showPage()


def pending_letters(municipality: Municipality, program: Program) -> Iterator[Letter]:
    """Entitlements whose payee has no registered account, with their latest address."""
    latest = PersonState.objects.filter(
        municipality=municipality, person_id=OuterRef("person_id")
    ).order_by("-valid_to", "-valid_from")
    qs = (
        with_payment_state(
            program.entitlements.filter(status=EntitlementStatus.APPROVED)
        )
        .filter(pay_state="no_account")
        .annotate(
            family=Subquery(latest.values("family_name")[:1]),
            given=Subquery(latest.values("given_name")[:1]),
            postcode=Subquery(latest.values("postcode")[:1]),
            town=Subquery(latest.values("town_name")[:1]),
            detail=Subquery(latest.values("address_detail")[:1]),
            building=Subquery(latest.values("building")[:1]),
        )
        .order_by("town_code", "id")
        .values_list("id", "family", "given", "postcode", "town", "detail", "building",
                     "amount", "members")
    )  # fmt: skip
    for eid, family, given, postcode, town, detail, building, amount, members in qs.iterator(
        chunk_size=5000
    ):
        address = f"{town or ''}{detail or ''}" + (f"　{building}" if building else "")
        yield Letter(eid, f"{family}　{given}", postcode or "", address, amount, members)


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
    total = (
        with_payment_state(program.entitlements.filter(status=EntitlementStatus.APPROVED))
        .filter(pay_state="no_account")
        .count()
    )

    def close() -> None:
        nonlocal canvas
        if canvas is not None and path is not None:
            canvas.save()
            run.files.append(path)
            canvas = None

    if limit is not None:
        total = min(total, limit)
    for letter in pending_letters(municipality, program):
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
