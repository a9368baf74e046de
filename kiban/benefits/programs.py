"""Benefit program definition files: schema, validation, parsing (pure module: no Django).

A program is data, not code: a YAML (or JSON) file validated against :data:`SCHEMA`
(JSON Schema draft 2020-12) and then against the rules JSON Schema cannot express (age
bands that overlap, a window that ends before it starts). docs/benefits.md documents the
fields; ``examples/benefits/`` holds examples.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from kiban.benefits.eligibility import AgeBand, AmountRule
from kiban.core.errors import ValidationFailed

__all__ = [
    "SCHEMA",
    "ProgramDefinition",
    "ProgramDefinitionError",
    "load_definition_file",
    "parse_definition",
    "parse_definition_text",
]

_AGE = {"type": "integer", "minimum": 0, "maximum": 150}
_YEN = {"type": "integer", "minimum": 1, "maximum": 9_999_999_999}
_DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "kiban benefit program",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "name", "unit", "amount", "eligibility"],
    "properties": {
        "id": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{1,62}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "name_en": {"type": "string", "maxLength": 200},
        "legal_basis": {"type": "string", "maxLength": 300},
        "base_date": _DATE,
        "unit": {"enum": ["person", "household"]},
        "amount": {
            "type": "object",
            "additionalProperties": False,
            "oneOf": [{"required": ["fixed"]}, {"required": ["by_age"]}, {"required": ["granted"]}],
            "properties": {
                "fixed": _YEN,
                "by_age": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["amount"],
                        "properties": {"min_age": _AGE, "max_age": _AGE, "amount": _YEN},
                    },
                },
                "granted": {"const": True},
            },
        },
        "eligibility": {
            "type": "object",
            "additionalProperties": False,
            "required": ["source"],
            "properties": {
                "source": {"enum": ["registry", "grant"]},
                "age": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"min": _AGE, "max": _AGE},
                },
                "holds": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{1,62}$"},
            },
        },
        "application": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"start": _DATE, "end": _DATE},
        },
        "push": {"type": "boolean"},
        "notice": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"text": {"type": "string"}, "text_en": {"type": "string"}},
        },
    },
}


class ProgramDefinitionError(ValidationFailed):
    code = "program_definition"


@dataclass(frozen=True, slots=True)
class ProgramDefinition:
    id: str
    name: str
    name_en: str
    legal_basis: str
    base_date: date | None
    unit: str  # person | household
    amount: AmountRule  # fixed or by age; empty for granted amounts
    granted_amount: bool
    source: str  # registry | grant
    min_age: int | None
    max_age: int | None
    holds: str | None
    application_start: date | None
    application_end: date | None
    push: bool
    raw: dict[str, Any]

    @property
    def digest(self) -> str:
        return hashlib.sha256(canonical_json(self.raw).encode()).hexdigest()

    def rules(self) -> dict[str, Any]:
        """The parts that decide who gets what: changing them changes entitlements."""
        return {k: self.raw.get(k) for k in ("base_date", "unit", "amount", "eligibility")}


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _fail(problems: list[str]) -> ProgramDefinitionError:
    return ProgramDefinitionError(
        "給付金の定義ファイルに誤りがあります。",
        "The benefit program definition is not valid.",
        details=problems,
    )


def _date(value: Any) -> date | None:
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _normalise(data: Any) -> Any:
    """YAML gives dates as date objects; the schema and the stored JSON want ISO strings."""
    if isinstance(data, dict):
        return {str(k): _normalise(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_normalise(v) for v in data]
    if isinstance(data, date):
        return data.isoformat()
    return data


def parse_definition(data: Any) -> ProgramDefinition:
    """Validate a definition (already parsed from YAML/JSON) and return it typed.

    Raises :class:`ProgramDefinitionError` listing every problem (path: message).
    """
    data = _normalise(data)
    validator = jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    problems = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path)))
    ]
    if problems:
        raise _fail(problems)
    elig = data["eligibility"]
    amount = data["amount"]
    age = elig.get("age", {})
    min_age, max_age = age.get("min"), age.get("max")
    if min_age is not None and max_age is not None and min_age > max_age:
        problems.append("eligibility/age: min must not exceed max")
    bands: list[AgeBand] = []
    for i, band in enumerate(amount.get("by_age", [])):
        b = AgeBand(band.get("min_age"), band.get("max_age"), band["amount"])
        if b.min_age is not None and b.max_age is not None and b.min_age > b.max_age:
            problems.append(f"amount/by_age/{i}: min_age must not exceed max_age")
        for j, other in enumerate(bands):
            lo = max(b.min_age or 0, other.min_age or 0)
            hi = min(
                b.max_age if b.max_age is not None else 999,
                other.max_age if other.max_age is not None else 999,
            )
            if lo <= hi:
                problems.append(f"amount/by_age/{i}: overlaps band {j} (ages {lo}..{hi})")
        bands.append(b)
    source = elig["source"]
    granted = bool(amount.get("granted"))
    if source == "registry" and "base_date" not in data:
        problems.append("base_date: required when eligibility/source is registry")
    if source == "registry" and granted:
        problems.append("amount/granted: only for eligibility/source grant")
    if source == "grant" and not granted:
        problems.append("amount: a grant program takes its amounts from grants (granted: true)")
    if elig.get("holds") == data["id"]:
        problems.append("eligibility/holds: a program cannot require itself")
    app = data.get("application", {})
    start, end = _date(app.get("start")), _date(app.get("end"))
    if start and end and end < start:
        problems.append("application/end: must not be before application/start")
    if problems:
        raise _fail(problems)
    return ProgramDefinition(
        id=data["id"],
        name=data["name"],
        name_en=data.get("name_en", ""),
        legal_basis=data.get("legal_basis", ""),
        base_date=_date(data.get("base_date")),
        unit=data["unit"],
        amount=AmountRule(fixed=amount.get("fixed"), bands=tuple(bands)),
        granted_amount=granted,
        source=source,
        min_age=min_age,
        max_age=max_age,
        holds=elig.get("holds"),
        application_start=start,
        application_end=end,
        push=bool(data.get("push", False)),
        raw=data,
    )


def parse_definition_text(text: str) -> ProgramDefinition:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _fail([f"YAML: {e}"]) from None
    if not isinstance(data, dict):
        raise _fail(["(root): must be a mapping"])
    return parse_definition(data)


def load_definition_file(path: str | Path) -> ProgramDefinition:
    """Read and validate a YAML or JSON definition file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ProgramDefinitionError(
            f"定義ファイルを読めません: {path}", f"Cannot read the definition file {path}: {e}"
        ) from None
    return parse_definition_text(text)
