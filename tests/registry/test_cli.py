"""`kiban registry` commands: generate, export/import round trip, errors, certificates."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kiban.registry.cli import app
from kiban.registry.models import OPEN_END, Person, PersonState
from tests.factories import CHIYODA, municipality

pytestmark = pytest.mark.django_db
runner = CliRunner()


def _run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_generate_export_import_round_trip(tmp_path: Path) -> None:
    municipality()
    result = _run("generate", "-m", "141003", "--residents", "120", "--seed", "4",
                  "--as-of", "2026-11-01")  # fmt: skip
    assert result.exit_code == 0, result.output
    first = tmp_path / "a.csv"
    result = _run("export", "-m", "141003", "--as-of", "2026-11-01", "--out", str(first))
    assert result.exit_code == 0, result.output
    assert first.read_bytes().count(b"\r\n") == 121
    # Importing the same file again is refused: every row is a duplicate.
    result = _run("import", str(first), "-m", "141003")
    assert result.exit_code == 1
    assert "2行目" in result.output and "already registered" in result.output


def test_import_reports_bad_lines_and_exits_1(tmp_path: Path) -> None:
    municipality(CHIYODA[0])
    bad = tmp_path / "bad.csv"
    from kiban.registry import csvio

    header = ",".join(csvio.COLUMNS)
    bad.write_text(header + "\r\n" + ",".join(["123"] + [""] * (len(csvio.COLUMNS) - 1)) + "\r\n")
    result = _run("import", str(bad), "-m", CHIYODA[0])
    assert result.exit_code == 1
    assert "2行目" in result.output and "line 2" in result.output
    assert not Person.objects.exists()


def test_certificate_and_verify(tmp_path: Path) -> None:
    m = municipality()
    _run("generate", "-m", "141003", "--residents", "30", "--seed", "1")
    state = (
        PersonState.objects.filter(municipality=m, valid_to=OPEN_END, status="resident")
        .select_related("person")
        .first()
    )
    assert state is not None
    pdf = tmp_path / "c.pdf"
    result = _run("certificate", "-m", "141003", "--resident", state.person.resident_code,
                  "--household", "--relationship", "--out", str(pdf))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _run("verify-certificate", str(pdf)).exit_code == 0
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x01
    pdf.write_bytes(bytes(data))
    result = _run("verify-certificate", str(pdf))
    assert result.exit_code == 1
