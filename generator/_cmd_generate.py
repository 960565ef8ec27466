"""``generate CATALOG --out generated``: render the catalog and write the generated package."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from generator._render._cache import Cache
from generator._render._datamodel import start_model_worker
from generator._render._worker import Worker

__all__ = ["generate", "run"]


def _early_worker(catalog: Path) -> Worker | None:
    """A worker importing datamodel-code-generator from the start, when models will be needed.

    The renderer and the catalog's loading and linting come after this fork, on this core,
    while the worker gets ready on the other. Only when the cache is off or has no entries yet
    (a fresh clone, CI): with a filled cache most runs need no model at all, and the renderer
    forks a worker itself if one is needed after all.
    """
    if not catalog.is_dir():
        return None
    cache = Cache.for_catalog(catalog)
    if cache.database is not None and cache.database.exists():
        return None
    return start_model_worker()


def run(
    catalog: Path,
    out: Path,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Generate `out` from `catalog`; returns the exit code (0 done, 1 catalog errors, 2 usage)."""
    worker = _early_worker(catalog)
    try:
        return _run(
            catalog,
            out,
            True if worker is None else worker,
            stdout if stdout is not None else sys.stdout,
            stderr if stderr is not None else sys.stderr,
        )
    finally:
        if worker is not None:
            worker.close()


def _run(catalog: Path, out: Path, worker: Worker | bool, stdout: TextIO, stderr: TextIO) -> int:
    # Imported after the worker's fork: these imports are a good part of what it overlaps.
    from generator._generate import CatalogErrors, GenerateError
    from generator._generate import generate as generate_package

    try:
        generated = generate_package(catalog, out=out, worker=worker)
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
