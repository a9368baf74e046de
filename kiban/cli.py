"""The ``kiban`` command: one entry point for operators, with --help on every subcommand.

Every command that changes data calls a service as the operator actor, so it is
audited like a change made in the console.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from kiban.clikit import cli_errors, console, fail, operator, setup_django

app = typer.Typer(
    help="kiban — 自治体の基盤 / open-source municipal platform.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
ids_app = typer.Typer(
    help="Check identifiers (My Number, corporate number, LG code).", no_args_is_help=True
)
audit_app = typer.Typer(help="Audit log tools.", no_args_is_help=True)
muni_app = typer.Typer(help="Manage municipalities (tenants).", no_args_is_help=True)
staff_app = typer.Typer(help="Manage staff accounts.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo municipalities.", no_args_is_help=True)
app.add_typer(ids_app, name="ids")
app.add_typer(audit_app, name="audit")
app.add_typer(muni_app, name="municipality")
app.add_typer(staff_app, name="staff")
app.add_typer(token_app, name="token")
app.add_typer(demo_app, name="demo")


@app.command()
def serve(
    port: Annotated[int, typer.Option(envvar="PORT", help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    production: Annotated[
        bool, typer.Option("--production", help="Serve with granian (WSGI, several workers).")
    ] = False,
    workers: Annotated[int, typer.Option(help="Workers for --production.")] = 2,
) -> None:
    """Serve the web console, portal and API."""
    setup_django()
    if production:
        from django.conf import settings
        from django.core.management import call_command

        call_command("collectstatic", "--no-input", verbosity=0)
        os.execvp(  # noqa: S606 - replaces this process with the server
            sys.executable,
            [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "wsgi",
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--blocking-threads",
                "1",
                "--static-path-route",
                "/static",
                "--static-path-mount",
                str(settings.STATIC_ROOT),
                "kiban.wsgi:application",
            ],
        )
    from django.core.management import call_command

    call_command("runserver", f"{host}:{port}", "--noreload")


@app.command()
def migrate() -> None:
    """Apply database migrations (idempotent)."""
    setup_django()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)


@ids_app.command("check")
def ids_check(
    kind: Annotated[str, typer.Argument(help="mynumber | corporate | lgcode | resident")],
    value: Annotated[str, typer.Argument(help="The identifier to check.")],
) -> None:
    """Exit 0 if VALUE is a valid KIND, else exit 1 with the reason."""
    from kiban.core.identifiers import KINDS, IdentifierError

    validator = KINDS.get(kind)
    if validator is None:
        fail(
            f"不明な種類です: {kind} / Unknown kind {kind!r}: use one of {', '.join(KINDS)}", code=2
        )
        return
    try:
        normalised = validator(value)
    except IdentifierError as e:
        console.print(f"[red]invalid[/red] ({e.reason}): {e.message_ja} / {e.message_en}")
        raise typer.Exit(1) from None
    console.print(f"valid: {normalised} / 有効です")


@audit_app.command("verify")
def audit_verify(
    municipality: Annotated[
        str | None, typer.Option("--municipality", "-m", help="Only this municipality.")
    ] = None,
) -> None:
    """Verify the hash chain; exit 1 naming the first broken entry."""
    setup_django()
    from kiban.core.audit import verify_chain
    from kiban.core.models import AuditHead, Municipality

    codes = (
        [municipality]
        if municipality
        else sorted(
            set(Municipality.objects.values_list("code", flat=True))
            | set(AuditHead.objects.values_list("municipality_id", flat=True))
        )
    )
    broken = False
    for code in codes:
        brk = verify_chain(code)
        if brk is None:
            console.print(f"{code}: intact / 改ざんなし")
        else:
            broken = True
            console.print(
                f"[red]{code}: BROKEN at entry seq={brk.seq} (id={brk.entry_id}): {brk.reason}[/red]"
            )
    raise typer.Exit(1 if broken else 0)


@muni_app.command("add")
def municipality_add(
    code: Annotated[str, typer.Argument(help="6-digit 全国地方公共団体コード")],
    name: Annotated[str, typer.Argument(help="Name, e.g. 横浜市")],
    prefecture: Annotated[str, typer.Option(help="Prefecture, e.g. 神奈川県")] = "",
    name_en: Annotated[str, typer.Option(help="English name")] = "",
) -> None:
    """Add a municipality (tenant)."""
    setup_django()
    from kiban.core.services import add_municipality

    with cli_errors():
        m = add_municipality(
            actor=operator(), code=code, name=name, prefecture=prefecture, name_en=name_en
        )
    console.print(f"added {m.code} {m.prefecture}{m.name}")


@muni_app.command("list")
def municipality_list() -> None:
    """List municipalities."""
    setup_django()
    from kiban.core.models import Municipality

    for m in Municipality.objects.all():
        console.print(f"{m.code}\t{m.prefecture}\t{m.name}")


@staff_app.command("add")
def staff_add(
    username: Annotated[str, typer.Argument()],
    roles: Annotated[str, typer.Option(help="Comma-separated roles, e.g. registry_clerk,auditor")],
    municipality: Annotated[
        str | None, typer.Option("--municipality", "-m", help="Municipality code")
    ] = None,
    password: Annotated[str | None, typer.Option(help="Password (prompted when not given)")] = None,
    display_name: Annotated[str, typer.Option()] = "",
) -> None:
    """Add a staff account (roles: registry_clerk, procedures_reviewer, benefits_clerk,
    auditor, municipality_admin, platform_operator)."""
    setup_django()
    from kiban.core.services import add_staff, get_municipality

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with cli_errors():
        m = get_municipality(municipality) if municipality else None
        user = add_staff(
            actor=operator(),
            municipality=m,
            username=username,
            password=password,
            roles=[r.strip() for r in roles.split(",") if r.strip()],
            display_name=display_name,
        )
    console.print(f"added staff {user.username} ({', '.join(user.roles)})")


@staff_app.command("totp")
def staff_totp(username: Annotated[str, typer.Argument()]) -> None:
    """Register a TOTP device for USERNAME and print its secret (otpauth URI)."""
    setup_django()
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kiban.core.models import StaffUser

    user = StaffUser.objects.filter(username=username).first()
    if user is None:
        fail(f"職員が見つかりません / No staff member {username!r}")
        return
    TOTPDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    console.print(device.config_url)


@staff_app.command("totp-code")
def staff_totp_code(username: Annotated[str, typer.Argument()]) -> None:
    """Print the current TOTP code of USERNAME's device (demo and test settings only)."""
    setup_django()
    from django.conf import settings
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if not settings.DEMO:
        fail("デモ環境でのみ使えます / Only available in demo and test settings")
    device = TOTPDevice.objects.filter(user__username=username, confirmed=True).first()
    if device is None:
        fail(f"TOTP端末がありません / No TOTP device for {username!r}")
        return
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    console.print(f"{totp.token():06d}")


