"""Catalog model -> the text of every file of the generated package.

One renderer per artifact kind (messages, services, http, datastores, registry, package), each
with its Jinja2 template in ``templates/``. `render_catalog` runs them all, generates every payload
model in a single datamodel-code-generator call, formats every Python file in a single ruff pass,
and returns ``{relative path: text}`` with the catalog sources of each file. It writes nothing.

`plan_render` and `RenderPlan.finish` are the same work in two steps (see `_pipeline`), so the
model batch can run in a worker process while the caller does something else (lint).
This module imports the renderers only when called: a worker can be forked from a process that
has not paid for them yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from generator._render._errors import RenderError, RenderWarning

if TYPE_CHECKING:
    from generator._model import Catalog
    from generator._render._cache import Cache
    from generator._render._pipeline import RenderPlan
    from generator._render._schemas import Reader
    from generator._render._worker import Worker

__all__ = ["RenderError", "RenderResult", "RenderWarning", "plan_render", "render_catalog"]


@dataclass(frozen=True)
class RenderResult:
    files: dict[str, str]  # relative path -> text (manifest.json not included)
    sources: dict[str, tuple[str, ...]]  # relative path -> catalog files it came from
    warnings: tuple[RenderWarning, ...]


def render_catalog(
    catalog: Catalog,
    *,
    package_name: str = "generated",
    templates: Path | None = None,
    read: Reader | None = None,
    format_code: bool = True,
    cache: Cache | None = None,
    worker: Worker | bool = False,
) -> RenderResult:
    """Render every generated file of `catalog`; `package_name` is the import name of the output.

    `cache` (off by default) keeps generated models and formatted files between runs; the
    result is byte for byte the same with or without it. `worker` runs the model batch in a
    forked process (see `generator._render._datamodel.start_models`); same result again.
    """
    return plan_render(
        catalog,
        package_name=package_name,
        templates=templates,
        read=read,
        format_code=format_code,
        cache=cache,
        worker=worker,
    ).finish()


def plan_render(
    catalog: Catalog,
    *,
    package_name: str = "generated",
    templates: Path | None = None,
    read: Reader | None = None,
    format_code: bool = True,
    cache: Cache | None = None,
    worker: Worker | bool = False,
) -> RenderPlan:
    """The first step of `render_catalog`: schemas prepared, model batch started."""
    from generator._render._pipeline import plan

    return plan(
        catalog,
        package_name=package_name,
        templates=templates,
        read=read,
        format_code=format_code,
        cache=cache,
        worker=worker,
    )
