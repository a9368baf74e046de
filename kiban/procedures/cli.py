"""`kiban procedures ...` and `kiban applications ...` commands."""

import typer

app = typer.Typer(help="Online procedures catalog.", no_args_is_help=True)
applications_app = typer.Typer(help="Applications: verify stored evidence.", no_args_is_help=True)
