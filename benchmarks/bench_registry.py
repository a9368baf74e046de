"""Registry at scale: generate + load N residents, as-of snapshot, name search.

    .venv/bin/python benchmarks/run.py --only registry [--full]

Rows (quick: N = 100,000; --full: 1,000,000 and 3,770,000):

- ``generate+load N``: wall time of ``kiban.registry.bulk.generate`` (synthetic households,
  My Number encryption, search keys, inserts of households, persons, events and states, one
  transaction, one audit entry).
- ``load rate N``: rows written per second by the load stage: the writing process's wall
  time minus the time it spent waiting for the next batch of rows from the producer
  processes that generate and build them (inserts, index rebuilds, audit entry, commit).
  ``generate+load rate`` is the same rows over the whole wall time. ``baseline`` is a plain
  bulk insert of the same rows (the producers build them again, same seed) into tables
  with the same columns and no index, constraint or foreign key, by the same method
  (executemany on SQLite, COPY on PostgreSQL) and timed the same way; ``ratio`` = load
  rate / baseline rate (1.0 = as fast as a plain insert; 0.33 = three times slower).
- ``as-of household snapshot N``: ``kiban.registry.queries.households_as_of`` for a date,
  timed in a fresh process (``bench_registry.py --snapshot CODE``).
- ``name search p50/p99 N``: 1000 random name prefixes, each one indexed range query on
  ``PersonState.name_key`` returning up to 50 current records.

The benchmark municipality is 札幌市 (011002), which no demo or test uses; its registry
rows are deleted before and after each size.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import date
from typing import Any

BENCH_CODE = "011002"
AS_OF = date(2026, 10, 1)
SEED = 1


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kiban.settings")
    import django

    django.setup()


def _municipality() -> Any:
    from kiban.core.actors import operator_actor
    from kiban.core.models import Municipality
    from kiban.core.services import add_municipality

    m = Municipality.objects.filter(code=BENCH_CODE).first()
    if m is None:
        m = add_municipality(
            actor=operator_actor("bench"), code=BENCH_CODE, name="札幌市", prefecture="北海道"
        )
    return m


def _wipe(code: str) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for table in (
            "registry_certificateissue",
            "registry_personstate",
            "registry_registryevent",
            "registry_person",
            "registry_household",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE municipality_id = %s", [code])


class _Waits:
    """Seconds a writer spent waiting for the producers' next batch (not writing)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def timed(self, batches: Any) -> Any:
        try:
            while True:
                started = time.perf_counter()
                try:
                    item = next(batches)
                except StopIteration:
                    return
                finally:
                    self.seconds += time.perf_counter() - started
                yield item
        finally:
            batches.close()


def _baseline(m: Any, residents: int) -> tuple[float, int]:
    """Rows per second of a plain insert of the same rows into index-free copies; rows.

    The same producer processes build the same rows again (the city is deterministic for
    its seed) while this process inserts them, by the load's own method, into tables with
    the same columns and no index, constraint or foreign key, in one transaction on the
    same tuned connection. Timed as the load is: the writer's own time, not its waits for
    the producers. Only the tables' indexes, constraints and keys differ from the load.
    """
    from contextlib import closing

    from django.db import connection, transaction

    from kiban.core.actors import operator_actor
    from kiban.registry import bulk

    with connection.cursor() as cursor:
        for table in bulk.TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS bench_plain_{table}")
            cursor.execute(f"CREATE TABLE bench_plain_{table} AS SELECT * FROM {table} WHERE 1 = 0")
    written = 0
    waits = _Waits()
    try:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            bulk._tune_connection(cursor)
            setup = bulk._setup(m, operator_actor("bench"), cursor)
            writer = bulk._Writer(cursor)
            job = bulk._SynthJob(m.code, residents, SEED, AS_OF)
            with closing(waits.timed(bulk._batches_from_producers(setup, job))) as batches:
                for batch, _ in batches:
                    for table, columns, rows in batch:
                        writer.write(f"bench_plain_{table}", columns, rows)
                        written += len(rows)
        elapsed = time.perf_counter() - started
    finally:
        bulk._untune_connection()
        with connection.cursor() as cursor:
            for table in bulk.TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS bench_plain_{table}")
    return written / (elapsed - waits.seconds), written


def _load(m: Any, residents: int) -> tuple[Any, float, float]:
    from kiban.core.actors import operator_actor
    from kiban.registry import bulk

    real_producers = bulk._batches_from_producers
    waits = _Waits()

    def timed_producers(*args: Any, **kwargs: Any) -> Any:
        return waits.timed(real_producers(*args, **kwargs))

    bulk._batches_from_producers = timed_producers  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        result = bulk.generate(
            actor=operator_actor("bench"),
            municipality=m,
            residents=residents,
            seed=SEED,
            as_of=AS_OF,
        )
        elapsed = time.perf_counter() - started
    finally:
        bulk._batches_from_producers = real_producers  # type: ignore[assignment]
    return result, elapsed, elapsed - waits.seconds


