"""Demo seeding for benefits: the two example programs, accounts for 80 %, eligibility."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiban.benefits import services
from kiban.core.actors import operator_actor
from kiban.core.models import Municipality

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "benefits"
EXAMPLE_FILES = ("special-flat-rate.yaml", "age-band.yaml")


def seed(*, municipality: Municipality, residents: int, out: Any = None) -> None:
    """Idempotent: loading, account generation and eligibility skip what exists."""
    actor = operator_actor("demo-seed")
    for name in EXAMPLE_FILES:
        path = EXAMPLES / name
        if not path.exists():  # installed without the examples directory
            continue
        program, _ = services.load_program_file(actor=actor, municipality=municipality, path=path)
        result = services.compute_eligibility(
            actor=actor, municipality=municipality, program_id=program.program_id
        )
        if out:
            out.print(
                f"{municipality.name}: {program.program_id} {result.entitlements:,} "
                f"entitlements, ¥{result.total:,}"
            )
    services.ensure_builtin_program(
        actor=actor, municipality=municipality, program_id=services.CHILD_ALLOWANCE
    )
    created = services.generate_demo_accounts(actor=actor, municipality=municipality, share=0.8)
    if out:
        out.print(f"{municipality.name}: {created:,} 公金受取口座 (demo)")
