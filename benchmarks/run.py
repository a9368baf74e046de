"""Run every benchmark on SQLite and on a throwaway PostgreSQL server; print the figures.

    .venv/bin/python benchmarks/run.py [--full] [--only registry,benefits] [--db sqlite|postgres]

Each ``benchmarks/bench_<name>.py`` has ``main(full: bool) -> list[dict]`` returning rows
with name, value, unit, baseline, ratio. Both databases run on this machine in the same
run, so every figure stands next to its baseline. Results are also written to
``var/bench-results.json``; copy them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Database benchmarks; bench_synth.py and bench_cms_verify.py are standalone micro-benchmarks.
BENCHES = ["registry", "intake", "benefits"]


def _child(names: list[str], full: bool) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kiban.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", "--no-input", verbosity=0)
    rows: list[dict[str, object]] = []
    for name in names:
        try:
            mod = importlib.import_module(f"benchmarks.bench_{name}")
        except ModuleNotFoundError as e:
            if e.name == f"benchmarks.bench_{name}":
                continue
            raise
        if not hasattr(mod, "main"):
            continue
        started = time.perf_counter()
        for row in mod.main(full):
            row.setdefault("db", connection.vendor)
            row.setdefault("bench", name)
            rows.append(row)
            print("  " + _fmt(row), file=sys.stderr, flush=True)
        print(f"  ({name} took {time.perf_counter() - started:.1f} s)", file=sys.stderr)
    print("@@RESULTS@@" + json.dumps(rows, ensure_ascii=False, default=str))


def _fmt(row: dict[str, object]) -> str:
    value = row.get("value")
    v = (
        f"{value:,.1f}"
        if isinstance(value, float)
        else f"{value:,}"
        if isinstance(value, int)
        else str(value)
    )
    text = f"[{row.get('db')}] {row.get('name')}: {v} {row.get('unit', '')}"
    if row.get("baseline") is not None:
        b = row["baseline"]
        bs = f"{b:,.1f}" if isinstance(b, float) else str(b)
        text += f" | baseline {bs}"
    if row.get("ratio") is not None:
        text += f" | ratio {float(row['ratio']):.2f}x"  # type: ignore[arg-type]
    return text


def _run(db: str, names: list[str], full: bool) -> list[dict[str, object]]:
    env = dict(os.environ, KIBAN_MODE="test", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, str(Path(__file__)), "--child", "--only", ",".join(names)]
    if full:
        cmd.append("--full")
    with tempfile.TemporaryDirectory() as tmp:
        if db == "sqlite":
            env.pop("DATABASE_URL", None)
            env["KIBAN_VAR_DIR"] = tmp
        else:
            env.pop("DATABASE_URL", None)
            env.setdefault("KIBAN_PG_SHARED_BUFFERS", "2GB")
            env.setdefault("KIBAN_PG_WORK_MEM", "256MB")
            cmd = [str(ROOT / "scripts" / "with-postgres.sh"), *cmd]
        env["KIBAN_KEYS_DIR"] = str(Path(tmp) / "keys")
        env["KIBAN_FILES_DIR"] = str(Path(tmp) / "files")
        print(f"== {db} ==", flush=True)
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULTS@@"):
            return list(json.loads(line[len("@@RESULTS@@") :]))
    print(f"benchmarks on {db} failed (exit {proc.returncode})", file=sys.stderr)
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="Yokohama scale (3.77M residents)")
    parser.add_argument("--only", default="", help="Comma-separated benchmark names")
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or BENCHES
    if args.child:
        _child(names, args.full)
        return
    rows: list[dict[str, object]] = []
    for db in args.db.split(","):
        rows += _run(db, names, args.full)
    print("\nkiban benchmarks on", os.uname().nodename, f"({os.cpu_count()} cores)")
    for row in rows:
        print(_fmt(row))
    out = ROOT / "var" / "bench-results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
