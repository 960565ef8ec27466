"""Library API of generation: ``generate(catalog, out=...)`` and ``check(catalog, out=...)``.

The ``generate`` and ``check`` commands are thin wrappers over these two functions. Both load the
catalog, refuse it when lint finds errors (generated code from a broken catalog would be wrong),
and render it in memory; `generate` then writes the output folder, `check` compares with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator._build import load_catalog
from generator._check import Drift, compare_folder
from generator._lint import lint
from generator._load import paused_gc
from generator._model import Catalog
from generator._problems import Problem
from generator._render import (
    RenderError,
    RenderResult,
    RenderWarning,
    plan_render,
    render_catalog,
)
from generator._render._cache import Cache
from generator._render._pipeline import RenderPlan
from generator._render._worker import Worker
from generator._write import OutputError, WriteReport, expected_files, write_output

__all__ = [
    "CatalogErrors",
    "Checked",
    "GenerateError",
    "Generated",
    "check",
    "generate",
    "render_folder",
]


class GenerateError(Exception):
    """Generation cannot run: `code` 2 for usage errors (paths), 1 for catalog problems."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class CatalogErrors(GenerateError):
    """Lint found errors; `problems` lists them."""

    def __init__(self, catalog: Path, problems: list[Problem]) -> None:
        super().__init__(
            f"{len(problems)} catalog error(s); fix them first (python -m generator lint "
            f"{catalog.as_posix()})",
            1,
        )
        self.problems = problems


@dataclass(frozen=True)
class Rendered:
    catalog: Catalog
    result: RenderResult
    files: dict[str, str]  # result.files plus manifest.json


@dataclass(frozen=True)
class Generated:
    out: Path
    report: WriteReport
    warnings: tuple[RenderWarning, ...]


@dataclass(frozen=True)
class Checked:
    out: Path
    files: int  # files the catalog generates, manifest included
    drifts: tuple[Drift, ...]
    warnings: tuple[RenderWarning, ...]

    @property
    def up_to_date(self) -> bool:
        return not self.drifts


def _load(path: Path) -> Catalog:
    if not path.is_dir():
        raise GenerateError(f"{path}: no such catalog folder", 2)
    try:
        return load_catalog(path)
    except (OSError, ValueError) as exc:
        raise GenerateError(f"{path}: cannot load the catalog: {exc}", 2) from exc


def render_folder(
    catalog_path: Path,
    out: Path,
    *,
    cache: Cache | None = None,
    worker: Worker | bool = True,
) -> Rendered:
    """Load and lint `catalog_path`, then render it for the package folder `out`.

    `cache` defaults to the one the environment or the catalog's project names (see
    `generator._render._cache`); pass ``Cache.off()`` to render without one. `worker` runs
    datamodel-code-generator's batch in a forked process while the catalog is linted: a
    `Worker` already started (`start_model_worker`, which this call then owns), True to fork
    one once the batch is known, False to stay in this process. Same files either way.
    """
    try:
        with paused_gc():
            return _render_folder(catalog_path, out, cache, worker)
    finally:
        if isinstance(worker, Worker):
            worker.close()


def _plan(catalog: Catalog, package: str, cache: Cache, worker: Worker | bool) -> RenderPlan | None:
    """Start rendering before lint, so the model batch overlaps it; None when that fails.

    A catalog lint would refuse may well fail to render: then nothing is reported here, and
    rendering runs again after lint, in the original order, to fail (or not) as it always did.
    """
    if not package.isidentifier():
        return None
    try:
        return plan_render(catalog, package_name=package, cache=cache, worker=worker)
    except Exception:  # noqa: BLE001 - see above
        return None


def _render_folder(
    catalog_path: Path, out: Path, cache: Cache | None, worker: Worker | bool
) -> Rendered:
    catalog = _load(catalog_path)
    package = out.resolve().name
    own = cache is None
    cache = Cache.for_catalog(catalog_path) if cache is None else cache
    try:
        plan = _plan(catalog, package, cache, worker)
        try:
            errors = [p for p in lint(catalog) if p.severity == "error"]
            if errors:
                raise CatalogErrors(catalog_path, errors)
            if not package.isidentifier():
                raise GenerateError(
                    f"{out}: the output folder's name is the package name; it must be a Python "
                    "identifier",
                    2,
                )
            if plan is not None:
                result = plan.finish()
            else:  # the plan failed: render as before, to meet its error in this process
                result = render_catalog(catalog, package_name=package, cache=cache)
        finally:
            if plan is not None:
                plan.cancel()
    except RenderError as exc:
        raise GenerateError(f"cannot generate: {exc}", 1) from exc
    finally:
        if own:
            cache.close()
    return Rendered(catalog, result, expected_files(result, catalog.root.resolve().name))


def generate(
    catalog: str | Path,
    *,
    out: str | Path = "generated",
    cache: Cache | None = None,
    worker: Worker | bool = True,
) -> Generated:
    """Write the package generated from `catalog` into `out` (only there).

    `worker`: where the model batch runs, see `render_folder`.
    """
    catalog_path, out_path = Path(catalog), Path(out)
    rendered = render_folder(catalog_path, out_path, cache=cache, worker=worker)
    try:
        report = write_output(rendered.files, out_path, catalog_root=catalog_path)
    except OutputError as exc:
        raise GenerateError(str(exc), 2) from exc
    return Generated(out_path, report, rendered.result.warnings)


def check(
    catalog: str | Path,
    *,
    out: str | Path = "generated",
    cache: Cache | None = None,
    worker: Worker | bool = True,
) -> Checked:
    """Compare `out` with what `catalog` generates; writes nothing in `out`."""
    catalog_path, out_path = Path(catalog), Path(out)
    rendered = render_folder(catalog_path, out_path, cache=cache, worker=worker)
    drifts = compare_folder(rendered.files, out_path)
    return Checked(out_path, len(rendered.files), tuple(drifts), rendered.result.warnings)
