"""Console: My Number card coverage (普及率) by town and age band (registry clerks)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kiban.console.auth import console_actor, console_municipality, staff_required
from kiban.core.models import Role
from kiban.identity.services import CoverageRow, card_coverage


@dataclass(frozen=True)
class Bar:
    label: str
    percent: str
    y: int
    width: float
    text_x: float


def _bars(rows: list[CoverageRow], *, width: int = 360, row_height: int = 26) -> list[Bar]:
    """Horizontal bars, 0-100 % mapped onto ``width`` pixels (drawn server-side as SVG)."""
    return [
        Bar(
            r.label,
            r.percent,
            i * row_height,
            round(r.rate * width, 1),
            round(180 + r.rate * width + 6, 1),
        )
        for i, r in enumerate(rows)
    ]


@staff_required(Role.REGISTRY_CLERK)
def coverage(request: HttpRequest) -> HttpResponse:
    municipality = console_municipality(request)
    cov = card_coverage(actor=console_actor(request), municipality=municipality)
    towns = cov.by_town[:60]
    return render(
        request,
        "console/identity/coverage.html",
        {
            "coverage": cov,
            "towns": towns,
            "more_towns": max(0, len(cov.by_town) - len(towns)),
            "age_bars": _bars(cov.by_age),
            "age_chart_height": len(cov.by_age) * 26,
            "town_bars": _bars(towns),
            "town_chart_height": len(towns) * 26,
        },
    )
