"""What the planner statistics a registry load leaves are worth to the benefits pipeline.

On the current DATABASE_URL (an empty database: the city is generated here), a city is
generated WITHOUT the load's own ANALYZE (``bulk.ANALYZE_FROM`` set out of reach), then
timed twice: as loaded, and after ``ANALYZE`` of the four registry tables (what a load of
``bulk.ANALYZE_FROM`` persons or more now does itself). Each pass runs eligibility, one
batch with its Zengin file, the status, the dashboard and the baseline query of
``bench_benefits.py``. (On PostgreSQL, autovacuum may analyze the tables on its own in
between; the figures say so when the first pass is as fast as the second.)

    DATABASE_URL=sqlite:////tmp/stats.sqlite3 KIBAN_MODE=test \\
        .venv/bin/python benchmarks/stats_after_load.py 1000000
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any


def _pass(m: Any, tag: str) -> None:
    import bench_benefits as bb

    from kiban.benefits import services
    from kiban.benefits.models import BankAccount
    from kiban.benefits.programs import parse_definition
    from kiban.core.actors import operator_actor

    op = operator_actor("bench")
    bb._reset(m)
    if not BankAccount.objects.filter(municipality=m).exists():
        services.generate_demo_accounts(actor=op, municipality=m, share=0.8)
    services.load_program(actor=op, municipality=m, definition=parse_definition(bb.PROGRAM))
    figures: dict[str, float] = {}
    started = time.perf_counter()
    services.compute_eligibility(actor=op, municipality=m, program_id="bench-flat")
    figures["eligibility"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        services.pay(actor=op, municipality=m, program_id="bench-flat", transfer_date=bb.TRANSFER,
                     out=Path(tmp) / "zengin.txt", today=date(2026, 11, 2))  # fmt: skip
        figures["batch + file"] = time.perf_counter() - started
    started = time.perf_counter()
    services.program_status(actor=op, municipality=m, program_id="bench-flat")
    figures["status"] = time.perf_counter() - started
    started = time.perf_counter()
    services.status_and_towns(actor=op, municipality=m, program_id="bench-flat")
    services.needing_action(actor=op, municipality=m, program_id="bench-flat", limit=50)
    figures["dashboard"] = time.perf_counter() - started
    figures["baseline"] = bb._baseline(m)[0]
    print(tag + ": " + ", ".join(f"{k} {v:.2f} s" for k, v in figures.items()), flush=True)


def main(residents: int) -> None:
    import bench_benefits as bb
    from django.db import connection

    from kiban.registry import bulk

    m = bb._municipality()
    bulk.ANALYZE_FROM = sys.maxsize  # the load as it was before it analyzed
    print(f"{connection.vendor}, {residents:,} residents: generated in "
          f"{bb._registry(m, residents):.1f} s", flush=True)  # fmt: skip
    _pass(m, "without statistics")
    started = time.perf_counter()
    with connection.cursor() as cur:
        bulk._refresh_statistics(cur)
    print(f"ANALYZE of the registry tables: {time.perf_counter() - started:.2f} s")
    _pass(m, "registry tables analyzed")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_benefits import standalone

    standalone()
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
