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
    "lint_errors",
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
    `generator._render._cache`); pass ``Cache.off()`` to render without one.

    `worker` says whether helper processes may share the work (see `_render._worker`): a
    `Worker` already started (`start_model_worker`, which this call then owns) or True runs
    datamodel-code-generator's batch in one while the catalog is linted, and a large catalog
    (`LINT_APART` files or more) is linted in another while it renders; False keeps
    everything in this process. The files, warnings and errors are the same either way: a
    catalog with lint errors is refused with them, whatever rendering it found meanwhile.
    """
    try:
        with paused_gc():
            return _render_folder(catalog_path, out, cache, worker)
    finally:
        if isinstance(worker, Worker):
            worker.close()


# From this many catalog files on, lint runs in a forked process while the catalog renders:
# it is then a fifth of the time, well worth a fork. Below, the second core is better left to
# datamodel-code-generator's batch, which is the longer task there.
LINT_APART = 1000


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


def lint_errors(catalog: Catalog) -> list[Problem]:
    """The problems of `catalog` that stop generation."""
    return [p for p in lint(catalog) if p.severity == "error"]


def _start_lint(catalog: Catalog, worker: Worker | bool) -> Worker | None:
    """A forked process linting `catalog` (it has it already), for large catalogs only."""
    if worker is False or len(getattr(catalog, "files", None) or ()) < LINT_APART:
        return None
    return Worker.start(job=(lint_errors, (catalog,)))


def _lint_result(linter: Worker | None, catalog: Catalog) -> list[Problem]:
    """The forked lint's errors; when it gave none, lint here (the same result or exception)."""
    if linter is not None:
        try:
            errors = linter.result()
            if isinstance(errors, list) and all(isinstance(e, Problem) for e in errors):
                return errors
        except Exception:  # noqa: BLE001, S110 - lint again below, in this process
            pass
        finally:
            linter.close()
    return lint_errors(catalog)


def _render_folder(
    catalog_path: Path, out: Path, cache: Cache | None, worker: Worker | bool
) -> Rendered:
    catalog = _load(catalog_path)
    package = out.resolve().name
    own = cache is None
    cache = Cache.for_catalog(catalog_path) if cache is None else cache

    def refuse(errors: list[Problem]) -> None:
        if errors:
            raise CatalogErrors(catalog_path, errors)
        if not package.isidentifier():
            raise GenerateError(
                f"{out}: the output folder's name is the package name; it must be a Python "
                "identifier",
                2,
            )

    def render(plan: RenderPlan | None) -> RenderResult:
        if plan is not None:
            return plan.finish()
        # the plan failed: render as before, to meet its error in this process
        return render_catalog(catalog, package_name=package, cache=cache)

    linter: Worker | None = None
    result: RenderResult | None = None
    try:
        plan = _plan(catalog, package, cache, worker)
        try:
            linter = _start_lint(catalog, worker)
            if linter is None:
                refuse(lint_errors(catalog))
                result = render(plan)
            else:
                try:
                    result = render(plan) if package.isidentifier() else None
                except Exception:
                    refuse(_lint_result(linter, catalog))  # lint's verdict comes first
                    raise
                refuse(_lint_result(linter, catalog))
        finally:
            if plan is not None:
                plan.cancel()
            if linter is not None:
                linter.close()
    except RenderError as exc:
        raise GenerateError(f"cannot generate: {exc}", 1) from exc
    finally:
        if own:
            cache.close()
    assert result is not None  # refuse() raised otherwise
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
    own = cache is None
    if cache is None:
        cache = Cache.for_catalog(catalog_path)
        cache.background = True  # new entries are stored while the folder is written
    try:
        rendered = render_folder(catalog_path, out_path, cache=cache, worker=worker)
        try:
            report = write_output(rendered.files, out_path, catalog_root=catalog_path)
        except OutputError as exc:
            raise GenerateError(str(exc), 2) from exc
    finally:
        if own:
            cache.close()
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
