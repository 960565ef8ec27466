"""Command line of the generator: ``python -m generator <command>``.

Minimal version written with the generate/check commands; the owner of lint and the other
commands extends this app (keep `main(argv) -> int`, tests call it without a subprocess).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from generator._cmd_check import check
from generator._cmd_generate import generate

__all__ = ["app", "main"]

app = typer.Typer(
    name="generator",
    help="EventCatalog folder -> typed Python package, and the checks that keep them in sync.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("generate")(generate)
app.command("check")(check)


@app.callback()
def _root() -> None:
    """EventCatalog folder -> typed Python package, and the checks that keep them in sync."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (0 ok, 1 problems found, 2 usage error)."""
    try:
        # Standalone mode prints usage errors the usual way; every path ends in SystemExit.
        app(args=list(sys.argv[1:] if argv is None else argv), prog_name="generator")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        sys.stderr.write(f"{exc.code}\n")
        return 1
    return 0
