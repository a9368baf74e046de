"""`kiban benefit ...` commands (operator path; every change audited as the operator)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from kiban.clikit import cli_errors, console, fail, operator, setup_django

app = typer.Typer(help="Benefit payments (給付金).", no_args_is_help=True)
accounts_app = typer.Typer(help="公金受取口座 (registered accounts).", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")

MuniOpt = Annotated[str, typer.Option("--municipality", "-m", help="6-digit municipality code")]
AsOpt = Annotated[str | None, typer.Option("--as", help="Operator name recorded in the audit log")]


def _municipality(code: str) -> Any:
    from kiban.core.services import get_municipality

    return get_municipality(code)


def _progress(label: str) -> Any:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeElapsedColumn

    return Progress(
        f"[bold]{label}[/bold]", BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    )  # fmt: skip


@app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="Program definition (YAML or JSON)")],
    municipality: MuniOpt,
    as_user: AsOpt = None,
) -> None:
    """Load or update a program definition; prints the program id."""
    setup_django()
    from kiban.benefits.services import load_program_file

    with cli_errors():
        program, created = load_program_file(
            actor=operator(as_user), municipality=_municipality(municipality), path=file
        )
    console.print(program.program_id)
    console.print(
        f"{'created' if created else 'updated or unchanged'} / "
        f"{'登録しました' if created else '更新しました（または変更なし）'}",
        style="dim",
    )


@app.command("eligibility")
def eligibility(
    program: Annotated[str, typer.Argument(help="Program id")],
    municipality: MuniOpt,
    as_user: AsOpt = None,
) -> None:
    """Compute entitlements from the registry as of the base date (idempotent)."""
    setup_django()
    from kiban.benefits.services import compute_eligibility

    with cli_errors(), _progress("eligibility / 受給資格") as bar:
        task = bar.add_task("eligibility", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or 1)

        result = compute_eligibility(
            actor=operator(as_user), municipality=_municipality(municipality),
            program_id=program, progress=progress,
        )  # fmt: skip
    console.print(f"new entitlements / 新規受給権: {result.created:,}")
    console.print(f"entitlements / 受給権: {result.entitlements:,}")
    console.print(f"eligible persons / 対象者: {result.members:,}")
    console.print(f"total / 総額: ¥{result.total:,}")


@accounts_app.command("generate")
def accounts_generate(
    municipality: MuniOpt,
    share: Annotated[float, typer.Option(help="Share of residents given an account")] = 0.8,
    as_user: AsOpt = None,
) -> None:
    """Synthetic 公金受取口座 for a share of current residents (demo data)."""
    setup_django()
    from kiban.benefits.services import generate_demo_accounts

    with cli_errors(), _progress("accounts / 口座") as bar:
        task = bar.add_task("accounts", total=None)
        n = generate_demo_accounts(
            actor=operator(as_user), municipality=_municipality(municipality), share=share,
            progress=lambda d, t: bar.update(task, completed=d, total=t or 1),
        )  # fmt: skip
    console.print(f"accounts created / 登録口座: {n:,}")


@app.command("letters")
def letters(
    program: Annotated[str, typer.Argument(help="Program id")],
    municipality: MuniOpt,
    out: Annotated[Path, typer.Option("--out", help="Directory for the PDF files")],
    per_file: Annotated[int, typer.Option(help="Letters per PDF file")] = 1000,
    as_user: AsOpt = None,
) -> None:
    """Notice letters (PDF) for payees without a registered account."""
    setup_django()
    from kiban.benefits.letters import generate_notice_letters

    with cli_errors(), _progress("letters / 通知") as bar:
        task = bar.add_task("letters", total=None)
        run = generate_notice_letters(
            actor=operator(as_user), municipality=_municipality(municipality),
            program_id=program, out_dir=out, per_file=per_file,
            progress=lambda d, t: bar.update(task, completed=d, total=t or 1),
        )  # fmt: skip
    console.print(f"letters / 通知書: {run.letters:,} in {len(run.files)} file(s)")
    for f in run.files:
        console.print(str(f))


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"日付は YYYY-MM-DD で指定してください / Use YYYY-MM-DD (got {text!r})", code=2)


@app.command("pay")
def pay(
    program: Annotated[str, typer.Argument(help="Program id")],
    municipality: MuniOpt,
    transfer_date: Annotated[str, typer.Option("--transfer-date", help="YYYY-MM-DD")],
    out: Annotated[Path, typer.Option("--out", help="Zengin file to write")],
    as_user: AsOpt = None,
) -> None:
    """One batch of every approved, unpaid entitlement with an account; writes the
    総合振込 file. Safe to repeat: nothing is ever paid twice."""
    setup_django()
    from kiban.benefits.services import pay as pay_service

    day = _parse_date(transfer_date)
    with cli_errors():
        result = pay_service(
            actor=operator(as_user), municipality=_municipality(municipality),
            program_id=program, transfer_date=day, out=out,
        )  # fmt: skip
    if result.batch is None:
        console.print("nothing to pay / 支払対象はありません")
        return
    console.print(f"batch / 支払バッチ: {result.batch.pk}")
    console.print(f"payments / 件数: {result.count:,}")
    console.print(f"total / 金額: ¥{result.total:,}")
    for f in result.files:
        console.print(str(f))


@app.command("file")
def file(
    batch: Annotated[int, typer.Argument(help="Batch id")],
    municipality: MuniOpt,
    out: Annotated[Path, typer.Option("--out", help="Zengin file to write")],
    as_user: AsOpt = None,
) -> None:
    """Write an approved batch's transfer file again (identical bytes)."""
    setup_django()
    from kiban.benefits.services import rewrite_batch_file

    with cli_errors():
        files = rewrite_batch_file(
            actor=operator(as_user), municipality=_municipality(municipality), batch_id=batch,
            out=out,
        )  # fmt: skip
    for f in files:
        console.print(str(f))


