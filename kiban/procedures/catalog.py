"""The procedure catalog: standard definitions shipped with kiban plus each municipality's own.

Which procedures a municipality offers is data in ``Municipality.settings``:

* ``enabled_procedures``: an empty list (the default) means *every standard procedure*;
  a non-empty list offers exactly the procedures named in it.
* ``disabled_procedures``: always removed, whatever the list above says.

Custom definitions (a municipality's own procedures, or its own version of a standard one
with the same id) are stored in :class:`~kiban.procedures.models.CustomProcedure`; they are
offered when the rules above allow (an empty ``enabled_procedures`` includes them too).

Stable API used by identity's intake: :func:`get_procedure` and :func:`validate_payload`.
"""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from django.db.models.signals import post_delete, post_save

from kiban.procedures.schema import (
    DefinitionError,
    Problem,
    Procedure,
    clean_answers,
    parse_definition,
)

if TYPE_CHECKING:
    from kiban.core.models import Municipality

__all__ = [
    "DEFINITIONS_DIR",
    "all_procedures",
    "enabled_procedures",
    "get_procedure",
    "is_enabled",
    "load_definition_file",
    "standard_procedure",
    "standard_procedures",
    "validate_payload",
]

DEFINITIONS_DIR = Path(__file__).with_name("definitions")


def load_definition_file(path: str | Path) -> Procedure:
    """Read and check one YAML/JSON definition file (raises DefinitionError)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DefinitionError([f"not valid YAML/JSON: {e}"]) from e
    return parse_definition(data)


@cache
def standard_procedures() -> dict[str, Procedure]:
    """The standard set shipped in kiban/procedures/definitions/, by id."""
    out: dict[str, Procedure] = {}
    for path in sorted(DEFINITIONS_DIR.glob("*.yaml")):
        proc = load_definition_file(path)
        out[proc.id] = proc
    return out


def standard_procedure(procedure_id: str) -> Procedure | None:
    return standard_procedures().get(procedure_id)


def _custom(municipality: Municipality) -> dict[str, Procedure]:
    from kiban.procedures.models import CustomProcedure

    out: dict[str, Procedure] = {}
    for row in CustomProcedure.objects.filter(municipality=municipality).order_by("procedure_id"):
        try:
            out[row.procedure_id] = parse_definition(row.definition, standard=False)
        except DefinitionError:
            continue  # stored definitions were validated on save; skip one broken by hand
    return out


def all_procedures(municipality: Municipality) -> dict[str, Procedure]:
    """Standard and custom definitions (custom wins on the same id), enabled or not."""
    return {**standard_procedures(), **_custom(municipality)}


def is_enabled(municipality: Municipality, procedure_id: str) -> bool:
    settings: dict[str, Any] = municipality.settings or {}
    if procedure_id in (settings.get("disabled_procedures") or []):
        return False
    enabled = settings.get("enabled_procedures") or []
    return not enabled or procedure_id in enabled


def enabled_procedures(municipality: Municipality) -> list[Procedure]:
    """What the municipality offers, in catalog order."""
    return [p for pid, p in all_procedures(municipality).items() if is_enabled(municipality, pid)]


# Lookup cache: kept on the Municipality *instance* (one request's worth: every request loads
# its own), so one submission reads the custom procedures once, not once per caller (intake,
# then the ledger rules in Application.save). Saving or deleting a CustomProcedure in this
# process bumps the generation, which empties every instance's cache; ``settings`` is read
# afresh on every call (``is_enabled``), so changes to it apply at once.
_CACHE_ATTR = "_kiban_procedure_cache"
_generation = itertools.count(1)
_current_generation = 0


def _invalidate(**kwargs: Any) -> None:
    global _current_generation
    _current_generation = next(_generation)


post_save.connect(_invalidate, sender="procedures.CustomProcedure", weak=False)
post_delete.connect(_invalidate, sender="procedures.CustomProcedure", weak=False)


def get_procedure(municipality: Municipality, procedure_id: str) -> Procedure | None:
    """The procedure the municipality offers under ``procedure_id``, or None.

    None when the id is unknown or the municipality does not offer it (identity's intake
    then refuses with ``procedure_unknown``).
    """
    if not isinstance(procedure_id, str) or not is_enabled(municipality, procedure_id):
        return None
    cache_: dict[str, Procedure | None] | None = None
    generation = _current_generation
    held = getattr(municipality, _CACHE_ATTR, None)
    if held is not None and held[0] == generation:
        cache_ = held[1]
        if procedure_id in cache_:
            return cache_[procedure_id]
    if cache_ is None:
        cache_ = {}
        setattr(municipality, _CACHE_ATTR, (generation, cache_))
    found = _lookup(municipality, procedure_id)
    cache_[procedure_id] = found
    return found


def _lookup(municipality: Municipality, procedure_id: str) -> Procedure | None:
    from django.db import connection

    from kiban.procedures.models import CustomProcedure

    # Plain SQL: on the intake path compiling the ORM query cost more than running it.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT definition FROM {CustomProcedure._meta.db_table} "  # noqa: S608
            "WHERE municipality_id = %s AND procedure_id = %s",
            [municipality.pk, procedure_id],
        )
        row = cursor.fetchone()
    if row is not None:
        field = CustomProcedure._meta.get_field("definition")
        definition = field.from_db_value(row[0], None, connection)  # type: ignore[attr-defined,arg-type]
        try:
            return parse_definition(definition, standard=False)
        except DefinitionError:
            return None
    return standard_procedure(procedure_id)


def validate_payload(procedure: Procedure, data: dict[str, Any]) -> list[Problem]:
    """Every problem of ``data`` against ``procedure`` (empty list: valid).

    Each problem is ``{"field", "code", "message_ja", "message_en"}``; the API refuses a
    payload with problems as ``payload_invalid`` and lists them in ``details``.
    """
    return clean_answers(procedure, data)[1]
