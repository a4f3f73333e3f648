"""Shared terminal output for commands: errors without tracebacks, exit codes."""

from __future__ import annotations

from typing import NoReturn

import click


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)
