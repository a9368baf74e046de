"""Procedure definitions (手続定義) and the form engine. Pure module: no Django import.

A procedure is data: a YAML or JSON document validated by :data:`DEFINITION_SCHEMA`
(JSON Schema, documented field by field in ``docs/procedures.md``). :func:`parse_definition`
turns a checked document into a :class:`Procedure`; :func:`clean_answers` validates the
answers a resident (or an API client) sent against it and returns every problem at once.

A problem is a plain dict ``{"field", "code", "message_ja", "message_en"}``; ``field`` is
the dotted path of the answer (``children.1.birth_date``, ``account.bank_code``) or ``""``
for the payload as a whole. Keys starting with ``_`` are reserved for envelope data
(``_nonce``, ``_bundle_id``, ``_email``, ``_supersedes``) and are not answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import jsonschema

from kiban.core import kana as kana_mod
from kiban.core import wareki

__all__ = [
    "DEFINITION_SCHEMA",
    "EFFECTS",
    "FIELD_TYPES",
    "PREFILL_FACTS",
    "DefinitionError",
    "Field",
    "Page",
    "Problem",
    "Procedure",
    "clean_answers",
    "clean_fields",
    "definition_problems",
    "parse_definition",
    "problem",
]

Problem = dict[str, str]

FIELD_TYPES = (
    "text",
    "kana",
    "date",
    "postcode",
    "bank_account",
    "checkbox",
    "choice",
    "number",
    "email",
    "members",
    "group",
)
#: Facts the municipality already holds and shows instead of asking (once-only).
PREFILL_FACTS = ("name", "kana", "birth_date", "sex", "address", "household")
#: What an approval does. Handlers live in kiban.procedures.effects.
EFFECTS = (
    "none",
    "registry.move_out",
    "registry.move_within",
    "benefits.child_allowance",
    "identity.juminhyo_copy",
)
APPLICANTS = ("self", "household_head", "household_member", "proxy")

_TEXT = {"type": "string", "minLength": 1}
_I18N = {
    "type": "object",
    "required": ["ja", "en"],
    "properties": {"ja": _TEXT, "en": _TEXT},
    "additionalProperties": False,
}
_ID = {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$"}
_FIELD_ID = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"}

_FIELD: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type", "label"],
    "additionalProperties": False,
    "properties": {
        "id": _FIELD_ID,
        "type": {"enum": list(FIELD_TYPES)},
        "label": _I18N,
        "hint": _I18N,
        "required": {"type": "boolean"},
        "max_length": {"type": "integer", "minimum": 1, "maximum": 2000},
        "multiline": {"type": "boolean"},
        "min": {"type": "integer"},
        "max": {"type": "integer"},
        "not_before_days": {"type": "integer"},
        "not_after_days": {"type": "integer"},
        "options": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["value", "label"],
                "additionalProperties": False,
                "properties": {"value": {"type": "string", "minLength": 1}, "label": _I18N},
            },
        },
        "min_items": {"type": "integer", "minimum": 0},
        "max_items": {"type": "integer", "minimum": 1, "maximum": 20},
        "fields": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/field"}},
        "shared": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"},
    },
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "choice"}}},
            "then": {"required": ["options"]},
        },
        {
            "if": {"properties": {"type": {"const": "group"}}},
            "then": {"required": ["fields"]},
        },
    ],
}

#: JSON Schema of a procedure definition file (see docs/procedures.md).
DEFINITION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "kiban procedure definition",
    "type": "object",
    "required": ["id", "version", "name", "department", "legal_basis", "pages", "effect"],
    "additionalProperties": False,
    "$defs": {"field": _FIELD, "i18n": _I18N},
    "properties": {
        "id": _ID,
        "version": {"type": "integer", "minimum": 1},
        "name": _I18N,
        "summary": _I18N,
        "legal_basis": _I18N,
        "department": {
            "type": "object",
            "required": ["id", "ja", "en"],
            "additionalProperties": False,
            "properties": {"id": _ID, "ja": _TEXT, "en": _TEXT},
        },
        "applicants": {
            "type": "array",
            "minItems": 1,
            "items": {"enum": list(APPLICANTS)},
            "uniqueItems": True,
        },
        "keywords": {"type": "array", "items": _TEXT},
        "life_events": {"type": "array", "items": _ID},
        "prefill": {"type": "array", "items": {"enum": list(PREFILL_FACTS)}, "uniqueItems": True},
        "before_you_start": {"type": "array", "items": _I18N},
        "attachments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name"],
                "additionalProperties": False,
                "properties": {
                    "id": _ID,
                    "name": _I18N,
                    # Needed only when the municipality cannot look the fact up itself.
                    "unless_known": {"enum": ["registry", "tax", "family_register", "never"]},
                },
            },
        },
        "fees": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["label", "amount"],
                "additionalProperties": False,
                "properties": {
                    "label": _I18N,
                    "amount": {"type": "integer", "minimum": 0},
                    "per": {"type": "string"},
                },
            },
        },
        "pages": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "title", "fields"],
                "additionalProperties": False,
                "properties": {
                    "id": _FIELD_ID,
                    "title": _I18N,
                    "fields": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/field"}},
                },
            },
        },
        "subject": {"type": "string", "minLength": 1, "maxLength": 100},
        "effect": {"enum": list(EFFECTS)},
        "effect_params": {"type": "object"},
        "standard": {"type": "boolean"},
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(DEFINITION_SCHEMA)


class DefinitionError(ValueError):
    """A definition file that does not match the schema; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def problem(path: str, code: str, message_ja: str, message_en: str) -> Problem:
    return {"field": path, "code": code, "message_ja": message_ja, "message_en": message_en}


