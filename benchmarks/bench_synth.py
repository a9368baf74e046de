"""Micro benchmark: synthetic residents per second (kiban.registry.synth).

    .venv/bin/python benchmarks/bench_synth.py [--residents 1000000] [--lg-code 141003]

Households are consumed and dropped as they are made, as a loader streaming into the database
would do; holding millions of objects in memory adds garbage-collector time on top.
"""

from __future__ import annotations

import argparse
import time
from datetime import date

from kiban.registry.synth import _calibrated_tables, generate_city
from kiban.registry.towns import towns_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--lg-code", default="141003")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    towns_for(args.lg_code)
    _calibrated_tables()
    setup = time.perf_counter() - start

    start = time.perf_counter()
    households = people = former = events = 0
    for household in generate_city(
        args.lg_code, args.residents, seed=args.seed, as_of=date(2025, 10, 1)
    ):
        households += 1
        people += len(household.members)
        former += len(household.former_members)
        events += sum(len(p.events) for p in household.members)
    elapsed = time.perf_counter() - start

    print(f"setup (town list, age calibration): {setup:.2f} s")
    print(
        f"{people:,} residents in {households:,} households "
        f"(+{former:,} former members, {events:,} events) in {elapsed:.2f} s"
    )
    print(f"{people / elapsed:,.0f} residents/s")


if __name__ == "__main__":
    main()
