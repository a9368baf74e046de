"""Concurrent appends to one municipality's audit chain: gap-free, no duplicate, intact."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

from kiban.core import audit
from kiban.core.actors import SYSTEM
from kiban.core.models import AuditEntry, AuditHead
from tests import factories

THREADS = 4
PER_THREAD = 8


class _Rollback(Exception):
    pass


def _append(code: str, worker: int, i: int, *, roll_back: bool) -> None:
    for _attempt in range(500):
        try:
            with transaction.atomic():
                audit.record(
                    municipality=code,
                    actor=SYSTEM,
                    action="test.concurrent",
                    subject_type="worker",
                    subject_id=f"{worker}-{i}",
                    details={"worker": worker, "i": i},
                )
                if roll_back:
                    raise _Rollback
            return
        except _Rollback:
            return
        except OperationalError as exc:
            # In-memory SQLite (shared cache) says "locked" instead of waiting.
            if "locked" not in str(exc):
                raise
            time.sleep(0.005)
    raise AssertionError("could not append")


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_the_chain_gap_free_and_intact() -> None:
    m = factories.municipality()
    before = AuditEntry.objects.filter(municipality=m).count()
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(PER_THREAD):
                # Every third append of worker 0 rolls back with its transaction.
                _append(m.code, worker, i, roll_back=worker == 0 and i % 3 == 0)
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    rolled_back = len([i for i in range(PER_THREAD) if i % 3 == 0])
    expected = before + THREADS * PER_THREAD - rolled_back
    seqs = list(
        AuditEntry.objects.filter(municipality=m).order_by("seq").values_list("seq", flat=True)
    )
    assert seqs == list(range(1, expected + 1))
    subjects = set(
        AuditEntry.objects.filter(municipality=m, action="test.concurrent").values_list(
            "subject_id", flat=True
        )
    )
    assert len(subjects) == THREADS * PER_THREAD - rolled_back
    assert not any(s.startswith("0-") and int(s[2:]) % 3 == 0 for s in subjects)
    head = AuditHead.objects.get(municipality=m)
    assert head.last_seq == expected
    assert audit.verify_chain(m.code) is None


@pytest.mark.django_db
def test_first_entry_of_a_chain_creates_its_head() -> None:
    from kiban.core.models import Municipality

    m = Municipality.objects.create(code="999999", name="テスト村", prefecture="テスト県")
    assert not AuditHead.objects.filter(municipality=m).exists()
    first = audit.record(municipality=m, actor=SYSTEM, action="test.first")
    second = audit.record(municipality=m.code, actor=SYSTEM, action="test.second")
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.hash
    assert AuditHead.objects.get(municipality=m).last_hash == second.hash
    assert audit.verify_chain(m.code) is None
