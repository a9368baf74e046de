"""How close to the benefits baseline can ANY pipeline get? A lower bound, measured.

Issue 7 asks for eligibility + batch + Zengin file within 3x of one plain SQL query that
counts the eligible households and sums their amounts. This script does, in bare SQL on
the same generated city and database as ``bench_benefits.py``, the least work the issue
requires of any design, with everything a real ledger needs left out:

- E: one row per eligible household (payee and amount) with a unique key on the household
  (the issue: "entitlements are rows ... with a database uniqueness constraint");
  on PostgreSQL also split over two connections at once, as kiban's eligibility is;
- P: one row per entitlement paid, with a unique key (exactly once), in two forms:
  (a) the entitlement and account ids only, (b) with the account details the file needs;
- F: the 総合振込 data records, formatted by the database and written to a file in cp932:
  from (a) joined with entitlements and accounts, or from (b) alone.

Every table is UNLOGGED (no WAL) with one index and no other columns: no status, dates,
audit, four-eyes state, result codes, or secondary indexes. The floor is E + the cheaper
of P(a) + F(a) and P(b) + F(b), reported as a ratio to the baseline.

    KIBAN_MODE=test scripts/with-postgres.sh .venv/bin/python benchmarks/floor_benefits.py 1000000
    DATABASE_URL=sqlite:////tmp/f.sqlite3 KIBAN_MODE=test .venv/bin/python benchmarks/floor_benefits.py 1000000
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

_RECORD_PG = (
    "format('2%s%-15s%s%-15s0000%s%s%-30s%s0%s7        ', {a}bank_code, {a}bank_name, "
    "{a}branch_code, {a}branch_name, {a}account_type, {a}account_number, {a}holder_zengin, "
    "lpad({e}amount::text, 10, '0'), lpad({e}household_id::text, 20, '0'))"
)
_RECORD_SQLITE = (
    "printf('2%s%!-15s%s%!-15s0000%s%s%!-30s%010d0%020d7        ', {a}bank_code, {a}bank_name, "
    "{a}branch_code, {a}branch_name, {a}account_type, {a}account_number, {a}holder_zengin, "
    "{e}amount, {e}household_id)"
)
_SNAPSHOT = (
    "bank_code, bank_name, branch_code, branch_name, account_type, account_number, holder_zengin"
)


def _timed(cur: Any, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> float:
    started = time.perf_counter()
    cur.execute(sql, params)
    return time.perf_counter() - started


def _grouped(code: str, base: Any, ranged: bool) -> tuple[str, list[Any]]:
    sql = (
        "SELECT household_id, MIN(CASE WHEN is_head THEN person_id END) AS head, "
        "COUNT(*) * 100000 AS amount FROM registry_personstate WHERE municipality_id = %s "
        "AND valid_from <= %s AND valid_to > %s AND status = 'resident' "
        "AND household_id IS NOT NULL"
        + (" AND household_id BETWEEN %s AND %s" if ranged else "")
        + " GROUP BY household_id"
    )
    return sql, [code, base, base]


def _file(cur: Any, pg: bool, select: str, out: Path) -> tuple[float, int]:
    """The records of ``select`` (one text column, in order) written to ``out`` in cp932."""
    started = time.perf_counter()
    size = 0
    with open(out, "wb") as fp:
        if pg:
            with cur.copy(f"COPY ({select}) TO STDOUT") as copy:
                for block in copy:
                    data = bytes(block).decode().encode("cp932")
                    size += len(data)
                    fp.write(data)
        else:
            cur.execute(select)
            while rows := cur.fetchmany(20_000):
                data = ("\r\n".join(r[0] for r in rows) + "\r\n").encode("cp932")
                size += len(data)
                fp.write(data)
    return time.perf_counter() - started, size


def main(residents: int) -> list[dict[str, Any]]:
    import bench_benefits as bb
    from django.db import connection

    from kiban.benefits import services
    from kiban.benefits.models import BankAccount
    from kiban.core.actors import operator_actor

    m = bb._municipality()
    bb._registry(m, residents)
    if not BankAccount.objects.filter(municipality=m).exists():
        services.generate_demo_accounts(actor=operator_actor("bench"), municipality=m, share=0.8)
    baseline, households, _total = bb._baseline(m)
    pg = connection.vendor == "postgresql"
    base = connection.ops.adapt_datefield_value(bb.BASE)
    unlogged = "UNLOGGED " if pg else ""
    record = _RECORD_PG if pg else _RECORD_SQLITE
    connection.ensure_connection()
    raw = connection.connection
    if pg:
        raw.autocommit = True
    else:
        raw.isolation_level = None  # autocommit: each statement its own transaction
    rows: list[dict[str, Any]] = []
    with raw.cursor() if pg else closing(raw.cursor()) as cur:
        for table in ("floor_ent", "floor_pay_a", "floor_pay_b"):
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(
            f"CREATE {unlogged}TABLE floor_ent (household_id bigint NOT NULL, "
            "person_id bigint, amount bigint, UNIQUE (household_id))"
        )
        grouped, params = _grouped(m.code, base, False)
        p = "%s" if pg else "?"
        e_one = _timed(
            cur, f"INSERT INTO floor_ent SELECT * FROM ({grouped.replace('%s', p)}) g "
            "ORDER BY household_id", params,
        )  # fmt: skip
        cur.execute("SELECT COUNT(*) FROM floor_ent")
        assert cur.fetchone()[0] == households
        e_floor = e_one
        if pg:  # two connections at once, each half the households (as kiban's chunks)
            cur.execute("TRUNCATE floor_ent")
            cur.execute(
                "SELECT MIN(id), MAX(id) FROM registry_household WHERE municipality_id = %s",
                [m.code],
            )
            lo, hi = cur.fetchone()
            halves = [(lo, (lo + hi) // 2), ((lo + hi) // 2 + 1, hi)]
            ranged, rparams = _grouped(m.code, base, True)

            def half(first: int, last: int) -> None:
                import psycopg

                with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as c2:
                    c2.execute(
                        f"INSERT INTO floor_ent SELECT * FROM ({ranged}) g ORDER BY household_id",
                        [*rparams, first, last],
                    )

            started = time.perf_counter()
            threads = [threading.Thread(target=half, args=h) for h in halves]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            e_two = time.perf_counter() - started
            cur.execute("SELECT COUNT(*) FROM floor_ent")
            assert cur.fetchone()[0] == households
            e_floor = min(e_one, e_two)
            rows.append(_row("E on two connections", e_two, baseline, residents, "postgresql"))
        rows.insert(0, _row("E on one connection", e_one, baseline, residents, connection.vendor))
        cur.execute("ANALYZE floor_ent")
        account = (
            f"JOIN benefits_bankaccount a ON a.person_id = e.person_id AND a.municipality_id = {p}"
        )
        cur.execute(
            f"CREATE {unlogged}TABLE floor_pay_a (household_id bigint PRIMARY KEY, "
            "account_id bigint NOT NULL)"
        )
        p_a = _timed(
            cur, f"INSERT INTO floor_pay_a SELECT e.household_id, a.id FROM floor_ent e {account} "
            "ORDER BY e.household_id", [m.code],
        )  # fmt: skip
        cur.execute(
            f"CREATE {unlogged}TABLE floor_pay_b (household_id bigint PRIMARY KEY, amount bigint, "
            "bank_code text, bank_name text, branch_code text, branch_name text, "
            "account_type text, account_number text, holder_zengin text)"
        )
        p_b = _timed(
            cur, "INSERT INTO floor_pay_b SELECT e.household_id, e.amount, "
            + ", ".join(f"a.{c.strip()}" for c in _SNAPSHOT.split(","))
            + f" FROM floor_ent e {account} ORDER BY e.household_id", [m.code],
        )  # fmt: skip
        cur.execute("SELECT COUNT(*) FROM floor_pay_a")
        paid = cur.fetchone()[0]
        cur.execute("ANALYZE floor_pay_a")
        cur.execute("ANALYZE floor_pay_b")
        with tempfile.TemporaryDirectory() as tmp:
            f_a, size = _file(
                cur, pg,
                f"SELECT {record.format(a='a.', e='e.')} FROM floor_pay_a k "
                "JOIN floor_ent e ON e.household_id = k.household_id "
                "JOIN benefits_bankaccount a ON a.id = k.account_id ORDER BY k.household_id",
                Path(tmp) / "a.txt",
            )  # fmt: skip
            f_b, _ = _file(
                cur, pg, f"SELECT {record.format(a='', e='')} FROM floor_pay_b ORDER BY household_id",
                Path(tmp) / "b.txt",
            )  # fmt: skip
        for table in ("floor_ent", "floor_pay_a", "floor_pay_b"):
            cur.execute(f"DROP TABLE {table}")
    vendor = connection.vendor
    rows += [
        _row("P(a) ids only", p_a, baseline, residents, vendor),
        _row("F(a) joined", f_a, baseline, residents, vendor),
        _row("P(b) with account details", p_b, baseline, residents, vendor),
        _row("F(b) from the payment rows", f_b, baseline, residents, vendor),
    ]
    floor = e_floor + min(p_a + f_a, p_b + f_b)
    name = f"floor: E + P + F, {households:,} households, {paid:,} transfers, {size / 1e6:.0f} MB"
    rows.append(_row(name, floor, baseline, residents, vendor))
    return rows


def _row(name: str, value: float, baseline: float, residents: int, db: str) -> dict[str, Any]:
    return {
        "name": f"{name} ({residents:,} residents)", "value": round(value, 2), "unit": "s",
        "baseline": round(baseline, 3), "ratio": round(value / baseline, 1), "db": db,
    }  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_benefits import standalone

    standalone()
    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()]
    for r in main(sizes[0] if sizes else 100_000):
        print(r)
