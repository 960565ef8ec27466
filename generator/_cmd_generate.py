"""``generate CATALOG --out generated``: render the catalog and write the generated package."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from generator._cmd_common import CommandError, render_folder
from generator._write import OutputError, write_output

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
        rendered = render_folder(catalog, out, stderr=stderr)
        report = write_output(rendered.files, out, catalog_root=catalog)
    except CommandError as exc:
        stderr.write(f"error: {exc}\n")
        return exc.code
    except OutputError as exc:
        stderr.write(f"error: {exc}\n")
        return 2
    for path in report.written:
        stdout.write(f"wrote {out.as_posix()}/{path}\n")
    for path in report.removed:
        stdout.write(f"removed {out.as_posix()}/{path}\n")
    stderr.write(
        f"{out.as_posix()}: {len(report.written)} written, {len(report.removed)} removed, "
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
