"""``generator lint CATALOG`` and ``generator rules``.

``lint`` prints ``path:line:col: severity rule-id: message`` lines (or a JSON list) sorted by path
and line, then a summary on stderr. Exit code 1 when there is an error (or, with ``--strict``, a
warning), 0 otherwise, 2 for usage errors.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.text import Text

from generator._build import load_catalog
from generator._lint import RULES, lint
from generator._problems import Problem, count, format_json

__all__ = ["register", "run", "run_rules"]


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


def _ignored(problem: Problem, patterns: Sequence[str]) -> bool:
    # "body/" or "body/*" ignore a whole family, "body/resource-ref-in-md" one rule
    for pattern in patterns:
        prefix = pattern.removesuffix("*")
        if problem.rule == pattern or (prefix.endswith("/") and problem.rule.startswith(prefix)):
            return True
    return False


def _print_text(problems: Sequence[Problem], out: TextIO) -> None:
    console = Console(file=out, soft_wrap=True, highlight=False)
    for problem in problems:
        line = Text(f"{problem.path}:{problem.line}:{problem.column}: ")
        line.append(problem.severity, style="bold red" if problem.severity == "error" else "yellow")
        line.append(" ")
        line.append(problem.rule, style="cyan")
        line.append(f": {problem.message}")
        console.print(line)


def run(
    catalog: Path,
    *,
    output_format: str = "text",
    strict: bool = False,
    ignore: Sequence[str] = (),
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Lint one catalog folder; returns the exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        loaded = load_catalog(catalog)
    except NotADirectoryError as exc:
        err.write(f"error: {exc}\n")
        return 2
    problems = [p for p in lint(loaded) if not _ignored(p, ignore)]
    if output_format == "json":
        out.write(format_json(problems))
    else:
        _print_text(problems, out)
    errors, warnings = count(problems)
    files = len(loaded.documents)
    if problems:
        err.write(f"{errors} error(s), {warnings} warning(s) in {files} page(s)\n")
    else:
        err.write(f"no problems in {files} page(s)\n")
    return 1 if errors or (strict and warnings) else 0


def run_rules(*, output_format: str = "text", stdout: TextIO | None = None) -> int:
    """Print every rule: id, severity and what it catches."""
    out = stdout if stdout is not None else sys.stdout
    if output_format == "json":
        rows = [{"id": r.id, "severity": r.severity, "summary": r.summary} for r in RULES]
        out.write(json.dumps(rows, indent=2) + "\n")
        return 0
    width = max(len(r.id) for r in RULES)
    for rule in RULES:
        out.write(f"{rule.id:<{width}}  {rule.severity:<7}  {rule.summary}\n")
    return 0


def lint_command(
    catalog: Annotated[
        Path,
        typer.Argument(help="the EventCatalog folder", exists=True, file_okay=False, dir_okay=True),
    ],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="text lines or a JSON list")
    ] = OutputFormat.text,
    strict: Annotated[bool, typer.Option("--strict", help="warnings fail too (exit 1)")] = False,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="skip a rule id, or a family as 'body/' (repeatable)"),
    ] = None,
) -> None:
    """Report every problem of a catalog as path:line:col: severity rule-id: message."""
    code = run(catalog, output_format=output_format.value, strict=strict, ignore=ignore or ())
    raise typer.Exit(code)


def rules_command(
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="text table or a JSON list")
    ] = OutputFormat.text,
) -> None:
    """List every lint rule with its severity and what it catches."""
    raise typer.Exit(run_rules(output_format=output_format.value))


def register(app: typer.Typer) -> None:
    app.command("lint")(lint_command)
    app.command("rules")(rules_command)
