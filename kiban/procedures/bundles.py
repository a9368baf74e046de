"""Life-event bundles (ワンストップ): several procedures, shared questions asked once.

A bundle file (``definitions/bundles/*.yaml``, schema :data:`BUNDLE_SCHEMA`) names its
shared question pages and its procedures. A procedure field receives a shared answer when
its ``shared`` key (or the bundle item's ``map``) names a shared question; ``answers`` fix
answers for that context (e.g. the reason "moving out" of 国保喪失). Everything else the
procedure asks is asked on its own pages, after the shared ones.

Pure module apart from reading the files: no Django import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from kiban.procedures.schema import _FIELD, _I18N, _ID, Field, Page, Procedure

__all__ = [
    "BUNDLE_SCHEMA",
    "Bundle",
    "BundleItem",
    "assemble",
    "bundle_problems",
    "get_bundle",
    "own_fields",
    "standard_bundles",
]

BUNDLES_DIR = Path(__file__).with_name("definitions") / "bundles"

BUNDLE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "name", "life_event", "shared", "procedures"],
    "additionalProperties": False,
    "$defs": {"field": _FIELD},
    "properties": {
        "id": _ID,
        "life_event": _ID,
        "name": _I18N,
        "summary": _I18N,
        "shared": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "title", "fields"],
                "additionalProperties": False,
                "properties": {
                    "id": _ID,
                    "title": _I18N,
                    "fields": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/field"}},
                },
            },
        },
        "procedures": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id"],
                "additionalProperties": False,
                "properties": {
                    "id": _ID,
                    "required": {"type": "boolean"},
                    "answers": {"type": "object"},
                    "map": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(BUNDLE_SCHEMA)


@dataclass(frozen=True)
class BundleItem:
    procedure_id: str
    required: bool = False
    answers: dict[str, Any] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Bundle:
    id: str
    life_event: str
    name: dict[str, str]
    summary: dict[str, str] | None
    shared: tuple[Page, ...]
    items: tuple[BundleItem, ...]

    @property
    def shared_fields(self) -> tuple[Field, ...]:
        return tuple(f for p in self.shared for f in p.fields)

    def item(self, procedure_id: str) -> BundleItem | None:
        return next((i for i in self.items if i.procedure_id == procedure_id), None)


def bundle_problems(data: Any, procedures: dict[str, Procedure]) -> list[str]:
    """Schema problems, plus procedures or shared keys the bundle names that do not exist."""
    out = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in _VALIDATOR.iter_errors(data)
    ]
    if out:
        return out
    shared_ids = {f["id"] for p in data["shared"] for f in p["fields"]}
    for item in data["procedures"]:
        proc = procedures.get(item["id"])
        if proc is None:
            out.append(f"procedures/{item['id']}: no such procedure")
            continue
        field_ids = {f.id for f in proc.fields}
        for fid, key in item.get("map", {}).items():
            if fid not in field_ids or key not in shared_ids:
                out.append(f"procedures/{item['id']}/map: {fid} -> {key} does not resolve")
        for fid in item.get("answers", {}):
            if fid not in field_ids:
                out.append(f"procedures/{item['id']}/answers: {fid} is not a field")
    return out


def parse_bundle(data: dict[str, Any]) -> Bundle:
    return Bundle(
        id=data["id"],
        life_event=data["life_event"],
        name=data["name"],
        summary=data.get("summary"),
        shared=tuple(
            Page(p["id"], p["title"], tuple(Field.from_dict(f) for f in p["fields"]))
            for p in data["shared"]
        ),
        items=tuple(
            BundleItem(
                procedure_id=i["id"],
                required=bool(i.get("required", False)),
                answers=dict(i.get("answers", {})),
                mapping=dict(i.get("map", {})),
            )
            for i in data["procedures"]
        ),
    )


@cache
def standard_bundles() -> dict[str, Bundle]:
    from kiban.procedures.catalog import standard_procedures

    out: dict[str, Bundle] = {}
    for path in sorted(BUNDLES_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        problems = bundle_problems(data, standard_procedures())
        if problems:
            raise ValueError(f"{path.name}: {'; '.join(problems)}")
        bundle = parse_bundle(data)
        out[bundle.id] = bundle
    return out


def get_bundle(bundle_id: str) -> Bundle | None:
    return standard_bundles().get(bundle_id)


def _shared_key(bundle: Bundle, item: BundleItem, f: Field) -> str | None:
    shared_ids = {s.id for s in bundle.shared_fields}
    key = item.mapping.get(f.id) or f.shared
    return key if key in shared_ids else None


def own_fields(bundle: Bundle, procedure: Procedure) -> list[Page]:
    """The procedure's pages, keeping only the fields the bundle does not already answer."""
    item = bundle.item(procedure.id) or BundleItem(procedure.id)
    pages = []
    for page in procedure.pages:
        fields = tuple(
            f
            for f in page.fields
            if _shared_key(bundle, item, f) is None and f.id not in item.answers
        )
        if fields:
            pages.append(Page(page.id, page.title, fields))
    return pages


def assemble(
    bundle: Bundle, procedure: Procedure, shared: dict[str, Any], own: dict[str, Any]
) -> dict[str, Any]:
    """The procedure's answers: fixed answers, then shared ones mapped in, then its own."""
    item = bundle.item(procedure.id) or BundleItem(procedure.id)
    out: dict[str, Any] = dict(item.answers)
    for f in procedure.fields:
        key = _shared_key(bundle, item, f)
        if key is not None and key in shared:
            out[f.id] = shared[key]
    field_ids = {f.id for f in procedure.fields}
    out.update({k: v for k, v in own.items() if k in field_ids})
    return out
