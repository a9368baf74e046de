"""Two submissions for the same event racing: exactly one is stored, the other is refused."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import OperationalError, connection

from kiban.core.errors import KibanError
from kiban.procedures.models import Application
from tests.procedures.conftest import Household, move_out_answers, signed


@pytest.mark.django_db(transaction=True)
def test_racing_submissions_for_the_same_event(household: Household) -> None:
    from kiban.identity.intake import submit_signed_application

    items = [
        signed(household.head, "move-out", move_out_answers(household, days=d)) for d in (5, 6)
    ]
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def run(payload: bytes, signature: bytes) -> None:
        try:
            barrier.wait()
            for _attempt in range(300):
                try:
                    app, _ = submit_signed_application(
                        municipality=household.m,
                        procedure_id="move-out",
                        payload=payload,
                        signature=signature,
                        channel="api",
                    )
                    results.append(app.pk)
                    break
                except OperationalError as exc:
                    # In-memory SQLite (shared cache) says "locked" instead of waiting.
                    if "locked" not in str(exc):
                        raise
                    time.sleep(0.01)
        except KibanError as exc:
            results.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stored = [r for r in results if isinstance(r, int)]
    assert len(stored) == 1
    assert [r for r in results if r not in stored] == ["application_pending"]
    assert Application.objects.filter(procedure_id="move-out").count() == 1
