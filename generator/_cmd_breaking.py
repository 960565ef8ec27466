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
from typing import Annotated, Any, TextIO

import typer
import yaml

from generator._breaking import BreakingChange, compare
from generator._model import Catalog

__all__ = [
    "AgainstError",
    "FileLocator",
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
    from generator._load import load_catalog

    if not path.is_dir():
        raise AgainstError(f"{path}: no such catalog folder")
    try:
        loaded: Any = load_catalog(path)
    except (OSError, ValueError) as exc:
        raise AgainstError(f"{path}: cannot load the catalog: {exc}") from exc
    # load_catalog may return the catalog alone or with the problems it met on the way.
    catalog = loaded[0] if isinstance(loaded, tuple) else loaded
    if not isinstance(catalog, Catalog):
        raise AgainstError(f"{path}: cannot load the catalog")
    return catalog


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
    candidate = Path(against)
    if candidate.is_dir():
        return load_folder(candidate)
    with catalog_at(against, catalog_dir) as folder:
        return load_folder(folder)


# --- positions ---------------------------------------------------------------------------


class FileLocator:
    """Lines of JSON pointers in the catalog's files (schema.json, openapi.yml, page frontmatter).

    Files are parsed as YAML (JSON is read the same way) with their node positions; a file that
    cannot be read or parsed yields None, and the change keeps its resource's line.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._nodes: dict[str, tuple[yaml.Node | None, int]] = {}

    def _document(self, path: str) -> tuple[yaml.Node | None, int]:
        if path not in self._nodes:
            self._nodes[path] = self._parse(path)
        return self._nodes[path]

    def _parse(self, path: str) -> tuple[yaml.Node | None, int]:
        try:
            text = (self.root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None, 0
        offset = 0
        if path.endswith((".md", ".mdx")):
            lines = text.split("\n")
            if not lines or lines[0].strip() != "---":
                return None, 0
            end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
            if end is None:
                return None, 0
            text, offset = "\n".join(lines[1:end]), 1
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader), offset
        except yaml.YAMLError:
            return None, 0

    def __call__(self, path: str, pointer: Sequence[str]) -> int | None:
        node, offset = self._document(path)
        line: int | None = None
        for token in pointer:
            child = _child(node, token)
            if child is None:
                break
            key, node = child
            line = key.start_mark.line + 1 + offset
        return line


def _child(node: yaml.Node | None, token: str) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == token:
                return key, value
    elif isinstance(node, yaml.SequenceNode) and token.isdigit() and int(token) < len(node.value):
        item = node.value[int(token)]
        return item, item
    return None


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
    changes = compare(old, new, locate=FileLocator(catalog))
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
