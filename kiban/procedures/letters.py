"""Decision letters (決定通知書) as small PDFs the resident downloads from the portal."""

from __future__ import annotations

import io

from django.utils import timezone

from kiban.core.wareki import format_wareki
from kiban.procedures.models import Application, ApplicationDocument, AppStatus
from kiban.procedures.schema import Procedure

__all__ = ["attach_decision_letter", "decision_letter_pdf"]

_FONT = "HeiseiKakuGo-W5"  # a CID font every PDF reader has; no font file needed


def decision_letter_pdf(app: Application, procedure: Procedure) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=True)
    c.setTitle(f"決定通知書 {app.pk}")
    _width, height = A4
    y = height - 80
    decided = timezone.localdate(app.decided_at or timezone.now())
    lines = [
        (16, "決定通知書 / Notice of decision"),
        (11, f"申請番号 / Application No.: {app.pk}"),
        (11, f"手続 / Procedure: {procedure.name['ja']} / {procedure.name['en']}"),
        (11, f"担当 / Division: {procedure.department['ja']} / {procedure.department['en']}"),
        (11, f"決定日 / Date: {format_wareki(decided)} ({decided.isoformat()})"),
        (11, f"決定 / Decision: {AppStatus(app.status).label}"),
    ]
    if app.decision_reason:
        lines.append((11, f"理由 / Reason: {app.decision_reason[:200]}"))
    lines.append((11, f"根拠法令 / Legal basis: {procedure.legal_basis['ja']}"))
    lines.append((11, app.municipality.name))
    for size, text in lines:
        c.setFont(_FONT, size)
        c.drawString(60, y, text)
        y -= size * 2.2
    c.showPage()
    c.save()
    return buf.getvalue()


def attach_decision_letter(app: Application, procedure: Procedure) -> ApplicationDocument:
    return ApplicationDocument.objects.create(
        application=app,
        kind="decision_letter",
        filename=f"decision-{app.pk}.pdf",
        content_type="application/pdf",
        content=decision_letter_pdf(app, procedure),
    )
