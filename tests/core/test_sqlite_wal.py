"""SQLite connections cut a grown WAL file back once it starts over (settings' init_command).

A city loaded in one transaction grows the WAL by gigabytes; without a size limit the
stale file keeps its disk space and page cache until the last connection closes.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

LIMIT = 64 * 1024 * 1024


def _connect(path: Path) -> sqlite3.Connection:
    """A new connection to ``path`` set up by Django the way it sets up kiban's own (the
    settings' options, init_command included), in autocommit."""
    params = {**connection.get_connection_params(), "database": str(path)}
    conn = connection.get_new_connection(params)
    conn.isolation_level = None
    return conn


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="SQLite's WAL file",
)
def test_a_grown_wal_is_cut_back_when_it_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    conn = _connect(path)
    wal = Path(f"{path}-wal")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (zeroblob(4000))", ([] for _ in range(20_000)))
    conn.execute("COMMIT")  # one transaction of ~80 MB; checkpointed as it commits
    assert os.path.getsize(wal) > LIMIT
    conn.execute("INSERT INTO t VALUES (1)")  # the next write starts the WAL over
    assert os.path.getsize(wal) <= LIMIT
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 20_001
    conn.close()
