"""`kiban identity ...` and `kiban card ...` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kiban.clikit import cli_errors, console, fail, operator, setup_django

app = typer.Typer(
    help="My Number card identity (公的個人認証): trust, CRLs, demo CA.", no_args_is_help=True
)
card_app = typer.Typer(help="Soft My Number cards: issue and sign.", no_args_is_help=True)
trust_app = typer.Typer(help="Trusted issuing CAs.", no_args_is_help=True)
crl_app = typer.Typer(help="Certificate revocation lists (CRLs).", no_args_is_help=True)
demo_ca_app = typer.Typer(help="The demo CA (demo and test settings only).", no_args_is_help=True)
app.add_typer(trust_app, name="trust")
app.add_typer(crl_app, name="crl")
app.add_typer(demo_ca_app, name="demo-ca")

AsUser = Annotated[str | None, typer.Option("--as", help="Operator name for the audit log.")]


@trust_app.command("add")
def trust_add(
    path: Annotated[Path, typer.Argument(help="CA certificate, PEM or DER.", exists=True)],
    crl_url: Annotated[str | None, typer.Option(help="CRL distribution point override.")] = None,
    as_user: AsUser = None,
) -> None:
    """Trust an issuing CA."""
    setup_django()
    from kiban.identity.services import add_trusted_ca

    with cli_errors():
        row = add_trusted_ca(
            actor=operator(as_user), certificate=path.read_bytes(), crl_url=crl_url
        )
    console.print(f"trusted / 信頼済み: {row.subject}\n  sha256 {row.fingerprint}")
    if row.crl_url:
        console.print(f"  CRL: {row.crl_url}")


@trust_app.command("list")
def trust_list() -> None:
    """List trusted CAs and the state of their CRLs."""
    setup_django()
    from django.conf import settings

    from kiban.identity.models import TrustedCA

    for ca in TrustedCA.objects.select_related("crl").order_by("pk"):
        crl = getattr(ca, "crl", None)
        state = "active" if ca.active else "inactive"
        if ca.is_demo:
            state += ", DEMO" + ("" if settings.DEMO else " (ignored in production)")
        crl_text = (
            f"CRL #{crl.crl_number} next update {crl.next_update:%Y-%m-%d %H:%M} "
            f"({crl.entries} revoked)"
            if crl
            else "no CRL loaded: its certificates fail"
        )
        console.print(f"{ca.pk}\t{ca.subject}\t[{state}]\n\t{crl_text}")


@crl_app.command("load")
def crl_load(
    path: Annotated[Path, typer.Argument(help="CRL file, DER or PEM.", exists=True)],
    as_user: AsUser = None,
) -> None:
    """Load a CRL for a trusted CA (replaces the older one)."""
    setup_django()
    from kiban.identity.services import load_crl

    with cli_errors():
        row = load_crl(actor=operator(as_user), data=path.read_bytes(), source=str(path))
    console.print(
        f"loaded CRL #{row.crl_number} ({row.entries} revoked), next update {row.next_update}"
    )


@crl_app.command("fetch")
def crl_fetch(
    url: Annotated[str | None, typer.Option(help="Fetch from this URL instead.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per download.")] = 10.0,
    as_user: AsUser = None,
) -> None:
    """Download every trusted CA's CRL from its distribution point (run from a timer)."""
    setup_django()
    from kiban.identity.services import fetch_crls

    with cli_errors():
        rows = fetch_crls(actor=operator(as_user), url=url, timeout=timeout)
    for row in rows:
        console.print(f"loaded CRL #{row.crl_number} from {row.source} ({row.entries} revoked)")


@demo_ca_app.command("init")
def demo_ca_init(
    force: Annotated[bool, typer.Option(help="Create a new demo CA even if one exists.")] = False,
    as_user: AsUser = None,
) -> None:
    """Create and trust the demo CA (refused in production)."""
    setup_django()
    from django.conf import settings

    from kiban.identity.services import init_demo_ca

    with cli_errors():
        row = init_demo_ca(actor=operator(as_user), force=force)
    console.print(
        f"demo CA / デモ用認証局: {row.subject}\n  stored in {Path(settings.KEYS_DIR) / 'demo-ca'}"
    )