@dataclass(frozen=True)
class Field:
    id: str
    type: str
    label: dict[str, str]
    hint: dict[str, str] | None = None
    required: bool = False
    max_length: int | None = None
    multiline: bool = False
    min: int | None = None
    max: int | None = None
    not_before_days: int | None = None
    not_after_days: int | None = None
    options: tuple[tuple[str, dict[str, str]], ...] = ()
    min_items: int = 0
    max_items: int = 10
    fields: tuple[Field, ...] = ()
    shared: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Field:
        return cls(
            id=d["id"],
            type=d["type"],
            label=d["label"],
            hint=d.get("hint"),
            required=bool(d.get("required", False)),
            max_length=d.get("max_length"),
            multiline=bool(d.get("multiline", False)),
            min=d.get("min"),
            max=d.get("max"),
            not_before_days=d.get("not_before_days"),
            not_after_days=d.get("not_after_days"),
            options=tuple((o["value"], o["label"]) for o in d.get("options", [])),
            min_items=int(d.get("min_items", 1 if d.get("required") else 0)),
            max_items=int(d.get("max_items", 10)),
            fields=tuple(Field.from_dict(f) for f in d.get("fields", [])),
            shared=d.get("shared"),
        )

    def option_label(self, value: str, lang: str = "ja") -> str:
        for v, label in self.options:
            if v == value:
                return label.get(lang, label["ja"])
        return value


@dataclass(frozen=True)
class Page:
    id: str
    title: dict[str, str]
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Procedure:
    """One procedure definition, parsed. ``raw`` is the document it came from."""

    id: str
    version: int
    name: dict[str, str]
    department: dict[str, str]
    legal_basis: dict[str, str]
    pages: tuple[Page, ...]
    effect: str
    summary: dict[str, str] | None = None
    applicants: tuple[str, ...] = ("self",)
    keywords: tuple[str, ...] = ()
    life_events: tuple[str, ...] = ()
    prefill: tuple[str, ...] = ()
    before_you_start: tuple[dict[str, str], ...] = ()
    attachments: tuple[dict[str, Any], ...] = ()
    fees: tuple[dict[str, Any], ...] = ()
    subject: str = ""
    effect_params: dict[str, Any] = field(default_factory=dict)
    standard: bool = True
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(f for p in self.pages for f in p.fields)

    def field(self, field_id: str) -> Field | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def title(self, lang: str = "ja") -> str:
        return self.name.get(lang, self.name["ja"])

    def matches(self, query: str) -> bool:
        """Keyword search over names, summary and keywords (case- and width-insensitive)."""
        q = kana_mod.normalize_kana(query).casefold()
        if not q:
            return True
        haystack = " ".join(
            [*self.name.values(), *(self.summary or {}).values(), *self.keywords, self.id]
        )
        return q in kana_mod.normalize_kana(haystack).casefold()


