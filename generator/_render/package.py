"""__init__.py of the generated package: a docstring naming the catalog it came from."""

from __future__ import annotations

from pathlib import Path

from generator._model import Catalog
from generator._render._artifact import Artifact, as_texts
from generator._render._env import GENERATOR_COMMAND, TEMPLATES_DIR, render_template
from generator._render._view import CatalogView


def build(view: CatalogView, templates: Path = TEMPLATES_DIR) -> list[Artifact]:
    config = view.catalog.config if isinstance(view.catalog.config, dict) else {}
    title = str(config.get("title") or view.root_name)
    text = render_template(
        "package_init.py.j2",
        templates,
        source=view.source_path(""),
        doc=f"Code generated from the {title} catalog by `{GENERATOR_COMMAND} generate`: "
        "typed messages, service contracts, HTTP routers, data store tables and a registry. "
        "Never edit it by hand; change the catalog and regenerate.",
    )
    return [Artifact("__init__.py", text, ())]


def render(catalog: Catalog) -> dict[str, str]:
    return as_texts(build(CatalogView(catalog)))
