"""Benefit payments at city scale: eligibility + batch + Zengin file, end to end.

On a generated city (``kiban.registry.bulk``: 100,000 residents quick, 3,770,000 full), a
household program modelled on the 特別定額給付金 (¥100,000 per resident on the base date,
paid to the head) is computed from the registry, every household with an account (80 %
of residents have one) is put into one payment batch and the 総合振込 file is written.
The baseline is ONE plain SQL query on the same database that counts the eligible
households and sums their amounts as of the base date; the ratio says what the ledger,
the exactly-once bookkeeping and the file cost on top of the bare computation.
Also measured: what a clerk waits for (the status, the console's dashboard and program
list) and notice letters (PDF with QR code) per second.

    KIBAN_MODE=test .venv/bin/python benchmarks/run.py --only benefits [--full]
    KIBAN_MODE=test .venv/bin/python benchmarks/bench_benefits.py 1000000  # one size
"""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

CODE = ("271004", "大阪市", "大阪府")  # no demo or test uses it
AS_OF = date(2026, 10, 1)
BASE = date(2026, 4, 27)
TRANSFER = date(2026, 12, 1)  # a Tuesday
PROGRAM = {
    "id": "bench-flat", "name": "ベンチマーク定額給付金", "base_date": BASE.isoformat(),
    "unit": "household", "amount": {"fixed": 100000},
    "eligibility": {"source": "registry"}, "push": True,
}  # fmt: skip


def _municipality() -> Any:
    from kiban.core.actors import operator_actor
    from kiban.core.models import Municipality
    from kiban.core.services import add_municipality

    m = Municipality.objects.filter(code=CODE[0]).first()
    if m is None:
        m = add_municipality(
            actor=operator_actor("bench"), code=CODE[0], name=CODE[1], prefecture=CODE[2],
            settings={"bank": {"requester_code": "2710040001", "requester_name": "ｵｵｻｶｼ",
                               "bank_code": "0001", "branch_code": "001", "account_type": "1",
                               "account_number": "1234567"}},
        )  # fmt: skip
    return m


