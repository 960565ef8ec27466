"""messages/: one pydantic v2 module per message version, plus the index of latest models.

Models come from datamodel-code-generator (one in-process call for every schema); this module
names them after the message, drops the wrapper of request/response exchanges, and appends the
`MESSAGE` spec the runtime routes by.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator._model import Catalog, Message
from generator._render._artifact import Artifact, as_texts
from generator._render._datamodel import MARKER, Module, generate_models, split_module
from generator._render._env import TEMPLATES_DIR, render_template, sentence
from generator._render._schemas import Reader, has_file_refs, read_from
from generator._render._schemas import prepare as prepare_schema
from generator._render._view import CatalogView

_NOT_JSON_SCHEMA = (".avsc", ".avro", ".proto", ".graphql", ".gql", ".xsd")
_NOT_JSON_FORMATS = frozenset({"avro", "protobuf", "graphql", "xml", "xsd"})


def _module_key(view: CatalogView, message: Message) -> str:
    """Batch key of a message module: its path without ``.py`` (``messages/order_created``)."""
    return view.message_file(message).removesuffix(".py")


def _has_json_schema(view: CatalogView, message: Message) -> bool:
    """True when the message has a usable JSON Schema; otherwise warn why not."""
    fallback = "the model accepts any payload"
    schema_format = getattr(message, "schema_format", None) or ""
    path = message.schema_path or ""
    # YAML JSON Schemas are fine; Avro, Protobuf and friends are not JSON Schema.
    if path.endswith(_NOT_JSON_SCHEMA) or schema_format in _NOT_JSON_FORMATS:
        view.warn(message.source.path, f"schema {path} is not JSON Schema; {fallback}")
        return False
    if message.schema is None:
        problem = f"schema {path} is missing or unreadable" if path else "no schema"
        view.warn(message.source.path, f"{problem}; {fallback}")
        return False
    if not isinstance(message.schema, dict) or not message.schema:
        view.warn(message.source.path, f"schema {path} is empty; {fallback}")
        return False
    return True


@dataclass
class Prepared:
    """Message schemas ready for the datamodel-code-generator batch."""

    schemas: dict[str, dict[str, Any]]  # batch key -> schema prepared under MARKER
    names: dict[str, str]  # batch key -> class name that replaces MARKER
    exchanges: dict[str, str]  # batch key -> wrapper class to drop


def prepare(view: CatalogView, read: Reader | None = None) -> Prepared:
    reader = read or read_from(view.catalog.root, getattr(view.catalog, "files", None))
    prepared = Prepared({}, {}, {})
    # Versions and copies of a message often share a schema's content: it is prepared once.
    # Keyed by `repr`, which tells the parsed types apart (1, "1", 1.0 and True differ); only
    # schemas without references to other files, whose preparation needs nothing but content.
    same: dict[str, dict[str, Any]] = {}
    for message in view.messages:
        if not _has_json_schema(view, message):
            continue
        assert message.schema is not None
        key = _module_key(view, message)
        cls = view.message_class(message)
        where = message.schema_path or message.source.path
        content = repr(message.schema)
        schema = same.get(content)
        if schema is None:
            schema = prepare_schema(message.schema, MARKER, where, reader)
            if not has_file_refs(message.schema):
                same[content] = schema
        prepared.schemas[key] = schema
        prepared.names[key] = cls
        if message.is_exchange:
            prepared.exchanges[key] = cls
    return prepared


def _doc(message: Message) -> str:
    summary = message.summary or f"the {message.kind} {message.name}"
    return f"{message.name} {message.version} ({message.kind}): {sentence(summary)}"


def build(
    view: CatalogView,
    prepared: Prepared,
    code: dict[str, str],
    templates: Path = TEMPLATES_DIR,
) -> list[Artifact]:
    modules = {
        key: split_module(code[key], drop_class=prepared.exchanges.get(key), where=key)
        for key in prepared.schemas
    }
    artifacts: list[Artifact] = []
    latest: list[Message] = []
    has_versions = False
    for message in view.messages:
        key = _module_key(view, message)
        module = modules.get(key)
        model = view.payload_class(message) if module else view.message_class(message)
        reply = view.reply_class(message) if module else None
        if module is not None:
            missing = {model, reply} - set(module.classes) - {None}
            if missing:
                view.warn(
                    message.schema_path or message.source.path,
                    f"generated code lacks class {', '.join(sorted(str(m) for m in missing))}",
                )
        sources = view.message_sources(message)
        text = render_template(
            "message.py.j2",
            templates,
            source=sources[0],
            doc=_doc(message),
            message=message,
            module=module,
            model=model,
            reply=reply,
            source_literal=sources[0],
        )
        artifacts.append(Artifact(view.message_file(message), text, tuple(sources)))
        if view.is_latest(message):
            latest.append(message)
        else:
            has_versions = True
    artifacts.append(_index(view, latest, modules, templates))
    if has_versions:
        artifacts.append(
            Artifact(
                "messages/versions/__init__.py",
                render_template(
                    "package_init.py.j2",
                    templates,
                    source=view.source_path(""),
                    doc="Older message versions the catalog keeps under versioned/ folders.",
                ),
                (),
            )
        )
    return artifacts


def _index(
    view: CatalogView, latest: list[Message], modules: dict[str, Module], templates: Path
) -> Artifact:
    entries = []
    for message in latest:
        has_model = _module_key(view, message) in modules
        names = [view.payload_class(message)] if has_model else [view.message_class(message)]
        reply = view.reply_class(message) if has_model else None
        if reply:
            names.append(reply)
        entries.append({"module": view.message_module(message).split(".")[-1], "names": names})
    text = render_template(
        "messages_index.py.j2",
        templates,
        source=view.source_path(""),
        entries=entries,
    )
    sources = tuple(sorted({s for m in latest for s in view.message_sources(m)[:1]}))
    return Artifact("messages/__init__.py", text, sources)


def render(catalog: Catalog) -> dict[str, str]:
    """messages/ files of `catalog`, unformatted (see `generator._render.render_catalog`)."""
    view = CatalogView(catalog)
    prepared = prepare(view)
    code = generate_models(prepared.schemas, names=prepared.names)
    return as_texts(build(view, prepared, code))