def definition_problems(data: Any) -> list[str]:
    """Every way ``data`` fails the definition schema (and the rules JSON Schema cannot say)."""
    out = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(e.absolute_path))
    ]
    if out:
        return out
    seen: set[str] = set()
    for page in data["pages"]:
        for f in page["fields"]:
            if f["id"] in seen:
                out.append(f"pages/{page['id']}: field id {f['id']!r} is used twice")
            seen.add(f["id"])
            if f["type"] == "group" and any(g["type"] == "group" for g in f["fields"]):
                out.append(f"pages/{page['id']}/{f['id']}: groups cannot be nested")
    subject = data.get("subject", "")
    for name in re.findall(r"{([^}]+)}", subject):
        if name not in {"person", "household"} and name not in seen:
            out.append(f"subject: {{{name}}} is neither person, household nor a field id")
    return out


def parse_definition(data: Any, *, standard: bool = True) -> Procedure:
    """Check ``data`` against the schema and build the :class:`Procedure`."""
    problems = definition_problems(data)
    if problems:
        raise DefinitionError(problems)
    return Procedure(
        id=data["id"],
        version=data["version"],
        name=data["name"],
        department=data["department"],
        legal_basis=data["legal_basis"],
        pages=tuple(
            Page(p["id"], p["title"], tuple(Field.from_dict(f) for f in p["fields"]))
            for p in data["pages"]
        ),
        effect=data["effect"],
        summary=data.get("summary"),
        applicants=tuple(data.get("applicants", ["self"])),
        keywords=tuple(data.get("keywords", [])),
        life_events=tuple(data.get("life_events", [])),
        prefill=tuple(data.get("prefill", [])),
        before_you_start=tuple(data.get("before_you_start", [])),
        attachments=tuple(data.get("attachments", [])),
        fees=tuple(data.get("fees", [])),
        subject=data.get("subject", ""),
        effect_params=dict(data.get("effect_params", {})),
        standard=bool(data.get("standard", standard)),
        raw=data,
    )


# --- answers -------------------------------------------------------------------------------