def _registry(m: Any, residents: int) -> float:
    from kiban.core.actors import operator_actor
    from kiban.registry.models import Person

    started = time.perf_counter()
    if Person.objects.filter(municipality=m).exists():
        return 0.0
    try:
        from kiban.registry import bulk
    except ImportError:  # pragma: no cover - before the registry bulk loader landed
        from kiban.benefits.testcity import generate_city

        generate_city(m, households=residents * 10 // 21, base_date=BASE, today=AS_OF)
    else:
        bulk.generate(actor=operator_actor("bench"), municipality=m, residents=residents, seed=1,
                      as_of=AS_OF)  # fmt: skip
    return time.perf_counter() - started


def _baseline(m: Any) -> tuple[float, int, int]:
    from django.db import connection

    sql = (
        "SELECT COUNT(*), SUM(n) * 100000 FROM (SELECT household_id, COUNT(*) AS n "
        "FROM registry_personstate WHERE municipality_id = %s AND valid_from <= %s "
        "AND valid_to > %s AND status = 'resident' AND household_id IS NOT NULL "
        "GROUP BY household_id) g"
    )
    base = connection.ops.adapt_datefield_value(BASE)
    best = float("inf")
    row: Any = (0, 0)
    for _ in range(3):
        started = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute(sql, [m.code, base, base])
            row = cur.fetchone()
        best = min(best, time.perf_counter() - started)
    return best, int(row[0]), int(row[1] or 0)


def _reset(m: Any) -> None:
    """Drop the benefit rows of an earlier run (children first; plain DELETEs, since the
    ORM's PROTECT check would load every entitlement of a city first)."""
    from django.db import connection, transaction

    from kiban.benefits.models import Entitlement, Payment, PaymentBatch, Program

    with transaction.atomic(), connection.cursor() as cur:
        for model in (Payment, PaymentBatch, Entitlement, Program):
            cur.execute(
                f"DELETE FROM {model._meta.db_table} WHERE municipality_id = %s",
                [m.code],
            )


def main(full: bool, residents: int | None = None) -> list[dict[str, Any]]:
    from django.db import connection

    from kiban.benefits import services
    from kiban.benefits.letters import generate_notice_letters
    from kiban.benefits.models import BankAccount
    from kiban.benefits.programs import parse_definition
    from kiban.core.actors import operator_actor

    residents = residents or (3_770_000 if full else 100_000)
    db = connection.vendor
    op = operator_actor("bench")
    m = _municipality()
    rows: list[dict[str, Any]] = []
    gen = _registry(m, residents)
    _reset(m)
    started = time.perf_counter()
    if not BankAccount.objects.filter(municipality=m).exists():
        services.generate_demo_accounts(actor=op, municipality=m, share=0.8)
    accounts_s = time.perf_counter() - started
    # No ANALYZE here: the registry load and the account generation refresh the planner
    # statistics themselves, and what is measured is what an operator gets.
    baseline_s, households, baseline_total = _baseline(m)

    services.load_program(actor=op, municipality=m, definition=parse_definition(PROGRAM))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        elig = services.compute_eligibility(actor=op, municipality=m, program_id="bench-flat")
        elig_s = time.perf_counter() - started
        paid = services.pay(actor=op, municipality=m, program_id="bench-flat",
                            transfer_date=TRANSFER, out=Path(tmp) / "zengin.txt",
                            today=date(2026, 11, 2))  # fmt: skip
        e2e = time.perf_counter() - started
        file_bytes = sum(f.stat().st_size for f in paid.files)
        assert elig.entitlements == households and elig.total == baseline_total, (
            elig, households, baseline_total)  # fmt: skip
        # What a clerk waits for: the status (CLI and API), the dashboard and the list.
        started = time.perf_counter()
        services.program_status(actor=op, municipality=m, program_id="bench-flat")
        status_s = time.perf_counter() - started
        started = time.perf_counter()
        services.status_and_towns(actor=op, municipality=m, program_id="bench-flat")
        services.needing_action(actor=op, municipality=m, program_id="bench-flat", limit=50)
        dashboard_s = time.perf_counter() - started
        started = time.perf_counter()
        services.program_totals(actor=op, municipality=m)
        totals_s = time.perf_counter() - started
        letters_n = 2000 if full else 500
        started = time.perf_counter()
        run = generate_notice_letters(actor=op, municipality=m, program_id="bench-flat",
                                      out_dir=Path(tmp) / "letters", limit=letters_n)  # fmt: skip
        letters_s = time.perf_counter() - started
    tag = f"{residents:,} residents"
    rows.append({"name": f"registry generation ({tag})", "value": round(gen, 1), "unit": "s",
                 "baseline": None, "ratio": None, "db": db})  # fmt: skip
    rows.append({"name": f"demo accounts 80% ({tag})", "value": round(accounts_s, 1), "unit": "s",
                 "baseline": None, "ratio": None, "db": db})  # fmt: skip
    rows.append({"name": f"eligibility, {elig.entitlements:,} households ({tag})",
                 "value": round(elig_s, 2), "unit": "s", "baseline": None, "ratio": None,
                 "db": db})  # fmt: skip
    rows.append({"name": f"batch + Zengin file, {paid.count:,} transfers ({tag})",
                 "value": round(e2e - elig_s, 2), "unit": "s", "baseline": None, "ratio": None,
                 "db": db})  # fmt: skip
    rows.append({"name": f"eligibility + batch + Zengin file, {paid.count:,} transfers, "
                         f"{file_bytes / 1e6:.0f} MB ({tag})",
                 "value": round(e2e, 2), "unit": "s", "baseline": round(baseline_s, 3),
                 "ratio": round(e2e / baseline_s, 1) if baseline_s else None, "db": db})  # fmt: skip
    for name, value in (
        ("payment status by state (kiban benefit status)", status_s),
        ("console dashboard: states, chart by town, 50 needing action", dashboard_s),
        ("console program list: totals of every program", totals_s),
    ):
        rows.append({"name": f"{name} ({tag})", "value": round(value, 2), "unit": "s",
                     "baseline": None, "ratio": None, "db": db})  # fmt: skip
    rows.append({"name": "notice letters (A4 PDF + QR)", "value": round(run.letters / letters_s, 1),
                 "unit": "letters/s", "baseline": None, "ratio": None, "db": db})  # fmt: skip
    return rows


def standalone() -> None:
    """For a benefits benchmark run as a script: the project and this folder importable,
    Django set up, the current DATABASE_URL migrated."""
    import os
    import sys

    here = Path(__file__).resolve().parent
    sys.path[:0] = [str(here.parent), str(here)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kiban.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)


if __name__ == "__main__":
    import sys

    standalone()
    # python benchmarks/bench_benefits.py [--full | RESIDENTS]: the current DATABASE_URL.
    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()]
    for r in main("--full" in sys.argv, sizes[0] if sizes else None):
        print(r)
