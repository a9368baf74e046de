"""`kiban procedures ...` and `kiban applications ...` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from kiban.clikit import cli_errors, console, fail, operator, setup_django

app = typer.Typer(help="Online procedures catalog.", no_args_is_help=True)
applications_app = typer.Typer(help="Applications: verify stored evidence.", no_args_is_help=True)

MunicipalityOpt = Annotated[
    str, typer.Option("--municipality", "-m", help="6-digit municipality code (団体コード).")
]
OptionalMunicipality = Annotated[
    str | None, typer.Option("--municipality", "-m", help="6-digit municipality code.")
]
AsOpt = Annotated[str | None, typer.Option("--as", help="Operator name recorded in the audit log.")]


@app.command("list")
def list_(municipality: OptionalMunicipality = None) -> None:
    """List the standard procedures, or what a municipality offers (with on/off)."""
    setup_django()
    from rich.table import Table

    from kiban.core.services import get_municipality
    from kiban.procedures import catalog

    table = Table("id", "名称 / name", "担当 / division", "effect", "enabled")
    with cli_errors():
        if municipality:
            m = get_municipality(municipality)
            procs = catalog.all_procedures(m)
            enabled = {p.id for p in catalog.enabled_procedures(m)}
        else:
            procs = catalog.standard_procedures()
            enabled = set(procs)
    for p in procs.values():
        table.add_row(
            p.id,
            f"{p.name['ja']} / {p.name['en']}",
            p.department["ja"],
            p.effect,
            "yes" if p.id in enabled else "no",
        )
    console.print(table)


@app.command()
def validate(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Check a definition file (YAML or JSON) against the schema; exit 1 with every problem."""
    from kiban.procedures.catalog import load_definition_file
    from kiban.procedures.schema import DefinitionError

    try:
        proc = load_definition_file(file)
    except DefinitionError as e:
        for p in e.problems:
            console.print(f"[red]✗[/red] {p}")
        fail(f"{file}: {len(e.problems)} problem(s) / 定義に誤りがあります")
    console.print(f"[green]✓[/green] {file}: {proc.id} v{proc.version} ({proc.name['ja']})")


@app.command()
def enable(procedure_id: str, municipality: MunicipalityOpt, as_user: AsOpt = None) -> None:
    """Offer a procedure in a municipality."""
    setup_django()
    from kiban.core.services import get_municipality
    from kiban.procedures import services

    with cli_errors():
        m = get_municipality(municipality)
        services.enable_procedure(
            actor=operator(as_user), municipality=m, procedure_id=procedure_id
        )
    console.print(f"{m.name}: {procedure_id} enabled / 有効にしました")


@app.command()
def disable(procedure_id: str, municipality: MunicipalityOpt, as_user: AsOpt = None) -> None:
    """Stop offering a procedure (pending applications stay reviewable)."""
    setup_django()
    from kiban.core.services import get_municipality
    from kiban.procedures import services

    with cli_errors():
        m = get_municipality(municipality)
        services.disable_procedure(
            actor=operator(as_user), municipality=m, procedure_id=procedure_id
        )
    console.print(f"{m.name}: {procedure_id} disabled / 無効にしました")


@app.command()
def add(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    municipality: MunicipalityOpt,
    as_user: AsOpt = None,
) -> None:
    """Add (or replace) a municipality's own procedure from a definition file."""
    setup_django()
    import yaml

    from kiban.core.services import get_municipality
    from kiban.procedures import services

    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    with cli_errors():
        m = get_municipality(municipality)
        proc = services.save_custom_procedure(
            actor=operator(as_user), municipality=m, definition=data
        )
    console.print(f"{m.name}: {proc.id} v{proc.version} saved / 登録しました")


@applications_app.command("list")
def list_applications(
    municipality: MunicipalityOpt,
    status: Annotated[str, typer.Option(help="pending, all, or a status.")] = "pending",
) -> None:
    """List a municipality's applications (oldest first)."""
    setup_django()
    from rich.table import Table

    from kiban.core.services import get_municipality
    from kiban.procedures.models import PENDING_STATUSES, Application

    with cli_errors():
        m = get_municipality(municipality)
    qs = Application.objects.filter(municipality=m).order_by("created_at", "pk")
    if status == "pending":
        qs = qs.filter(status__in=PENDING_STATUSES)
    elif status != "all":
        qs = qs.filter(status=status)
    table = Table("id", "procedure", "status", "channel", "created", "bundle")
    for a in qs[:500]:
        table.add_row(
            str(a.pk),
            a.procedure_id,
            a.status,
            a.channel,
            a.created_at.isoformat(timespec="seconds"),
            a.bundle_id[:8],
        )
    console.print(table)


@applications_app.command("verify")
def verify(
    application_id: Annotated[int, typer.Argument(help="Application id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Re-check an application's stored evidence; counter entries have no signature."""
    setup_django()
    from kiban.procedures.models import Application

    row = Application.objects.filter(pk=application_id).first()
    if row is None or row.signature is not None:
        # Signed: identity re-verifies payload, signature and certificate.
        from kiban.identity.cli import applications_verify

        applications_verify(application_id, as_json=as_json)
        return
    # 代理入力: no signature to check; the evidence is who entered it and the payload hash.
    import hashlib

    intact = hashlib.sha256(bytes(row.payload)).hexdigest() == row.payload_sha256
    report = {
        "application_id": row.pk,
        "channel": row.channel,
        "entered_by": row.entered_by,
        "payload_intact": intact,
        "signature": None,
        "ok": intact,
    }
    if as_json:
        console.print_json(json.dumps(report, ensure_ascii=False))
    else:
        console.print(
            f"application {row.pk} ({row.procedure_id}): counter entry by {row.entered_by}, "
            f"no signature / 窓口代理入力（署名なし）; payload intact / 申請データ: {intact}"
        )
    raise typer.Exit(0 if intact else 1)