def _snapshot_seconds(m: Any) -> tuple[float, int]:
    """``households_as_of`` timed in a fresh process, as a CLI run (benefit eligibility) or
    a server worker meets it, not in this one, whose heap holds what generating and
    inserting a city twice left behind."""
    child = subprocess.run(
        [sys.executable, __file__, "--snapshot", m.code],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    seconds, households = json.loads(child.stdout.splitlines()[-1])
    return float(seconds), int(households)


def _snapshot_here(code: str) -> None:
    """The child of ``_snapshot_seconds``: print [seconds, households] as JSON."""
    from kiban.registry import queries

    started = time.perf_counter()
    households = queries.households_as_of(code, AS_OF)
    print(json.dumps([time.perf_counter() - started, len(households)]), flush=True)


def _name_search(m: Any) -> tuple[float, float]:
    from kiban.registry.models import OPEN_END, PersonState

    rng = random.Random(42)
    keys = list(
        PersonState.objects.filter(municipality=m, valid_to=OPEN_END)
        .order_by("id")
        .values_list("name_key", flat=True)[:20000]
    )
    prefixes = [k[: rng.choice((1, 2, 3))] for k in rng.sample(keys, min(1000, len(keys)))]
    timings = []
    for prefix in prefixes:
        started = time.perf_counter()
        list(
            PersonState.objects.filter(
                municipality=m,
                name_key__gte=prefix,
                name_key__lt=prefix + "\U0010ffff",
                # A range (not equality) on valid_to: SQLite's planner would otherwise take
                # the as-of index and sort every current record.
                valid_to__gte=OPEN_END,
            )
            .order_by("name_key")
            .values_list("person_id", "family_name", "given_name", "name_key")[:50]
        )
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return timings[len(timings) // 2], timings[min(len(timings) - 1, int(len(timings) * 0.99))]


def run_size(residents: int) -> list[dict[str, Any]]:
    from django.db import connection

    m = _municipality()
    _wipe(m.code)
    result, elapsed, writing = _load(m, residents)
    rows = result.households + result.persons + result.events + result.states
    load_rate = rows / max(writing, 1e-9)
    baseline, baseline_rows = _baseline(m, residents)
    assert baseline_rows == rows, (baseline_rows, rows)  # the very same rows
    # The load analyzed the tables it wrote (bulk.ANALYZE_FROM): nothing to do here.
    snapshot, households = _snapshot_seconds(m)
    p50, p99 = _name_search(m)
    if not os.environ.get("KIBAN_BENCH_KEEP"):  # a throwaway database may keep the rows
        _wipe(m.code)
    db = connection.vendor
    label = f"{residents:,}"
    return [
        {"name": f"generate+load {label} residents", "value": elapsed, "unit": "s",
         "baseline": None, "ratio": None, "db": db},
        {"name": f"load rate {label} ({rows:,} rows)", "value": load_rate, "unit": "rows/s",
         "baseline": baseline, "ratio": load_rate / baseline, "db": db},
        {"name": f"generate+load rate {label}", "value": rows / elapsed, "unit": "rows/s",
         "baseline": baseline, "ratio": rows / elapsed / baseline, "db": db},
        {"name": f"as-of household snapshot {label} ({households:,} households)",
         "value": snapshot, "unit": "s", "baseline": None, "ratio": None, "db": db},
        {"name": f"name search p50 {label}", "value": p50, "unit": "ms", "baseline": None,
         "ratio": None, "db": db},
        {"name": f"name search p99 {label}", "value": p99, "unit": "ms", "baseline": None,
         "ratio": None, "db": db},
    ]  # fmt: skip


def main(full: bool) -> list[dict[str, Any]]:
    _setup()
    sizes = [1_000_000, 3_770_000] if full else [100_000]
    rows: list[dict[str, Any]] = []
    for n in sizes:
        rows.extend(run_size(n))
    return rows


if __name__ == "__main__":
    # Stand-alone: python benchmarks/bench_registry.py [--full | SIZE ...]; rows print as
    # each size finishes.
    from django.core.management import call_command

    _setup()
    if sys.argv[1:2] == ["--snapshot"]:
        _snapshot_here(sys.argv[2])
        sys.exit(0)
    call_command("migrate", "--no-input", verbosity=0)
    args = [a for a in sys.argv[1:] if a != "--full"]
    for n in [int(a) for a in args] or (
        [1_000_000, 3_770_000] if "--full" in sys.argv else [100_000]
    ):
        for row in run_size(n):
            print(row, flush=True)