@staff_app.command("list")
def staff_list(
    municipality: Annotated[str | None, typer.Option("--municipality", "-m")] = None,
) -> None:
    """List staff accounts."""
    setup_django()
    from kiban.core.models import StaffUser

    qs = StaffUser.objects.order_by("municipality_id", "username")
    if municipality:
        qs = qs.filter(municipality_id=municipality)
    for u in qs:
        console.print(f"{u.municipality_id or '-'}\t{u.username}\t{','.join(u.roles)}")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Client name")],
    municipality: Annotated[str, typer.Option("--municipality", "-m")],
    roles: Annotated[str, typer.Option(help="Comma-separated roles")],
) -> None:
    """Issue an API token for a municipality; prints the token once."""
    setup_django()
    from kiban.core.services import get_municipality, issue_token

    with cli_errors():
        m = get_municipality(municipality)
        _, raw = issue_token(
            actor=operator(),
            municipality=m,
            name=name,
            roles=[r.strip() for r in roles.split(",") if r.strip()],
        )
    console.print(raw)


@demo_app.command("seed")
def demo_seed(
    residents: Annotated[int, typer.Option(help="Residents per demo municipality")] = 2000,
    force: Annotated[bool, typer.Option(help="Seed even if already seeded")] = False,
) -> None:
    """Seed the two demo municipalities with staff and synthetic residents."""
    setup_django()
    from kiban.demo import seed_demo

    seed_demo(residents=residents, force=force, out=console)


@demo_app.command("logins")
def demo_logins() -> None:
    """Print the demo logins."""
    setup_django()
    from kiban.demo import print_logins

    print_logins(console)


def _mount_domains() -> None:
    from kiban.benefits.cli import app as benefit_app
    from kiban.identity.cli import app as identity_app
    from kiban.identity.cli import card_app
    from kiban.procedures.cli import app as procedures_app
    from kiban.procedures.cli import applications_app
    from kiban.registry.cli import app as registry_app

    app.add_typer(registry_app, name="registry")
    app.add_typer(identity_app, name="identity")
    app.add_typer(card_app, name="card")
    app.add_typer(procedures_app, name="procedures")
    app.add_typer(applications_app, name="applications")
    app.add_typer(benefit_app, name="benefit")


def main() -> None:
    _mount_domains()
    app()


if __name__ == "__main__":
    main()