_POSTCODE = re.compile(r"^(\d{3})-?(\d{4})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ZEN_DIGITS = str.maketrans("０１２３４５６７８９－ー−", "0123456789---")
_TRUE = {True, "true", "on", "1", "yes"}
_FALSE = {False, "false", "off", "0", "no", "", None}
BANK_PARTS = ("bank_code", "branch_code", "account_type", "account_number", "holder_kana")


def _label(f: Field) -> tuple[str, str]:
    return f.label["ja"], f.label["en"]


def _required(path: str, f: Field) -> Problem:
    ja, en = _label(f)
    if f.type in ("choice", "members"):
        return problem(path, "required", f"「{ja}」を選んでください。", f"Choose: {en}.")
    return problem(path, "required", f"「{ja}」を入力してください。", f"Enter: {en}.")


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _clean_scalar(f: Field, value: Any, path: str, today: date) -> tuple[Any, list[Problem]]:
    """Validate one non-group answer; returns (normalised value, problems)."""
    ja, en = _label(f)
    if f.type == "checkbox":
        if value in _TRUE:
            return True, []
        if value in _FALSE:
            if f.required:
                return False, [
                    problem(path, "required", f"「{ja}」を確認してください。", f"Confirm: {en}.")
                ]
            return False, []
        return None, [problem(path, "invalid", f"「{ja}」の値が不正です。", f"{en}: invalid.")]
    if f.type == "members":
        values = value if isinstance(value, list) else [value]
        values = [str(v) for v in values if not _is_blank(v)]
        if not values:
            return [], [_required(path, f)] if f.required else []
        return sorted(set(values)), []
    if f.type == "bank_account":
        return _clean_bank(f, value, path)
    if _is_blank(value):
        return None, [_required(path, f)] if f.required else []
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None, [problem(path, "invalid", f"「{ja}」の値が不正です。", f"{en}: invalid.")]
    text = str(value).strip()
    if f.max_length and len(text) > f.max_length:
        return None, [
            problem(
                path,
                "too_long",
                f"「{ja}」は{f.max_length}文字以内で入力してください。",
                f"{en} must be at most {f.max_length} characters.",
            )
        ]
    if f.type == "text":
        return text, []
    if f.type == "kana":
        normal = kana_mod.normalize_kana(text)
        if not kana_mod.is_katakana_name(normal):
            return None, [
                problem(
                    path,
                    "kana_only",
                    f"「{ja}」は全角カタカナで入力してください。",
                    f"{en} must be written in katakana.",
                )
            ]
        return normal, []
    if f.type == "date":
        try:
            d = wareki.parse_date(text)
        except wareki.WarekiError as e:
            return None, [problem(path, "date_invalid", e.message_ja, e.message_en)]
        if f.not_before_days is not None and (d - today).days < f.not_before_days:
            return None, [_date_range(path, f, too_early=True)]
        if f.not_after_days is not None and (d - today).days > f.not_after_days:
            return None, [_date_range(path, f, too_early=False)]
        return d.isoformat(), []
    if f.type == "postcode":
        m = _POSTCODE.match(text.translate(_ZEN_DIGITS))
        if not m:
            return None, [
                problem(
                    path,
                    "postcode_invalid",
                    f"「{ja}」は7桁の郵便番号（例: 231-0017）で入力してください。",
                    f"{en} must be a 7-digit postcode, e.g. 231-0017.",
                )
            ]
        return m.group(1) + m.group(2), []
    if f.type == "number":
        try:
            n = int(text.translate(_ZEN_DIGITS).replace(",", ""))
        except ValueError:
            return None, [
                problem(
                    path,
                    "number_invalid",
                    f"「{ja}」は数字で入力してください。",
                    f"{en}: a number.",
                )
            ]
        if (f.min is not None and n < f.min) or (f.max is not None and n > f.max):
            lo, hi = f.min if f.min is not None else "", f.max if f.max is not None else ""
            return None, [
                problem(
                    path,
                    "out_of_range",
                    f"「{ja}」は{lo}〜{hi}の範囲で入力してください。",
                    f"{en} must be between {lo} and {hi}.",
                )
            ]
        return n, []
    if f.type == "email":
        if not _EMAIL.match(text):
            return None, [
                problem(
                    path,
                    "email_invalid",
                    f"「{ja}」はメールアドレスの形式（例: name@example.jp）で入力してください。",
                    f"{en} must be an email address, e.g. name@example.jp.",
                )
            ]
        return text, []
    if f.type == "choice":
        if text not in {v for v, _ in f.options}:
            return None, [
                problem(
                    path, "choice_invalid", f"「{ja}」を選択肢から選んでください。", f"Choose {en}."
                )
            ]
        return text, []
    raise AssertionError(f"unhandled field type {f.type}")  # schema forbids other types


def _date_range(path: str, f: Field, *, too_early: bool) -> Problem:
    ja, en = _label(f)
    if too_early:
        days = f.not_before_days or 0
        return problem(
            path,
            "date_too_early",
            f"「{ja}」は今日から{days}日後以降の日付にしてください。"
            if days >= 0
            else f"「{ja}」は{-days}日前より後の日付にしてください。",
            f"{en} must not be more than {-days} days ago."
            if days <= 0
            else f"{en} must be at least {days} days from today.",
        )
    days = f.not_after_days or 0
    return problem(
        path,
        "date_too_late",
        f"「{ja}」は今日から{days}日以内の日付にしてください。"
        if days >= 0
        else f"「{ja}」は{-days}日以上前の日付にしてください。",
        f"{en} must be within {days} days from today."
        if days >= 0
        else f"{en} must be at least {-days} days ago.",
    )


def _clean_bank(f: Field, value: Any, path: str) -> tuple[Any, list[Problem]]:
    from kiban.benefits import banks  # pure module; imported lazily (large bank master)

    if not isinstance(value, dict) or all(_is_blank(value.get(k)) for k in BANK_PARTS):
        return None, [_required(path, f)] if f.required else []
    out: dict[str, str] = {}
    problems: list[Problem] = []
    normalisers = {
        "bank_code": banks.normalize_bank_code,
        "branch_code": banks.normalize_branch_code,
        "account_type": banks.normalize_account_type,
        "account_number": banks.normalize_account_number,
    }
    for part, normalise in normalisers.items():
        try:
            out[part] = normalise(str(value.get(part) or ""))
        except banks.BankAccountError as e:
            problems.append(problem(f"{path}.{part}", e.code, e.message_ja, e.message_en))
    holder = kana_mod.normalize_kana(str(value.get("holder_kana") or ""))
    if not kana_mod.is_katakana_name(holder):
        problems.append(
            problem(
                f"{path}.holder_kana",
                "kana_only",
                "口座名義（カナ）は全角カタカナで入力してください。",
                "Account holder must be written in katakana.",
            )
        )
    out["holder_kana"] = holder
    if not problems:
        try:
            info = banks.lookup_branch(out["bank_code"], out["branch_code"])
        except banks.UnknownBankError as e:
            part = "bank_code" if e.unknown == "bank" else "branch_code"
            problems.append(problem(f"{path}.{part}", e.code, e.message_ja, e.message_en))
        else:
            out["bank_name"] = info.bank_name
            out["branch_name"] = info.branch_name
    return (out if not problems else None), problems


def _clean_fields(
    fields: tuple[Field, ...], data: dict[str, Any], prefix: str, today: date
) -> tuple[dict[str, Any], list[Problem]]:
    cleaned: dict[str, Any] = {}
    problems: list[Problem] = []
    for f in fields:
        path = f"{prefix}{f.id}"
        value = data.get(f.id)
        if f.type == "group":
            items = value if isinstance(value, list) else []
            if value is not None and not isinstance(value, list):
                problems.append(
                    problem(path, "invalid", "一覧の形式が不正です。", "Must be a list.")
                )
            ja, en = _label(f)
            if len(items) < f.min_items:
                problems.append(
                    problem(
                        path,
                        "too_few",
                        f"「{ja}」を{f.min_items}件以上入力してください。",
                        f"Add at least {f.min_items} {en.lower()}.",
                    )
                )
            if len(items) > f.max_items:
                problems.append(
                    problem(
                        path,
                        "too_many",
                        f"「{ja}」は{f.max_items}件までです。",
                        f"At most {f.max_items} {en.lower()}.",
                    )
                )
            out_items = []
            for i, item in enumerate(items[: f.max_items]):
                if not isinstance(item, dict):
                    problems.append(
                        problem(f"{path}.{i}", "invalid", "形式が不正です。", "Invalid.")
                    )
                    continue
                c, p = _clean_fields(f.fields, item, f"{path}.{i}.", today)
                out_items.append(c)
                problems.extend(p)
            cleaned[f.id] = out_items
            continue
        c, p = _clean_scalar(f, value, path, today)
        problems.extend(p)
        if c is not None and c != [] and c is not False:
            cleaned[f.id] = c
        elif f.type == "checkbox" and c is False:
            cleaned[f.id] = False
    return cleaned, problems


#: Payload keys that are not answers: identity's signed envelope and kiban's own ``_`` keys.
ENVELOPE_KEYS = frozenset({"procedure", "municipality"})


def is_envelope_key(key: str) -> bool:
    return key.startswith("_") or key in ENVELOPE_KEYS


def clean_fields(
    fields: tuple[Field, ...], data: dict[str, Any], *, today: date | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """Validate only ``fields`` (one form page) of ``data``; same result shape as below."""
    return _clean_fields(fields, data, "", today or date.today())


def clean_answers(
    procedure: Procedure, data: Any, *, today: date | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """Validate ``data`` (field id → answer) against ``procedure``.

    Returns the normalised answers (dates ISO, kana full-width katakana, postcodes 7 digits)
    and the list of every problem found; answers are usable only when the list is empty.
    Unknown keys are problems (a client sending a field the procedure does not have is
    almost always a version mismatch); keys starting with ``_`` are envelope data.
    """
    if not isinstance(data, dict):
        return {}, [
            problem(
                "",
                "payload_not_object",
                "申請データの形式が不正です。",
                "Payload must be a JSON object.",
            )
        ]
    today = today or date.today()
    known = {f.id for f in procedure.fields}
    problems = [
        problem(
            k, "unknown_field", f"「{k}」はこの手続の項目ではありません。", f"{k!r} is not a field."
        )
        for k in data
        if not is_envelope_key(k) and k not in known
    ]
    cleaned, more = _clean_fields(procedure.fields, data, "", today)
    return cleaned, problems + more
