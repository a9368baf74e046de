"""No application is lost or half-written when the server process is killed mid-request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "KIBAN_MODE": "test",
        "KIBAN_KEYS_DIR": str(tmp_path / "keys"),
        "KIBAN_FILES_DIR": str(tmp_path / "files"),
        "KIBAN_VAR_DIR": str(tmp_path),
    }
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
    else:  # the test database this test runs in (committed: transaction=True)
        s = connection.settings_dict
        env["DATABASE_URL"] = (
            f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
        )
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.procedures.crash_harness", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _count(env: dict[str, str], d: Path) -> dict[str, Any]:
    r = _run(env, "count", str(d))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_killed_submission_is_all_or_nothing_and_a_retry_finds_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    setup = _run(
        env, "setup", str(tmp_path), *(["--migrate"] if connection.vendor == "sqlite" else [])
    )
    assert setup.returncode == 0, setup.stderr[-3000:]

    # Killed after the row was written, before commit: nothing at all is stored.
    r = _run(env, "submit", str(tmp_path), "before_commit")
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    assert _count(env, tmp_path) == {"applications": [], "submitted_audits": 0}

    # Killed after commit, before the response: the application exists exactly once...
    r = _run(env, "submit", str(tmp_path), "after_commit")
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    after = _count(env, tmp_path)
    assert len(after["applications"]) == 1 and after["submitted_audits"] == 1

    # ...and the client's retry of the same signed payload gets that same application back.
    r = _run(env, "submit", str(tmp_path), "none")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["ids"] == after["applications"]
    assert _count(env, tmp_path) == after
