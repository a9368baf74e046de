"""Fixtures for the benefits tests: a tenant, clerks and loaded programs (all synthetic)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kiban.benefits import services
from kiban.benefits.models import Program
from kiban.benefits.programs import parse_definition
from kiban.core.actors import Actor, operator_actor
from kiban.core.models import Municipality
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "benefits"
BASE = date(2026, 4, 27)
#: A bank business day (Tuesday) after "today" in the tests.
TRANSFER = date(2027, 2, 2)
TODAY = date(2027, 1, 12)


@pytest.fixture
def muni(db: None) -> Municipality:
    return factories.municipality()


@pytest.fixture
def op() -> Actor:
    return operator_actor("test-op")


def household_program(m: Municipality, actor: Actor, **over: object) -> Program:
    data: dict[str, object] = {
        "id": "flat",
        "name": "定額給付金テスト",
        "base_date": BASE.isoformat(),
        "unit": "household",
        "amount": {"fixed": 100000},
        "eligibility": {"source": "registry"},
        "push": True,
    }
    data.update(over)
    program, _ = services.load_program(
        actor=actor, municipality=m, definition=parse_definition(data)
    )
    return program