@card_app.command("issue")
def card_issue(
    municipality: Annotated[str, typer.Option("--municipality", "-m", help="Municipality code")],
    resident: Annotated[str, typer.Option(help="住民票コード of the resident")],
    out: Annotated[Path, typer.Option(help="Soft card file to write, e.g. card.p12")],
    auth_pin: Annotated[str | None, typer.Option(help="4-digit authentication PIN")] = None,
    sign_pin: Annotated[str | None, typer.Option(help="6-16 character signing PIN")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
    as_user: AsUser = None,
) -> None:
    """Issue a demo soft card with the resident's 基本4情報 from the registry."""
    setup_django()
    from kiban.core.services import get_municipality
    from kiban.identity.services import issue_card

    if auth_pin is None:
        auth_pin = typer.prompt(
            "利用者証明用暗証番号 / auth PIN (4 digits)", hide_input=True, confirmation_prompt=True
        )
    if sign_pin is None:
        sign_pin = typer.prompt(
            "署名用パスワード / signing PIN (6-16)", hide_input=True, confirmation_prompt=True
        )
    with cli_errors():
        m = get_municipality(municipality)
        card = issue_card(
            actor=operator(as_user),
            municipality=m,
            resident_code=resident,
            out=out,
            auth_pin=auth_pin,
            sign_pin=sign_pin,
            overwrite=overwrite,
        )
    console.print(f"issued card {card.pk} to {resident}: {out} (expires {card.expires_on})")


@card_app.command("sign")
def card_sign(
    file: Annotated[Path, typer.Argument(help="File to sign; writes FILE.p7s", exists=True)],
    card: Annotated[Path, typer.Option(help="Soft card file (card.p12)", exists=True)],
    sign_pin: Annotated[str | None, typer.Option(help="Signing PIN")] = None,
) -> None:
    """Sign FILE with the card's signature key: detached CMS, written to FILE.p7s."""
    from kiban.identity.cards import CardError, SoftCard

    if sign_pin is None:
        sign_pin = typer.prompt("署名用パスワード / signing PIN", hide_input=True)
    try:
        signature = SoftCard.open(card).sign_cms(file.read_bytes(), sign_pin)
    except CardError as exc:
        fail(f"{exc.message_ja} / {exc.message_en}")
    target = file.with_name(file.name + ".p7s")
    target.write_bytes(signature)
    console.print(f"signed / 署名しました: {target}")


@card_app.command("revoke")
def card_revoke(
    municipality: Annotated[str, typer.Option("--municipality", "-m")],
    resident: Annotated[str, typer.Option(help="住民票コード")],
    reason: Annotated[str, typer.Option(help="Reason (audited)")],
    signature_only: Annotated[
        bool, typer.Option(help="Revoke only the signature certificate (name/address change)")
    ] = False,
    as_user: AsUser = None,
) -> None:
    """Revoke a resident's cards (or only their signature certificates)."""
    setup_django()
    from kiban.core.services import get_municipality
    from kiban.identity.models import Card
    from kiban.identity.services import revoke_card, revoke_cards_for
    from kiban.registry.models import Person

    with cli_errors():
        m = get_municipality(municipality)
        person = Person.objects.filter(municipality=m, resident_code=resident).first()
        if person is None:
            fail(f"住民が見つかりません / No resident {resident}")
        if signature_only:
            n = revoke_cards_for(person, reason, actor=operator(as_user))
        else:
            cards = list(Card.objects.filter(person=person, revoked_at__isnull=True))
            for c in cards:
                revoke_card(actor=operator(as_user), card=c, reason=reason)
            n = len(cards)
    console.print(f"revoked {n} card(s)")


def applications_verify(
    application_id: Annotated[int, typer.Argument(help="Application id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Re-check an application's stored evidence (payload, signature, certificate)."""
    setup_django()
    import json

    from kiban.identity.intake import verify_application

    with cli_errors():
        report = verify_application(application_id)
    if as_json:
        console.print_json(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
    else:
        mark = "OK" if report.ok else "FAILED"
        console.print(f"application {report.application_id} ({report.procedure_id}): {mark}")
        console.print(f"  payload intact / 申請データ: {report.payload_intact}")
        console.print(f"  signature valid / 署名: {report.signature_valid}")
        console.print(f"  certificate now / 証明書の現状: {report.certificate_now}")
        console.print(f"  signer recorded / 署名者: {report.signer_matches_person}")
        for problem in report.problems:
            console.print(f"  - {problem}")
    raise typer.Exit(0 if report.ok else 1)


def _register_applications_verify() -> None:
    """Mount `kiban applications verify` on the procedures CLI (unless it has its own)."""
    try:
        from kiban.procedures.cli import applications_app
    except ImportError:  # pragma: no cover
        return
    names = {c.name for c in applications_app.registered_commands}
    if "verify" not in names:
        applications_app.command("verify")(applications_verify)


_register_applications_verify()
