"""`kiban identity ...` and `kiban card ...` commands."""

import typer

app = typer.Typer(help="My Number card identity (公的個人認証): trust, CRLs, demo CA.",
                  no_args_is_help=True)
card_app = typer.Typer(help="Soft My Number cards: issue and sign.", no_args_is_help=True)
