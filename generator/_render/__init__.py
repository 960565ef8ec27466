"""Catalog model -> the text of every file of the generated package.

One renderer per artifact kind (messages, services, http, datastores, registry, package), each
with its Jinja2 template in ``templates/``. `render_catalog` runs them all, generates every payload
model in a single datamodel-code-generator call, formats every Python file in a single ruff pass,
and returns ``{relative path: text}`` with the catalog sources of each file. It writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from generator._load import paused_gc
from generator._model import Catalog
from generator._render import datastores, http, messages, package, registry, services
from generator._render._artifact import Artifact
from generator._render._cache import Cache
from generator._render._datamodel import generate_models
from generator._render._env import TEMPLATES_DIR, use_cache
from generator._render._errors import RenderError, RenderWarning
from generator._render._format import format_python
from generator._render._names import check_identifier
from generator._render._schemas import Reader
from generator._render._view import CatalogView

__all__ = ["RenderError", "RenderResult", "RenderWarning", "render_catalog"]


@dataclass(frozen=True)
class RenderResult:
    files: dict[str, str]  # relative path -> text (manifest.json not included)
    sources: dict[str, tuple[str, ...]]  # relative path -> catalog files it came from
    warnings: tuple[RenderWarning, ...]


def render_catalog(
    catalog: Catalog,
    *,
    package_name: str = "generated",
    templates: Path = TEMPLATES_DIR,
    read: Reader | None = None,
    format_code: bool = True,
    cache: Cache | None = None,
) -> RenderResult:
    """Render every generated file of `catalog`; `package_name` is the import name of the output.

    `cache` (off by default) keeps generated models and formatted files between runs; the
    result is byte for byte the same with or without it.
    """
    with paused_gc():
        try:
            return _render(catalog, package_name, templates, read, format_code, cache)
        finally:
            if cache is not None:
                cache.flush()


def _render(
    catalog: Catalog,
    package_name: str,
    templates: Path,
    read: Reader | None,
    format_code: bool,
    cache: Cache | None,
) -> RenderResult:
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
    # One in-process call for every schema of the catalog.
    code = generate_models(schemas, names, cache=cache)
    artifacts: list[Artifact] = [
        *package.build(view, templates),
        *messages.build(view, message_batch, code, templates),
        *services.build(view, templates),
        *http.build(view, http_batch, code, templates),
        *datastores.build(view, templates),
        *registry.build(view, templates),
    ]
    files: dict[str, str] = {}
    sources: dict[str, tuple[str, ...]] = {}
    for artifact in artifacts:
        if artifact.path in files:
            raise RenderError(f"two catalog resources generate the same file {artifact.path}")
        files[artifact.path] = artifact.text
        sources[artifact.path] = artifact.sources
    if format_code:
        files = format_python(files, package=package_name, cache=cache)
    return RenderResult(
        dict(sorted(files.items())), dict(sorted(sources.items())), tuple(view.warnings)
    )
