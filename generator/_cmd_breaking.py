"""``generator breaking CATALOG --against REF``: breaking changes between two catalog versions.

REF is a folder holding the other catalog, or a git revision: the catalog's folder at that
revision is materialised with ``git archive`` into a temporary directory and loaded from there.
A folder wins when REF names both. Prints ``path:line: breaking rule-id: message`` lines (or a
JSON list) sorted by path and line; exit code 1 when anything breaks, 0 when nothing does, 2 for
usage errors (unknown folder or revision, not a git repository, unreadable catalog).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from generator._breaking import BreakingChange, compare
from generator._model import Catalog

__all__ = [
    "AgainstError",
    "breaking",
    "catalog_at",
    "load_against",
    "load_folder",
    "run",
]


class AgainstError(Exception):
    """The catalog or the version to compare against cannot be had (a usage error, exit 2)."""


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


# --- loading -----------------------------------------------------------------------------


def load_folder(path: Path) -> Catalog:
    """The catalog in `path` (via `load_catalog`); `AgainstError` when it cannot be loaded."""
    from generator import load_catalog

    if not path.is_dir():
        raise AgainstError(f"{path}: no such catalog folder")
    try:
        # Bad content never raises (it becomes catalog.problems, lint's business); only an
        # unreadable folder does.
        return load_catalog(path)
    except OSError as exc:
        raise AgainstError(f"{path}: cannot load the catalog: {exc}") from exc


def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise AgainstError("git is not installed; pass a folder to --against instead") from exc


@contextmanager
def catalog_at(revision: str, catalog_dir: Path) -> Iterator[Path]:
    """The folder `catalog_dir` as it was at git `revision`, in a temporary directory.

    Raises:
        AgainstError: outside a git repository, for an unknown revision, or when the catalog
            folder did not exist at that revision.
    """
    catalog_dir = catalog_dir.resolve()
    if not catalog_dir.is_dir():
        raise AgainstError(f"{catalog_dir}: no such catalog folder")
    top = _git(["rev-parse", "--show-toplevel"], catalog_dir)
    if top.returncode != 0:
        raise AgainstError(
            f"{catalog_dir} is not inside a git repository, so --against cannot be a revision; "
            "pass a folder instead"
        )
    root = Path(top.stdout.decode().strip()).resolve()
    relative = catalog_dir.relative_to(root).as_posix()
    unknown = AgainstError(f"--against {revision!r}: neither a folder nor a git revision")
    if not revision or revision.startswith("-"):  # never let a revision pass as a git option
        raise unknown
    commit = _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], root)
    if commit.returncode != 0:
        raise unknown
    sha = commit.stdout.decode().strip()
    archive = _git(["archive", "--format=tar", sha, "--", relative], root)
    if archive.returncode != 0:
        raise AgainstError(
            f"--against {revision}: the catalog folder {relative!r} does not exist there"
        )
    with tempfile.TemporaryDirectory(prefix="catalog-at-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            _extract(tar, Path(tmp))
        yield Path(tmp) / relative


def _extract(tar: tarfile.TarFile, into: Path) -> None:
    # The "data" filter refuses absolute paths, links out of the tree and device files.
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
    else:  # pragma: no cover - Python < 3.11.4
        tar.extractall(into)  # noqa: S202 - git archive of our own repository


def load_against(against: str, catalog_dir: Path) -> Catalog:
    """The catalog to compare with: the folder `against`, else `catalog_dir` at git `against`."""
    if not against.strip():
        # Path("") is the current folder: an empty value must not compare against it silently.
        raise AgainstError("--against '': neither a folder nor a git revision")
    candidate = Path(against)
    if candidate.is_dir():
        return load_folder(candidate)
    with catalog_at(against, catalog_dir) as folder:
        return load_folder(folder)


# --- command -----------------------------------------------------------------------------


def run(
    catalog: Path,
    against: str,
    output_format: str = "text",
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Compare `catalog` with `against` and print the breaking changes; returns the exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if output_format not in ("text", "json"):
        err.write(f"error: --format {output_format!r}: use text or json\n")
        return 2
    try:
        new = load_folder(catalog)
        old = load_against(against, catalog)
    except AgainstError as exc:
        err.write(f"error: {exc}\n")
        return 2
    changes = compare(old, new)
    _write(changes, output_format, out)
    noun = "breaking change" if len(changes) == 1 else "breaking changes"
    err.write(f"{len(changes)} {noun} against {against}\n")
    return 1 if changes else 0


def _write(changes: Sequence[BreakingChange], output_format: str, out: TextIO) -> None:
    if output_format == "json":
        out.write(json.dumps([c.to_dict() for c in changes], indent=2) + "\n")
    else:
        out.write("".join(f"{c}\n" for c in changes))


def breaking(
    catalog: Annotated[Path, typer.Argument(help="the catalog folder (the new version)")],
    against: Annotated[
        str,
        typer.Option(
            "--against",
            help="the old version: a catalog folder, or a git revision of this catalog",
        ),
    ],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="text lines or a JSON list")
    ] = OutputFormat.text,
) -> None:
    """List breaking changes between two catalog versions; exit 1 when there are any."""
    raise typer.Exit(run(catalog, against, output_format.value))
