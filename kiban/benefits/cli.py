"""`kiban benefit ...` commands."""

import typer

app = typer.Typer(help="Benefit payments (給付金).", no_args_is_help=True)
