"""`kiban registry ...` commands: synthetic data, CSV export/import, certificates."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from kiban.clikit import cli_errors, console, err_console, fail, operator, setup_django

app = typer.Typer(help="Resident registry (住民記録).", no_args_is_help=True)

MunicipalityOpt = Annotated[
    str, typer.Option("--municipality", "-m", help="6-digit municipality code (団体コード).")
]
AsOpt = Annotated[str | None, typer.Option("--as", help="Operator name recorded in the audit log.")]


def _municipality(code: str):  # type: ignore[no-untyped-def]
    from kiban.core.services import get_municipality

    return get_municipality(code)


def _date(text: str | None, label: str) -> date | None:
    if text is None:
        return None
    from kiban.core.wareki import WarekiError, parse_date

    try:
        return parse_date(text)
    except WarekiError as e:
        fail(f"{label}: {e.message_ja} / {e.message_en}", code=2)


@app.command()
def generate(
    municipality: MunicipalityOpt,
    residents: Annotated[int, typer.Option(min=0, help="Number of current residents.")],
    seed: Annotated[int, typer.Option(help="Seed: same seed, same residents.")] = 0,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Reference date (default: today).")
    ] = None,
    as_user: AsOpt = None,
) -> None:
    """Fill an EMPTY municipality with synthetic residents (one transaction)."""
    setup_django()
    from kiban.registry import bulk

    day = _date(as_of, "--as-of")
    with cli_errors():
        m = _municipality(municipality)
        with bulk.rich_progress(residents, f"{m.name}: 生成 / generating") as progress:
            result = bulk.generate(
                actor=operator(as_user),
                municipality=m,
                residents=residents,
                seed=seed,
                as_of=day,
                progress=progress,
            )
    console.print(
        f"{m.name}: 世帯 {result.households:,} / 住民 {result.persons:,} (除票を含む) / "
        f"異動 {result.events:,} / 記録 {result.states:,}"
    )


@app.command()
def export(
    municipality: MunicipalityOpt,
    as_of: Annotated[str, typer.Option("--as-of", help="Registry as of this date.")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write ('-' for stdout).")],
    include_removed: Annotated[
        bool, typer.Option("--include-removed", help="Also moved-out and deceased (除票).")
    ] = False,
    with_mynumber: Annotated[
        bool, typer.Option("--with-mynumber", help="Write My Numbers (needs --purpose).")
    ] = False,
    purpose: Annotated[str, typer.Option(help="Purpose, recorded in the audit log.")] = "",
    as_user: AsOpt = None,
) -> None:
    """Export the registry as of a date in the documented CSV layout (docs/registry-csv.md)."""
    setup_django()
    from kiban.registry import csvio

    day = _date(as_of, "--as-of")
    assert day is not None
    with cli_errors():
        m = _municipality(municipality)
        kwargs = {
            "actor": operator(as_user),
            "municipality": m,
            "as_of": day,
            "include_removed": include_removed,
            "with_mynumber": with_mynumber,
            "purpose": purpose,
        }
        if str(out) == "-":
            result = csvio.export_csv(out=sys.stdout.buffer, **kwargs)  # type: ignore[arg-type]
        else:
            with out.open("wb") as f:
                result = csvio.export_csv(out=f, **kwargs)  # type: ignore[arg-type]
    err_console.print(f"{result.rows:,} 行を出力しました / exported {result.rows:,} rows")


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV file in the documented layout.")
    ],
    municipality: MunicipalityOpt,
    as_user: AsOpt = None,
) -> None:
    """Import a CSV file: all rows or none. Every bad row is listed with its line number."""
    setup_django()
    from kiban.core.errors import ValidationFailed
    from kiban.registry import bulk, csvio

    data = file.read_bytes()
    with cli_errors():
        m = _municipality(municipality)
        try:
            with bulk.rich_progress(max(data.count(b"\n") - 1, 0), "取込 / importing") as progress:
                result = csvio.import_csv(
                    actor=operator(as_user),
                    municipality=m,
                    data=data,
                    source=file.name,
                    progress=progress,
                )
        except ValidationFailed as e:
            err_console.print(f"[red]error:[/red] {e.message_ja} / {e.message_en}")
            if isinstance(e.details, list):
                for line in csvio.format_errors(e.details):
                    err_console.print(f"  {line}", markup=False)
            raise typer.Exit(1) from e
    console.print(
        f"取り込みました / imported: 世帯 {result.households:,} 件, 住民 {result.persons:,} 件"
    )


@app.command()
def certificate(
    municipality: MunicipalityOpt,
    resident: Annotated[str, typer.Option("--resident", help="住民票コード of the person.")],
    out: Annotated[Path, typer.Option("--out", help="PDF file to write.")],
    household: Annotated[
        bool, typer.Option("--household", help="All household members (世帯連記式).")
    ] = False,
    relationship: Annotated[
        bool,
        typer.Option(
            "--relationship", help="Print 世帯主の氏名と続柄 (head of household and relationships)."
        ),
    ] = False,
    honseki: Annotated[bool, typer.Option("--honseki", help="Print 本籍.")] = False,
    mynumber: Annotated[
        bool, typer.Option("--mynumber", help="Print My Number (needs --purpose).")
    ] = False,
    purpose: Annotated[str, typer.Option(help="Purpose of the request (audited).")] = "",
    as_user: AsOpt = None,
) -> None:
    """Issue a signed 住民票の写し (PDF)."""
    setup_django()
    from kiban.registry.certificates import issue_certificate

    with cli_errors():
        m = _municipality(municipality)
        issued = issue_certificate(
            actor=operator(as_user),
            municipality=m,
            resident_code=resident,
            household=household,
            include_relationship=relationship,
            include_honseki=honseki,
            include_mynumber=mynumber,
            purpose=purpose,
        )
    out.write_bytes(issued.pdf)
    console.print(f"発行番号 {issued.issue_no} → {out}")


@app.command("verify-certificate")
def verify_certificate(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The certificate PDF.")],
) -> None:
    """Exit 0 if the PDF carries a valid, unmodified municipal signature; else exit 1."""
    setup_django()
    from kiban.registry.certificates import verify_certificate as verify

    report = verify(file.read_bytes())
    if report.valid:
        console.print(f"OK: {report.reason_ja} / {report.reason_en}")
        if report.municipality_code:
            console.print(f"  団体コード / municipality: {report.municipality_code}")
        return
    fail(f"{report.reason_ja} / {report.reason_en}")
