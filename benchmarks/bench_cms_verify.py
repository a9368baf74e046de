"""Benchmark: detached CMS verification (signature + path validation + CRL) per second.

    .venv/bin/python benchmarks/bench_cms_verify.py [--seconds 3] [--processes 2]
        [--crl-entries 1000] [--signers 1]

``--signers 1`` measures a repeat signer (path validation served by the trust store's success
cache after the first call); ``--signers N`` cycles through N distinct certificates so that,
with N larger than the number of verifications, each one is a cold pyhanko path validation
(e.g. ``--signers 2000``; setup signs N certificates, so keep N moderate).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from kiban.identity import jpki
from kiban.identity.verify import TrustStore, sign_detached_cms, verify_detached_cms

PAYLOAD = b'{"procedure": "demo", "answers": {"name": "synthetic"}}' * 20


def _setup(crl_entries: int, signers: int) -> tuple[TrustStore, list[bytes], datetime]:
    now = datetime.now(UTC)
    ca = jpki.build_demo_ca()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info = jpki.BasicInfo(
        name="ベンチ 太郎", sex="1", birth_date=date(1990, 1, 2), address="東京都千代田区"
    )
    sigs = []
    for _ in range(signers):  # one key, many certificates: path validation is per certificate
        cert = jpki.issue_signature_certificate(ca, key.public_key(), info)
        sigs.append(sign_detached_cms(PAYLOAD, key, cert))
    revoked = [
        (10_000 + i, now - timedelta(days=1), x509.ReasonFlags.affiliation_changed)
        for i in range(crl_entries)
    ]
    crl = jpki.build_crl(
        ca, revoked, this_update=now - timedelta(hours=1), next_update=now + timedelta(days=1)
    )
    trust = TrustStore()
    trust.add_ca(ca.certificate)
    trust.add_crl(crl)
    return trust, sigs, now


def _worker(args: tuple[float, int, int]) -> int:
    seconds, crl_entries, signers = args
    trust, sigs, now = _setup(crl_entries, signers)
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        verify_detached_cms(PAYLOAD, sigs[count % len(sigs)], trust, at=now)
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--crl-entries", type=int, default=1000)
    parser.add_argument("--signers", type=int, default=1)
    args = parser.parse_args()
    job = (args.seconds, args.crl_entries, args.signers)
    with multiprocessing.Pool(args.processes) as pool:
        counts = pool.map(_worker, [job] * args.processes)
    total = sum(counts)
    print(
        f"{total / args.seconds:.0f} verifications/s "
        f"({args.processes} processes, CRL {args.crl_entries} entries, "
        f"{args.signers} distinct signer certificate(s), {args.seconds:.0f} s)"
    )


if __name__ == "__main__":
    main()
