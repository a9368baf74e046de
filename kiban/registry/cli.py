"""`kiban registry ...` commands."""

import typer

app = typer.Typer(help="Resident registry (住民記録).", no_args_is_help=True)
