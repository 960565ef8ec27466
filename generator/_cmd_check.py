"""``check CATALOG [--out generated]``: fail with a diff when the generated package drifted.

Renders the catalog in memory and compares it with the folder: missing, stale, hand-edited and
extra files are listed, then their unified diffs. Exit 0 when identical, 1 on drift or catalog
errors, 2 on usage errors. Nothing is written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from generator._check import format_drift
from generator._generate import CatalogErrors, GenerateError
from generator._generate import check as check_package

__all__ = ["check", "run"]


def run(
    catalog: Path,
    out: Path,
    *,
    diff: bool = True,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Compare `out` with `catalog`; returns the exit code (0 same, 1 drift or errors, 2 usage)."""
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    try:
        checked = check_package(catalog, out=out)
    except CatalogErrors as exc:
        stderr.write("".join(f"{problem}\n" for problem in exc.problems))
        stderr.write(f"error: {exc}\n")
        return exc.code
    except GenerateError as exc:
        stderr.write(f"error: {exc}\n")
        return exc.code
    folder = out.as_posix().rstrip("/")
    if checked.up_to_date:
        stderr.write(f"{folder}: up to date ({checked.files} files)\n")
        return 0
    stdout.write(format_drift(list(checked.drifts), folder, diffs=diff))
    stderr.write(
        f"{folder}: {len(checked.drifts)} file(s) differ from the catalog; run "
        f"`python -m generator generate {catalog.as_posix()} --out {folder}` "
        "(hand edits belong in the catalog or outside the generated package)\n"
    )
    return 1


def check(
    catalog: Annotated[Path, typer.Argument(help="the EventCatalog folder")],
    out: Annotated[Path, typer.Option("--out", help="the generated package folder")] = Path(
        "generated"
    ),
    diff: Annotated[bool, typer.Option("--diff/--no-diff", help="print unified diffs")] = True,
) -> None:
    """Exit 1 with a diff when the generated package is stale or was edited by hand."""
    raise typer.Exit(run(catalog, out, diff=diff))
