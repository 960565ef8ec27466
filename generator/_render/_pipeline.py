"""Rendering in two steps, so the model batch overlaps everything that does not need it.

`plan` checks the package name, prepares every schema (message payloads, OpenAPI components),
and starts the model batch (`_datamodel.start_models`), in a worker process when asked. The
caller may then do other work (lint the catalog); `RenderPlan.finish` renders the files that
need no model first and starts ruff on them, waits for the models, renders messages and HTTP
modules, and formats those.

The result is the one rendering in a single sequence gives: the same files, the same warnings
(a set, sorted), and the same error when several steps would fail, because exceptions of the
steps run early are kept and raised in the original order (package, messages, services,
http, datastores, registry), after the model batch's own error as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator._load import paused_gc
from generator._model import Catalog
from generator._render import RenderResult, datastores, http, messages, package, registry, services
from generator._render._artifact import Artifact
from generator._render._cache import Cache
from generator._render._datamodel import PendingModels, start_models
from generator._render._env import TEMPLATES_DIR, use_cache
from generator._render._errors import RenderError
from generator._render._format import PendingFormat, start_format
from generator._render._names import check_identifier
from generator._render._schemas import Reader
from generator._render._view import CatalogView
from generator._render._worker import Worker

__all__ = ["RenderPlan", "plan"]

_Build = Callable[[dict[str, str]], list[Artifact]]  # model code -> artifacts


@dataclass
class RenderPlan:
    """A rendering whose model batch is under way; `finish` it, or `cancel` it."""

    view: CatalogView
    package_name: str
    templates: Path
    format_code: bool
    cache: Cache | None
    message_batch: messages.Prepared
    http_batch: list[http.Prepared]
    models: PendingModels

    def finish(self) -> RenderResult:
        with paused_gc():
            try:
                return self._finish()
            finally:
                self.models.cancel()
                if self.cache is not None:
                    self.cache.flush()

    def cancel(self) -> None:
        """Stop the model batch (its worker); nothing is rendered."""
        self.models.cancel()

    def _steps(self) -> list[tuple[bool, _Build]]:
        """Every renderer in output order, and whether it needs the model code."""
        view, templates = self.view, self.templates

        def needless(build: Callable[[], list[Artifact]]) -> tuple[bool, _Build]:
            return False, lambda _code: build()

        return [
            needless(lambda: package.build(view, templates)),
            (True, lambda code: messages.build(view, self.message_batch, code, templates)),
            needless(lambda: services.build(view, templates)),
            (True, lambda code: http.build(view, self.http_batch, code, templates)),
            needless(lambda: datastores.build(view, templates)),
            needless(lambda: registry.build(view, templates)),
        ]

    def _finish(self) -> RenderResult:
        steps = self._steps()
        done: dict[int, list[Artifact] | Exception] = {}
        for number, (needs_models, build) in enumerate(steps):
            if not needs_models:
                try:
                    done[number] = build({})
                except Exception as exc:  # noqa: BLE001 - raised below, in output order
                    done[number] = exc
        early: PendingFormat | None = None
        late: PendingFormat | None = None
        try:
            ready = self._ready(done)
            if ready:  # ruff's first pass on them runs while the models are awaited
                early = start_format(ready, package=self.package_name, cache=self.cache)
            code = self.models.result()
            artifacts: list[Artifact] = []
            for number, (_, build) in enumerate(steps):
                outcome = done[number] if number in done else build(code)
                if isinstance(outcome, Exception):
                    raise outcome
                artifacts.extend(outcome)
            files: dict[str, str] = {}
            sources: dict[str, tuple[str, ...]] = {}
            for artifact in artifacts:
                if artifact.path in files:
                    raise RenderError(
                        f"two catalog resources generate the same file {artifact.path}"
                    )
                files[artifact.path] = artifact.text
                sources[artifact.path] = artifact.sources
            if self.format_code:
                rest = {p: t for p, t in files.items() if p not in ready}
                late = start_format(rest, package=self.package_name, cache=self.cache)
                formatted = early.result() if early is not None else {}  # while `late` checks
                files = {**late.result(), **formatted}
        finally:
            for pending in (early, late):
                if pending is not None:
                    pending.cancel()
        return RenderResult(
            dict(sorted(files.items())), dict(sorted(sources.items())), tuple(self.view.warnings)
        )

    def _ready(self, done: dict[int, list[Artifact] | Exception]) -> dict[str, str]:
        """Files rendered before the models, to format meanwhile (none if a step failed)."""
        ready: dict[str, str] = {}
        if not self.format_code:
            return ready
        for outcome in done.values():
            if isinstance(outcome, Exception):
                return {}
            for artifact in outcome:
                if artifact.path in ready:
                    return {}  # the duplicate is reported in output order, later
                ready[artifact.path] = artifact.text
        return ready


def plan(
    catalog: Catalog,
    *,
    package_name: str = "generated",
    templates: Path | None = None,
    read: Reader | None = None,
    format_code: bool = True,
    cache: Cache | None = None,
    worker: Worker | bool = False,
) -> RenderPlan:
    """Prepare `catalog`'s schemas and start its model batch (see `RenderPlan`).

    A `Worker` passed in belongs to the plan from then on (it is closed when done).
    """
    templates = TEMPLATES_DIR if templates is None else templates
    try:
        with paused_gc():
            check_identifier(package_name, what="output package name")
            use_cache(cache or Cache.off(), templates)
            view = CatalogView(catalog, package=package_name, cache=cache)
            message_batch = messages.prepare(view, read)
            http_batch = http.prepare(view, read)
            schemas = dict(message_batch.schemas)
            names = dict(message_batch.names)
            for item in http_batch:
                if item.models is not None:
                    schemas[http.models_key(item)] = item.models
                    names[http.models_key(item)] = ""  # component schemas keep their own names
            # One call of datamodel-code-generator for every schema of the catalog.
            models = start_models(schemas, names, cache=cache, worker=worker)
    except BaseException:
        if isinstance(worker, Worker):
            worker.close()
        if cache is not None:
            cache.flush()
        raise
    return RenderPlan(
        view, package_name, templates, format_code, cache, message_batch, http_batch, models
    )
