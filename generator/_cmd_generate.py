"""``generate CATALOG --out generated``: render the catalog and write the generated package."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from generator._generate import CatalogErrors, GenerateError
from generator._generate import generate as generate_package

__all__ = ["generate", "run"]


def run(
    catalog: Path,
    out: Path,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Generate `out` from `catalog`; returns the exit code (0 done, 1 catalog errors, 2 usage)."""
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    try:
        generated = generate_package(catalog, out=out)
    except CatalogErrors as exc:
        stderr.write("".join(f"{problem}\n" for problem in exc.problems))
        stderr.write(f"error: {exc}\n")
        return exc.code
    except GenerateError as exc:
        stderr.write(f"error: {exc}\n")
        return exc.code
    for warning in generated.warnings:
        stderr.write(f"warning: {warning}\n")
    folder = out.as_posix()
    report = generated.report
    for path in report.written:
        stdout.write(f"wrote {folder}/{path}\n")
    for path in report.removed:
        stdout.write(f"removed {folder}/{path}\n")
    stderr.write(
        f"{folder}: {len(report.written)} written, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged\n"
    )
    return 0


def generate(
    catalog: Annotated[Path, typer.Argument(help="the EventCatalog folder")],
    out: Annotated[Path, typer.Option("--out", help="the generated package folder")] = Path(
        "generated"
    ),
) -> None:
    """Generate typed models, service contracts, HTTP routers and the registry from a catalog."""
    raise typer.Exit(run(catalog, out))
