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

from generator._check import compare_folder, format_drift
from generator._cmd_common import CommandError, render_folder

__all__ = ["check", "run"]


def run(
    catalog: Path,
    out: Path,
    *,
    diff: bool = True,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    try:
        rendered = render_folder(catalog, out, stderr=stderr)
    except CommandError as exc:
        stderr.write(f"error: {exc}\n")
        return exc.code
    folder = out.as_posix().rstrip("/")
    drifts = compare_folder(rendered.files, out)
    if not drifts:
        stderr.write(f"{folder}: up to date ({len(rendered.files)} files)\n")
        return 0
    stdout.write(format_drift(drifts, folder, diffs=diff))
    stderr.write(
        f"{folder}: {len(drifts)} file(s) differ from the catalog; run "
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
