"""Signed-application intake over HTTP against a production server (granian, 2 workers).

32 concurrent clients submit distinct signed applications (one per synthetic resident, each
with its own signature certificate, so no verification cache helps) to
``POST /api/v1/municipalities/{code}/applications``; every request runs the full check:
CMS, chain, validity, CRL, 基本4情報 against the registry, payload schema, storage, audit.
The baseline is the same server answering ``GET /api/v1/me`` with a bearer token (an empty
authenticated endpoint), with the same 32 clients. Procedure ``inquiry`` is used because it
has no approval effect: the 住民票 request would measure PDF signing, not intake.

Because the machine may be shared, CPU is reported next to throughput: the application
server's (granian workers), PostgreSQL's when it runs on this host (it shares the cores), the
load generator's, and the load average after the run.

Run through ``benchmarks/run.py`` (Django set up on the benchmark database) or directly:
``KIBAN_MODE=test .venv/bin/python -m benchmarks.bench_intake``.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 32
PROCEDURE = "inquiry"
# Server shape (overridable to compare configurations; the defaults are the measured best).
WORKERS = int(os.environ.get("KIBAN_BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("KIBAN_BENCH_THREADS", "1"))
# More granian options to compare (e.g. "--http 1 --runtime-mode st"); none by default.
EXTRA_ARGS = os.environ.get("KIBAN_BENCH_GRANIAN_ARGS", "").split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup(n: int) -> tuple[str, list[str], str]:
    """Residents, a trusted CA with a current CRL, signed bodies and a token."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from django.db import transaction

    from kiban.core.actors import operator_actor
    from kiban.core.models import ApiToken, Municipality
    from kiban.core.services import add_municipality
    from kiban.identity import jpki
    from kiban.identity.intake import build_payload
    from kiban.identity.services import add_trusted_ca, full_address, load_crl
    from kiban.identity.verify import sign_detached_cms
    from kiban.registry.models import Household, Person, PersonState, Status

    actor = operator_actor("bench")
    code = "011002"  # 札幌市: a tenant of its own, so reruns and other benches do not clash
    m = Municipality.objects.filter(code=code).first() or add_municipality(
        actor=actor, code=code, name="札幌市", prefecture="北海道"
    )
    now = datetime.now(UTC).replace(microsecond=0)
    ca = jpki.build_demo_ca(
        common_name=f"bench CA {time.time_ns()}", crl_url=None, not_before=now - timedelta(days=1)
    )
    add_trusted_ca(actor=actor, certificate=ca.certificate)
    crl = jpki.build_crl(
        ca, [], this_update=now - timedelta(minutes=1), next_update=now + timedelta(days=1)
    )
    load_crl(actor=actor, data=crl.public_bytes(serialization.Encoding.DER))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    run = time.time_ns() % 10**6
    bodies: list[str] = []
    with transaction.atomic():
        # Households of three, like the registry's average.
        households = Household.objects.bulk_create(
            Household(municipality=m, household_no=f"B{run}-{h}", created_on=date(2020, 1, 1))
            for h in range(n // 3 + 1)
        )
        persons = Person.objects.bulk_create(
            Person(
                municipality=m,
                resident_code=f"{run:06d}{i:05d}",
                birth_date=date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                sex="1" if i % 2 else "2",
            )
            for i in range(n)
        )
        states = PersonState.objects.bulk_create(
            PersonState(
                municipality=m,
                person=p,
                resident_code=p.resident_code,
                birth_date=p.birth_date,
                sex=p.sex,
                valid_from=date(2020, 1, 1),
                status=Status.RESIDENT,
                household=households[i // 3],
                relationship="世帯主" if i % 3 == 0 else "同居人",
                family_name="試験",
                given_name=f"{i}号",
                family_kana="シケン",
                given_kana="ゴウ",
                name_key="シケンゴウ",
                given_key="ゴウ",
                town_name="中央区北一条西",
                address_detail=f"{i % 30 + 1}丁目{i}番",
            )
            for i, p in enumerate(persons)
        )
    for i, (person, state) in enumerate(zip(persons, states, strict=True)):
        info = jpki.BasicInfo(
            name=state.full_name,
            sex=person.sex,
            birth_date=person.birth_date,
            address=full_address(state, m),
        )
        cert = jpki.issue_signature_certificate(
            ca,
            key.public_key(),
            info,
            not_before=now - timedelta(hours=1),
            not_after=now + timedelta(days=30),
        )
        payload = build_payload(
            municipality=code,
            procedure_id=PROCEDURE,
            data={"topic": f"質問 {run}-{i}", "message": "ベンチマーク"},
        )
        signature = sign_detached_cms(payload, key, cert)
        bodies.append(
            json.dumps(
                {
                    "procedure": PROCEDURE,
                    "payload": base64.b64encode(payload).decode(),
                    "signature": base64.b64encode(signature).decode(),
                }
            )
        )
    _, token = ApiToken.issue(municipality=m, name="bench", roles=[])
    return code, bodies, token


def _start_server(port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, KIBAN_INTAKE_RATE="0", PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--workers",
        str(WORKERS),
        # One request at a time per process: CPU-bound work, so more threads per worker
        # only add GIL contention (p99 535 ms instead of 3.7 s on SQLite).
        "--blocking-threads",
        str(THREADS),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-ws",
        "--log-level",
        "warning",
        *EXTRA_ARGS,
        "kiban.wsgi:application",
    ]
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(
        "granian did not start: " + (proc.stderr.read() or b"").decode()[-2000:]
        if proc.stderr
        else "granian did not start"
    )


def _tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its children (Linux /proc; 0 elsewhere)."""
    total = 0.0
    proc = Path("/proc")
    if not proc.exists():
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _postgres_server_pid() -> int | None:
    """PID of the local PostgreSQL server process (the backends are its children), or None
    for SQLite or a server on another host."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    try:
        if not Path(f"/proc/{backend}/comm").read_text().startswith("postgres"):
            return None  # that pid is not ours: the server runs elsewhere
        parent = int(Path(f"/proc/{backend}/stat").read_text().rsplit(") ", 1)[1].split()[1])
        if not Path(f"/proc/{parent}/comm").read_text().startswith("postgres"):
            return None
    except (OSError, IndexError, ValueError):
        return None
    return parent


class _Cpu:
    """CPU seconds of the application server, the database server (PostgreSQL on this host)
    and this load generator, sampled around each load phase."""

    def __init__(self, server_pid: int, db_pid: int | None) -> None:
        self.server_pid, self.db_pid = server_pid, db_pid

    def sample(self) -> tuple[float, float, float]:
        db = _tree_cpu(self.db_pid) if self.db_pid else 0.0
        return _tree_cpu(self.server_pid), db, time.process_time()

    @staticmethod
    def per_request_ms(
        before: tuple[float, float, float], after: tuple[float, float, float], n: int
    ) -> tuple[float, float, float]:
        server, db, client = ((a - b) * 1000 / n for a, b in zip(after, before, strict=True))
        return server, db, client


def _load(
    port: int, requests: Sequence[tuple[str, str, str | None, dict[str, str]]], ok: set[int]
) -> dict[str, float]:
    """Send ``requests`` with CLIENTS threads (keep-alive); throughput and latency."""
    work: queue.Queue[tuple[str, str, str | None, dict[str, str]]] = queue.Queue()
    for r in requests:
        work.put(r)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine: list[float] = []
        while True:
            try:
                method, path, body, headers = work.get_nowait()
            except queue.Empty:
                break
            started = time.perf_counter()
            conn.request(method, path, body=body.encode() if body else None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            mine.append(time.perf_counter() - started)
            if response.status not in ok:
                with lock:
                    failures.append(f"{response.status} {data[:200]!r}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, e.g. {failures[:3]}")
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def main(full: bool = False) -> list[dict[str, Any]]:
    from django.db import connection

    from kiban.procedures.models import Application

    n = 8000 if full else 2000
    code, bodies, token = _setup(n)
    if connection.vendor == "postgresql":
        # A production database has planner statistics (autovacuum keeps them); without
        # them the thousands of rows just bulk-inserted look empty to the planner and the
        # run measures plans no deployment uses.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    stored_before = Application.objects.filter(municipality_id=code).count()
    db_pid = _postgres_server_pid()
    connection.close()  # the server processes open their own connections
    port = _free_port()
    server = _start_server(port)
    cpu = _Cpu(server.pid, db_pid)
    try:
        headers = {"Content-Type": "application/json"}
        warm = [
            ("POST", f"/api/v1/municipalities/{code}/applications", b, headers) for b in bodies[:64]
        ]
        _load(port, warm, {201})
        before = cpu.sample()
        intake = _load(
            port,
            [
                ("POST", f"/api/v1/municipalities/{code}/applications", b, headers)
                for b in bodies[64:]
            ],
            {201},
        )
        intake_cpu = cpu.per_request_ms(before, cpu.sample(), len(bodies[64:]))
        load_average = os.getloadavg()[0]
        auth = {"Authorization": f"Bearer {token}"}
        _load(port, [("GET", "/api/v1/me", None, auth)] * 200, {200})
        baseline_requests = max(2000, n)
        before = cpu.sample()
        base = _load(port, [("GET", "/api/v1/me", None, auth)] * baseline_requests, {200})
        base_cpu = cpu.per_request_ms(before, cpu.sample(), baseline_requests)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    # Every 201 must be a stored application: count them (and nothing else) in the database.
    stored = Application.objects.filter(municipality_id=code).count() - stored_before
    if stored != len(bodies):
        raise RuntimeError(f"{len(bodies)} applications accepted but {stored} stored")
    connection.close()
    cores = min(2, os.cpu_count() or 2)
    intake_cpu_ms, intake_db_ms, intake_client_ms = intake_cpu
    base_cpu_ms, base_db_ms, base_client_ms = base_cpu
    cpu_rows: list[dict[str, Any]] = []
    if intake_cpu_ms > 0 and base_cpu_ms > 0:
        # Load-independent view: server CPU per request (the machine may be shared), and
        # what two otherwise idle cores could sustain at that cost (database CPU excluded).
        cpu_rows = [
            {
                "name": "server CPU per application (granian workers)",
                "value": round(intake_cpu_ms, 2),
                "unit": "ms",
                "baseline": round(base_cpu_ms, 2),
                "ratio": round(intake_cpu_ms / base_cpu_ms, 2),
            },
            {
                "name": f"intake capacity of {cores} idle cores at that CPU cost",
                "value": round(cores * 1000 / intake_cpu_ms, 1),
                "unit": "applications/s",
                "baseline": round(cores * 1000 / base_cpu_ms, 1),
                "ratio": round(base_cpu_ms / intake_cpu_ms, 3),
            },
        ]
        if db_pid is not None and intake_db_ms > 0 and base_db_ms > 0:
            # PostgreSQL runs on the same cores: its CPU is part of the cost of a submission.
            both, both_base = intake_cpu_ms + intake_db_ms, base_cpu_ms + base_db_ms
            cpu_rows += [
                {
                    "name": "database server CPU per application (PostgreSQL processes)",
                    "value": round(intake_db_ms, 2),
                    "unit": "ms",
                    "baseline": round(base_db_ms, 2),
                    "ratio": round(intake_db_ms / base_db_ms, 2),
                },
                {
                    "name": f"intake capacity of {cores} idle cores at server + database CPU",
                    "value": round(cores * 1000 / both, 1),
                    "unit": "applications/s",
                    "baseline": round(cores * 1000 / both_base, 1),
                    "ratio": round(both_base / both, 3),
                },
            ]
        cpu_rows.append(
            {
                # The 32 client threads share the cores too; what they cost per request.
                "name": "load generator CPU per request (this process)",
                "value": round(intake_client_ms, 2),
                "unit": "ms",
                "baseline": round(base_client_ms, 2),
                "ratio": round(intake_client_ms / base_client_ms, 2) if base_client_ms else None,
            }
        )
    rows = [
        {
            "name": (
                f"signed applications verified+stored ({CLIENTS} clients, granian {WORKERS} "
                f"workers x {THREADS} thread{'s' if THREADS > 1 else ''})"
            ),
            "value": round(intake["rps"], 1),
            "unit": "applications/s",
            "baseline": round(base["rps"], 1),
            "ratio": round(intake["rps"] / base["rps"], 3),
        },
        {
            "name": "intake latency p50",
            "value": round(intake["p50"], 1),
            "unit": "ms",
            "baseline": round(base["p50"], 1),
            "ratio": round(intake["p50"] / base["p50"], 2),
        },
        {
            "name": "intake latency p99",
            "value": round(intake["p99"], 1),
            "unit": "ms",
            "baseline": round(base["p99"], 1),
            "ratio": round(intake["p99"] / base["p99"], 2),
        },
        {
            "name": "machine load average (1 min) after the intake run",
            "value": round(load_average, 2),
            "unit": "",
            "baseline": None,
            "ratio": None,
        },
    ]
    return [*cpu_rows, *rows]


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kiban.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)
    for row in main("--full" in sys.argv):
        print(row)
