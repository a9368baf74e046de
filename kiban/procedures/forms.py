"""HTML form engine for procedure definitions (portal and counter entry share it).

Fields are rendered from the definition without JavaScript: a repeating group shows its
rows plus an "add another" submit button; a bank account is a small fieldset. Names are
the answer paths (``children.0.birth_date``, ``account.bank_code``) and element ids are
``f-`` plus the path with dots turned into dashes, so a problem's ``field`` path links
straight to its input from the error summary.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import QueryDict

from kiban.core.wareki import format_wareki
from kiban.procedures.schema import BANK_PARTS, Field, Problem

__all__ = [
    "display_value",
    "dom_id",
    "error_map",
    "error_summary",
    "parse_post",
    "widgets",
]

BANK_LABELS = {
    "bank_code": {"ja": "金融機関コード（4桁）", "en": "Bank code (4 digits)"},
    "branch_code": {"ja": "支店コード（3桁）", "en": "Branch code (3 digits)"},
    "account_type": {"ja": "預金種目", "en": "Account type"},
    "account_number": {"ja": "口座番号（7桁）", "en": "Account number (7 digits)"},
    "holder_kana": {"ja": "口座名義（カナ）", "en": "Account holder (katakana)"},
}
ACCOUNT_TYPES = [
    ("1", {"ja": "普通", "en": "Ordinary"}),
    ("2", {"ja": "当座", "en": "Current"}),
    ("4", {"ja": "貯蓄", "en": "Savings"}),
]
INPUT_TYPES = {"email": "email", "number": "text", "postcode": "text", "date": "text"}
AUTOCOMPLETE = {"email": "email", "postcode": "postal-code"}


def dom_id(path: str) -> str:
    return "f-" + path.replace(".", "-")


def _t(d: dict[str, str] | None, lang: str) -> str:
    if not d:
        return ""
    return d.get(lang) or d["ja"]


def error_text(p: Problem, lang: str) -> str:
    """The resident's language first, the other one after it."""
    first, second = (
        (p["message_en"], p["message_ja"])
        if lang == "en"
        else (
            p["message_ja"],
            p["message_en"],
        )
    )
    return f"{first} / {second}"


