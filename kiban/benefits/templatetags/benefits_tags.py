"""Template filters for benefit pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def yen(value: object) -> str:
    """1234567 → "1,234,567" (integers only; anything else unchanged)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    return f"{value:,}"


@register.filter
def wareki(value: object) -> str:
    """A date as 令和8年4月27日; anything else unchanged."""
    from datetime import date

    from kiban.core.wareki import format_wareki

    if isinstance(value, date):
        return format_wareki(value)
    return "" if value is None else str(value)