@app.command("reconcile")
def reconcile(
    program: Annotated[str, typer.Argument(help="Program id")],
    result_file: Annotated[Path, typer.Argument(help="Bank result (Zengin or CSV)")],
    municipality: MuniOpt,
    as_user: AsOpt = None,
) -> None:
    """Mark payments paid or returned from the bank's result file (all or nothing)."""
    setup_django()
    from kiban.benefits.services import reconcile as reconcile_service
    from kiban.benefits.zengin import RESULT_CODES

    try:
        data = result_file.read_bytes()
    except OSError as e:
        fail(f"ファイルを読めません / Cannot read {result_file}: {e}")
    with cli_errors():
        r = reconcile_service(
            actor=operator(as_user), municipality=_municipality(municipality),
            program_id=program, data=data, filename=result_file.name,
        )  # fmt: skip
    console.print(f"paid / 振込済: {r.paid:,} (¥{r.paid_amount:,})")
    console.print(f"returned / 返戻: {r.returned:,} (¥{r.returned_amount:,})")
    for code, n in sorted(r.reasons.items()):
        console.print(f"  {code} {RESULT_CODES[code].ja} / {RESULT_CODES[code].en}: {n:,}")
    if r.unchanged:
        console.print(f"already applied / 反映済: {r.unchanged:,}")


@app.command("status")
def status(
    program: Annotated[str, typer.Argument(help="Program id")],
    municipality: MuniOpt,
) -> None:
    """Counts and amounts by payment state."""
    setup_django()
    from kiban.benefits.services import program_status

    with cli_errors():
        rows = program_status(
            actor=operator(), municipality=_municipality(municipality), program_id=program
        )
    width = max(len(r.state) for r in rows)
    for r in rows:
        console.print(
            f"{r.state:<{width}}  {r.count:>10,}  ¥{r.amount:>16,}  {r.label_ja} / {r.label_en}"
        )
    console.print(
        f"{'total':<{width}}  {sum(r.count for r in rows):>10,}  "
        f"¥{sum(r.amount for r in rows):>16,}"
    )
