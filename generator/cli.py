"""Command line of the generator: ``python -m generator <command>``.

One typer app; each command lives in its own ``generator/_cmd_<name>.py``. To add a command, add
it to `COMMANDS` (name -> module); the module either defines ``register(app)`` or a typer command
function of the same name. Only the module of the command being run is imported, so ``lint``
does not pay for the renderer's imports.

Exit codes: 0 success, 1 problems found, 2 usage error (unknown command, missing folder...).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

import typer

__all__ = ["COMMANDS", "build_app", "main"]

#: command name -> module that provides it
COMMANDS: dict[str, str] = {
    "lint": "generator._cmd_lint",
    "rules": "generator._cmd_lint",
    "generate": "generator._cmd_generate",
    "check": "generator._cmd_check",
    "breaking": "generator._cmd_breaking",
    "asyncapi": "generator._cmd_asyncapi",
}

_HELP = "EventCatalog folder -> typed Python package, and the checks that keep them in sync."


def build_app(only: str | None = None) -> typer.Typer:
    """The typer app with every command, or with just ``only`` when it names one."""
    app = typer.Typer(name="generator", help=_HELP, no_args_is_help=True, add_completion=False)

    @app.callback()
    def _root() -> None:
        """EventCatalog folder -> typed Python package, and the checks that keep them in sync."""

    names = [only] if only in COMMANDS else list(COMMANDS)
    registered: set[str] = set()
    for name in names:
        try:
            module = importlib.import_module(COMMANDS[name])
        except ImportError as exc:
            if only is not None:
                raise
            # one broken command must not take the others (and --help) down with it
            sys.stderr.write(f"warning: command '{name}' is unavailable: {exc}\n")
            continue
        register = getattr(module, "register", None)
        if callable(register):
            if module.__name__ not in registered:
                register(app)
                registered.add(module.__name__)
        else:
            app.command(name)(getattr(module, name))
    return app


def _command_of(args: Sequence[str]) -> str | None:
    for arg in args:
        if not arg.startswith("-"):
            return arg
    return None


@contextlib.contextmanager
def _streams(stdout: TextIO | None, stderr: TextIO | None) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        if stdout is not None:
            stack.enter_context(contextlib.redirect_stdout(stdout))
        if stderr is not None:
            stack.enter_context(contextlib.redirect_stderr(stderr))
        yield


def main(
    argv: Sequence[str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one command and return its exit code; tests pass ``argv`` and streams, no subprocess."""
    args = list(sys.argv[1:] if argv is None else argv)
    with _streams(stdout, stderr):
        try:
            # standalone mode: click prints usage errors itself and exits with 2
            build_app(_command_of(args))(args=args, prog_name="generator")
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                return exc.code or 0
            sys.stderr.write(f"{exc.code}\n")
            return 1
    return 0
