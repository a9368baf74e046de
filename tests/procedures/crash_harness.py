"""Subprocess harness for the kill-mid-request test (run by test_reliability.py).

    python -m tests.procedures.crash_harness setup DIR [--migrate]
    python -m tests.procedures.crash_harness submit DIR before_commit|after_commit|none
    python -m tests.procedures.crash_harness count DIR

``submit`` does what the portal's sign page does (identity's verification, the ledger,
the audit entry, all in one transaction) and SIGKILLs its own process at the chosen point:
with the application row written but not committed, or committed but before any response.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kiban.settings")
    import django

    django.setup()


def setup(out: Path, migrate: bool) -> None:
    _django()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    from kiban.core.actors import staff_actor
    from tests import factories
    from tests.procedures.conftest import make_household, move_out_answers, signed

    m = factories.municipality()
    clerk = staff_actor(factories.staff(m, "registry_clerk", username="crash-clerk"))
    h = make_household(m, clerk)
    payload, signature = signed(h.head, "move-out", move_out_answers(h))
    (out / "payload").write_bytes(payload)
    (out / "signature").write_bytes(signature)
    (out / "ids.json").write_text(json.dumps({"municipality": m.code}))


def submit(out: Path, kill_at: str) -> None:
    _django()
    from django.db import transaction
    from django.db.models.signals import post_save

    from kiban.core.models import Municipality
    from kiban.procedures import services
    from kiban.procedures.models import Application

    def die(*_: object, **__: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if kill_at == "before_commit":
        post_save.connect(die, sender=Application, weak=False)
    m = Municipality.objects.get(code=json.loads((out / "ids.json").read_text())["municipality"])
    item = services.SignedItem(
        "move-out", (out / "payload").read_bytes(), (out / "signature").read_bytes()
    )
    with transaction.atomic():
        apps = services.submit_signed_bundle(municipality=m, items=[item])
        if kill_at == "after_commit":
            transaction.on_commit(die)
    print(json.dumps({"ids": [a.pk for a in apps]}))


def count(out: Path) -> None:
    _django()
    from kiban.core.models import AuditEntry
    from kiban.procedures.models import Application

    print(
        json.dumps(
            {
                "applications": list(Application.objects.values_list("pk", flat=True)),
                "submitted_audits": AuditEntry.objects.filter(
                    action="application.submitted"
                ).count(),
            }
        )
    )


if __name__ == "__main__":
    cmd, directory = sys.argv[1], Path(sys.argv[2])
    if cmd == "setup":
        setup(directory, "--migrate" in sys.argv)
    elif cmd == "submit":
        submit(directory, sys.argv[3])
    else:
        count(directory)
