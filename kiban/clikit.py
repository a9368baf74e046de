"""Helpers shared by every ``kiban`` subcommand (Django setup, errors, the operator)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from kiban.core.actors import Actor

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_ready = False


def setup_django() -> None:
    global _ready
    if _ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kiban.settings")
    import django

    django.setup()
    _ready = True


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Print a KibanError as its Japanese and English message and exit 1."""
    from kiban.core.errors import KibanError

    try:
        yield
    except KibanError as e:
        detail = ""
        if e.details:
            detail = "\n" + "\n".join(f"  - {d}" for d in _lines(e.details))
        fail(f"{e.message_ja} / {e.message_en}{detail}")


def _lines(details: object) -> list[str]:
    if isinstance(details, list):
        return [str(d) for d in details]
    return [str(details)]


def operator(username: str | None = None) -> Actor:
    from kiban.core.actors import operator_actor

    return operator_actor(username)
