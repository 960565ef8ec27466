"""``asyncapi CATALOG --out DIR [--service ID]``: one AsyncAPI 3.0 document per service.

Writes ``DIR/<service id>.asyncapi.json`` (deterministic JSON, see `generator._asyncapi`) for
every service of the catalog, or for the services named with ``--service`` (repeatable). A
catalog with lint errors is refused, like ``generate`` does. Exit codes: 0 written, 1 catalog
errors or a schema that cannot be exported, 2 usage errors (no such folder, unknown service).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer

from generator._asyncapi import AsyncApiError, check_document, dumps, export

__all__ = ["asyncapi", "run"]

SUFFIX = ".asyncapi.json"


def run(
    catalog: Path,
    out: Path,
    services: list[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Export the documents of `catalog` into `out`; returns the exit code."""
    from generator import lint, load_catalog

    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    if not catalog.is_dir():
        stderr.write(f"error: {catalog}: no such catalog folder\n")
        return 2
    if out.exists() and not out.is_dir():
        stderr.write(f"error: --out {out}: exists and is not a folder\n")
        return 2
    model = load_catalog(catalog)
    errors = [p for p in lint(model) if p.severity == "error"]
    if errors:
        stderr.write("".join(f"{p}\n" for p in errors))
        stderr.write(
            f"error: {len(errors)} catalog error(s); fix them first "
            f"(python -m generator lint {catalog.as_posix()})\n"
        )
        return 1
    known = {s.id for s in model.services}
    unknown = [s for s in services or () if s not in known]
    if unknown:
        stderr.write(
            f"error: --service {', '.join(unknown)}: no such service; the catalog has: "
            f"{', '.join(sorted(known))}\n"
        )
        return 2
    try:
        documents = export(model, services or None)
    except AsyncApiError as exc:
        stderr.write(f"error: {exc}\n")
        return 1
    broken = {sid: check_document(doc) for sid, doc in documents.items()}
    broken = {sid: problems for sid, problems in broken.items() if problems}
    if broken:  # an export bug, never the catalog's fault: refuse to write a wrong document
        for sid, problems in sorted(broken.items()):
            stderr.write("".join(f"error: {sid}: {p}\n" for p in problems))
        return 1
    out.mkdir(parents=True, exist_ok=True)
    written = unchanged = 0
    for sid, document in documents.items():
        target = out / f"{sid}{SUFFIX}"
        text = dumps(document)
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            unchanged += 1
            continue
        target.write_text(text, encoding="utf-8")
        stdout.write(f"wrote {target.as_posix()}\n")
        written += 1
    stderr.write(f"{out.as_posix()}: {written} written, {unchanged} unchanged\n")
    return 0


def asyncapi(
    catalog: Annotated[Path, typer.Argument(help="the EventCatalog folder")],
    out: Annotated[Path, typer.Option("--out", help="folder for <service>.asyncapi.json files")],
    service: Annotated[
        list[str] | None,
        typer.Option("--service", help="only this service id (repeatable); default: all"),
    ] = None,
) -> None:
    """Export an AsyncAPI 3.0 document per service: channels, operations, message schemas."""
    raise typer.Exit(run(catalog, out, service))
