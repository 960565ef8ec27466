"""Loading and rendering shared by the ``generate`` and ``check`` commands."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

from generator._model import Catalog
from generator._problems import Problem, sort_problems
from generator._render import RenderError, RenderResult, render_catalog
from generator._write import expected_files

__all__ = ["CommandError", "Rendered", "render_folder"]


class CommandError(Exception):
    """Stops a command; `code` is its exit code (1 catalog problems, 2 usage errors)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Rendered:
    catalog: Catalog
    result: RenderResult
    files: dict[str, str]  # result.files plus manifest.json


def _function(module: str, name: str) -> Callable[..., Any] | None:
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return cast(Callable[..., Any], found) if callable(found) else None


def load(path: Path) -> Catalog:
    if not path.is_dir():
        raise CommandError(f"{path}: no such catalog folder", 2)
    loader = _function("generator._build", "load_catalog") or _function(
        "generator._load", "load_catalog"
    )
    if loader is None:  # pragma: no cover - the loader ships with the generator
        raise CommandError("no catalog loader is installed", 2)
    try:
        loaded = loader(path)
    except (OSError, ValueError) as exc:
        raise CommandError(f"{path}: cannot load the catalog: {exc}", 2) from exc
    catalog = loaded[0] if isinstance(loaded, tuple) else loaded
    if not isinstance(catalog, Catalog):
        raise CommandError(f"{path}: cannot load the catalog", 2)
    return catalog


def errors_of(catalog: Catalog) -> list[Problem]:
    """Errors that make generated code wrong: load problems, and lint's when lint is installed."""
    problems: list[Problem] = list(getattr(catalog, "problems", ()))
    lint = _function("generator._lint", "lint")
    if lint is not None:
        found = lint(catalog)
        problems.extend(p for p in cast(Iterable[Any], found) if isinstance(p, Problem))
    return [p for p in sort_problems(problems) if p.severity == "error"]


def render_folder(catalog_path: Path, out: Path, *, stderr: TextIO) -> Rendered:
    """Load, refuse a catalog with errors, render; warnings go to `stderr`."""
    catalog = load(catalog_path)
    errors = errors_of(catalog)
    if errors:
        for problem in errors:
            stderr.write(f"{problem}\n")
        raise CommandError(
            f"{len(errors)} catalog error(s); fix them first (python -m generator lint "
            f"{catalog_path})",
            1,
        )
    package = out.resolve().name
    if not package.isidentifier():
        raise CommandError(f"{out}: the output folder name must be a Python package name", 2)
    try:
        result = render_catalog(catalog, package_name=package)
    except RenderError as exc:
        raise CommandError(f"cannot generate: {exc}", 1) from exc
    for warning in result.warnings:
        stderr.write(f"warning: {warning}\n")
    return Rendered(catalog, result, expected_files(result, catalog.root.resolve().name))