def error_map(problems: list[Problem], lang: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in problems:
        out.setdefault(p["field"], error_text(p, lang))
    return out


def error_summary(problems: list[Problem], lang: str) -> list[dict[str, str]]:
    return [
        {"href": "#" + dom_id(p["field"] or "top"), "text": error_text(p, lang)} for p in problems
    ]


def parse_post(fields: tuple[Field, ...], post: QueryDict, prefix: str = "") -> dict[str, Any]:
    """Raw answers of ``fields`` from a submitted form (validated later by the schema)."""
    out: dict[str, Any] = {}
    for f in fields:
        name = f"{prefix}{f.id}"
        if f.type == "checkbox":
            out[f.id] = name in post
        elif f.type == "members":
            out[f.id] = post.getlist(name)
        elif f.type == "bank_account":
            out[f.id] = {part: post.get(f"{name}.{part}", "") for part in BANK_PARTS}
        elif f.type == "group":
            rows = []
            count = min(int(post.get(f"{name}.count", "0") or 0), f.max_items)
            for i in range(count):
                row = parse_post(f.fields, post, f"{name}.{i}.")
                if any(v not in ("", None, False, []) for v in row.values()):
                    rows.append(row)
            out[f.id] = rows
        else:
            out[f.id] = post.get(name, "")
    return out


def _widget(
    f: Field,
    value: Any,
    path: str,
    errors: dict[str, str],
    lang: str,
    members: list[tuple[str, str]],
    extra_rows: int,
) -> dict[str, Any]:
    w: dict[str, Any] = {
        "type": f.type,
        "name": path,
        "id": dom_id(path),
        "label": _t(f.label, lang),
        "hint": _t(f.hint, lang),
        "required": f.required,
        "error": errors.get(path, ""),
        "input_type": INPUT_TYPES.get(f.type, "text"),
        "autocomplete": AUTOCOMPLETE.get(f.type, "off"),
        "multiline": f.multiline,
    }
    if f.type == "checkbox":
        w["checked"] = value in (True, "on", "true")
    elif f.type == "choice":
        w["options"] = [
            {"value": v, "label": _t(lbl, lang), "id": f"{w['id']}-{i}", "checked": value == v}
            for i, (v, lbl) in enumerate(f.options)
        ]
        w["use_select"] = len(f.options) > 5
    elif f.type == "members":
        chosen = set(value or [])
        w["options"] = [
            {"value": code, "label": label, "id": f"{w['id']}-{i}", "checked": code in chosen}
            for i, (code, label) in enumerate(members)
        ]
    elif f.type == "bank_account":
        v = value if isinstance(value, dict) else {}
        w["parts"] = [
            {
                "name": f"{path}.{part}",
                "id": dom_id(f"{path}.{part}"),
                "label": _t(BANK_LABELS[part], lang),
                "value": v.get(part, ""),
                "error": errors.get(f"{path}.{part}", ""),
                "is_type": part == "account_type",
                "options": [
                    {"value": c, "label": _t(lbl, lang), "selected": str(v.get(part, "1")) == c}
                    for c, lbl in ACCOUNT_TYPES
                ],
            }
            for part in BANK_PARTS
        ]
    elif f.type == "group":
        items = value if isinstance(value, list) else []
        count = min(max(len(items), f.min_items, 1) + extra_rows, f.max_items)
        w["rows"] = [
            {
                "number": i + 1,
                "fields": [
                    _widget(
                        sub,
                        (items[i] if i < len(items) else {}).get(sub.id),
                        f"{path}.{i}.{sub.id}",
                        errors,
                        lang,
                        members,
                        0,
                    )
                    for sub in f.fields
                ],
            }
            for i in range(count)
        ]
        w["count"] = count
        w["can_add"] = count < f.max_items
    else:
        w["value"] = "" if value is None else str(value)
    return w


def widgets(
    fields: tuple[Field, ...],
    values: dict[str, Any],
    problems: list[Problem],
    lang: str,
    *,
    members: list[tuple[str, str]] | None = None,
    extra_rows: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Template-ready descriptions of ``fields`` with values and errors filled in."""
    errors = error_map(problems, lang)
    return [
        _widget(
            f, values.get(f.id), f.id, errors, lang, members or [], (extra_rows or {}).get(f.id, 0)
        )
        for f in fields
    ]


def display_value(f: Field, value: Any, lang: str, members: dict[str, str]) -> str:
    """An answer as the check-your-answers page shows it."""
    if value is None or value == "" or value == []:
        return "—"
    if f.type == "checkbox":
        return ("はい" if value else "いいえ") if lang == "ja" else ("Yes" if value else "No")
    if f.type == "date":
        d = date.fromisoformat(value) if isinstance(value, str) else value
        return f"{format_wareki(d)}（{d.isoformat()}）"
    if f.type == "postcode":
        return f"〒{value[:3]}-{value[3:]}"
    if f.type == "choice":
        return f.option_label(value, lang)
    if f.type == "members":
        return "、".join(members.get(c, c) for c in value)
    if f.type == "bank_account":
        kind = dict(ACCOUNT_TYPES).get(value.get("account_type", ""), {"ja": "", "en": ""})
        return (
            f"{value.get('bank_name', value.get('bank_code'))} "
            f"{value.get('branch_name', value.get('branch_code'))} "
            f"{_t(kind, lang)} {value.get('account_number')} {value.get('holder_kana')}"
        )
    if f.type == "group":
        rows = []
        for item in value:
            parts = [display_value(sub, item.get(sub.id), lang, members) for sub in f.fields]
            rows.append(" / ".join(parts))
        return "\n".join(rows)
    return str(value)
