"""Demo seeding of the registry: synthetic residents for a municipality (see kiban.demo)."""

from __future__ import annotations

import zlib
from typing import Any

from kiban.core.actors import operator_actor
from kiban.core.models import Municipality
from kiban.registry import bulk
from kiban.registry.models import Person


def seed_for(municipality: Municipality) -> int:
    """The municipality's fixed demo seed: same code, same residents."""
    return zlib.crc32(municipality.code.encode())


def seed(*, municipality: Municipality, residents: int, out: Any = None) -> None:
    """Generate ``residents`` synthetic residents unless the municipality already has some."""
    if Person.objects.filter(municipality=municipality).exists():
        return
    result = bulk.generate(
        actor=operator_actor("demo-seed"),
        municipality=municipality,
        residents=residents,
        seed=seed_for(municipality),
    )
    if out is not None:
        out.print(
            f"{municipality.name}: 住民 {residents:,} 人 / 世帯 {result.households:,} "
            "(synthetic residents)"
        )
