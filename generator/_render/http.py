"""http/<service>.py: a FastAPI router built from the service's OpenAPI document.

Every operation becomes an `OperationSpec` constant, a method of the service's HTTP handler
Protocol (named after the snake_case operationId) and a route that authorises the caller and
calls that method. Request and response bodies that `$ref` a message schema use the message's
model (``#/properties/request`` -> ``<Name>Request``); other schemas become models in
``http/<service>_models.py``, generated in the same datamodel-code-generator batch as messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from generator._model import Catalog, Message, Service, Specification
from generator._render._artifact import Artifact, as_texts
from generator._render._datamodel import MARKER, Module, generate_models, split_module
from generator._render._env import TEMPLATES_DIR, one_line, py_literal, render_template, sentence
from generator._render._errors import RenderError
from generator._render._names import check_identifier, class_name, constant_name, method_name
from generator._render._schemas import Reader, _bundle, copy_json, pascal, read_from
from generator._render._view import CatalogView

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
MODELS_ROOT = "GeneratorHttpModelsRoot"  # wrapper that keeps def names; dropped afterwards
_RESERVED = frozenset({"body", "request", "handlers", "authorizer", "router", "self"})


def openapi_spec(service: Service) -> Specification | None:
    for spec in service.specifications:
        if spec.type == "openapi" and isinstance(spec.document, dict):
            return spec
    return None


def has_http_module(view: CatalogView, service: Service) -> bool:
    spec = openapi_spec(service)
    return spec is not None and bool(_operations_in(spec))


def _operations_in(spec: Specification) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    document = spec.document or {}
    paths = document.get("paths")
    out: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    if not isinstance(paths, dict):
        return out
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                out.append((str(path), method, operation, item))
    return out


@dataclass
class Param:
    name: str  # python name
    wire: str  # name in the URL
    location: str  # path | query
    type: str  # annotation for the handler Protocol
    fastapi: str  # FastAPI marker call, e.g. Path(pattern=UUID_PATTERN)
    default: str | None  # python literal, None = required


@dataclass
class Operation:
    constant: str
    operation_id: str
    method: str
    path: str
    summary: str
    handler: str
    params: list[Param]
    body: str | None
    body_optional: bool
    returns: str | None
    status_code: int
    responses: list[tuple[int, str]]
    security: tuple[str, ...]
    roles: tuple[str, ...]
    message_id: str | None
    status_codes: tuple[int, ...]


@dataclass
class _Context:
    """State of rendering one OpenAPI document."""

    view: CatalogView
    service: Service
    spec: Specification
    document: dict[str, Any]
    module: str
    models: dict[str, Any] = field(default_factory=dict)  # $defs of the _models module
    message_classes: dict[str, dict[str, str]] = field(default_factory=dict)  # module -> {cls}
    used_models: set[str] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)  # source paths of messages used

    @property
    def where(self) -> str:
        return self.spec.path


def _resolve_local(ctx: _Context, node: Any) -> Any:
    """Follow ``#/components/...`` references inside the document."""
    seen: set[str] = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            return node
        seen.add(ref)
        target: Any = ctx.document
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or token not in target:
                raise RenderError(f"{ctx.where}: $ref {ref} does not resolve")
            target = target[token]
        node = target
    return node


def _message_for_file(ctx: _Context, file_ref: str) -> Message | None:
    folder = PurePosixPath(ctx.spec.path).parent
    parts: list[str] = []
    for part in (folder / file_ref).parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    target = "/".join(parts)
    found = ctx.view.messages_with_schema(target)
    if not found:
        return None
    latest = [m for m in found if ctx.view.is_latest(m)]
    return (latest or found)[0]


def _pointer(document: Any, fragment: str) -> Any:
    node = document
    for token in [t for t in fragment.split("/") if t]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _message_class(ctx: _Context, message: Message, name: str) -> str:
    module = ctx.view.message_module(message)
    ctx.message_classes.setdefault(module, {})[name] = name
    ctx.messages.add(ctx.view.source_path(message.source.path))
    return name


def _model_name(ctx: _Context, wanted: str) -> str:
    """A class name for an inline schema, clear of component schemas and earlier ones."""
    components = ctx.document.get("components")
    schemas = components.get("schemas") if isinstance(components, dict) else None
    taken = set(ctx.models) | {pascal(str(n)) for n in (schemas or {})}
    name = wanted
    n = 2
    while name in taken:
        name = f"{wanted}{n}"
        n += 1
    return name


def _add_model(ctx: _Context, name: str, schema: dict[str, Any]) -> str:
    ctx.models[name] = copy_json(schema)
    ctx.used_models.add(name)
    return name


def _component_class(ctx: _Context, name: str) -> str:
    return check_identifier(pascal(name), what=f"component schema name ({ctx.where})")


def _type_of(ctx: _Context, schema: Any, name_hint: str) -> str:
    """Python type for a body schema: a message model, a components model or a new model."""
    if not isinstance(schema, dict):
        raise RenderError(f"{ctx.where}: {name_hint} schema is not an object")
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref.startswith("#/components/schemas/"):
            name = _component_class(ctx, ref.rsplit("/", 1)[-1])
            ctx.used_models.add(name)
            return name
        if ref.startswith("#"):
            return _type_of(ctx, _resolve_local(ctx, schema), name_hint)
        file_ref, _, fragment = ref.partition("#")
        message = _message_for_file(ctx, file_ref)
        if message is not None:
            if message.schema is not None and message.is_exchange:
                if fragment.rstrip("/") == "/properties/request":
                    return _message_class(ctx, message, ctx.view.payload_class(message))
                if fragment.rstrip("/") == "/properties/response":
                    reply = ctx.view.reply_class(message)
                    assert reply is not None
                    return _message_class(ctx, message, reply)
            elif message.schema is not None and fragment.strip("/") == "":
                return _message_class(ctx, message, ctx.view.message_class(message))
            if message.schema is not None:
                target = _pointer(message.schema, fragment)
                if isinstance(target, dict):
                    return _add_model(ctx, _model_name(ctx, name_hint), target)
        raise RenderError(f"{ctx.where}: $ref {ref!r} ({name_hint}) is not a message schema")
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return f"list[{_type_of(ctx, schema['items'], name_hint + 'Item')}]"
    scalar = _scalar(schema)
    if scalar is not None and schema.get("type") != "object":
        return scalar
    return _add_model(ctx, _model_name(ctx, name_hint), schema)


def _scalar(schema: dict[str, Any]) -> str | None:
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str | int) for v in enum):
        return "Literal[" + ", ".join(py_literal(v) for v in enum) + "]"
    return {
        "string": "str",
        "integer": "int",
        "number": "float",
        "boolean": "bool",
    }.get(str(schema.get("type")))


def _param(ctx: _Context, raw: dict[str, Any], taken: set[str]) -> Param | None:
    location = raw.get("in")
    wire = raw.get("name")
    if location not in ("path", "query") or not isinstance(wire, str):
        return None  # headers and cookies belong to the runtime's authorizer
    schema = _resolve_local(ctx, raw.get("schema") or {})
    if not isinstance(schema, dict):
        schema = {}
    base = _scalar(schema) or "str"
    items = schema.get("items")
    if location == "query" and schema.get("type") == "array" and isinstance(items, dict):
        base = f"list[{_scalar(items) or 'str'}]"  # ?tag=a&tag=b
    name = method_name(wire, what=f"parameter ({ctx.where})")
    if name in _RESERVED or name in taken:
        name = check_identifier(f"{name}_{location}", what=f"parameter ({ctx.where})")
    taken.add(name)
    marker = "Path" if location == "path" else "Query"
    args: list[str] = []
    if name != wire:
        args.append(f"alias={py_literal(wire)}")
    if schema.get("format") == "uuid":
        args.append("pattern=UUID_PATTERN")
    elif isinstance(schema.get("pattern"), str) and base == "str":  # not on lists
        args.append(f"pattern={py_literal(schema['pattern'])}")
    for key, arg in (
        ("minimum", "ge"),
        ("maximum", "le"),
        ("minLength", "min_length"),
        ("maxLength", "max_length"),
    ):
        value = schema.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            args.append(f"{arg}={py_literal(value)}")
    description = raw.get("description")
    if isinstance(description, str) and description.strip():
        args.append(f"description={py_literal(one_line(description))}")
    required = location == "path" or bool(raw.get("required"))
    default: str | None = None
    annotation = base
    if not required:
        if "default" in schema:
            default = py_literal(schema["default"])
        else:
            annotation = f"{base} | None"
            default = "None"
    return Param(name, wire, location, annotation, f"{marker}({', '.join(args)})", default)


def _json_schema(ctx: _Context, content: Any) -> Any:
    if not isinstance(content, dict):
        return None
    for media, entry in content.items():
        kind = str(media).split(";")[0].strip()
        is_json = kind == "application/json" or kind.endswith("+json")
        if is_json and isinstance(entry, dict) and "schema" in entry:
            return entry["schema"]
    return None


def _operation(
    ctx: _Context, path: str, method: str, raw: dict[str, Any], item: dict[str, Any]
) -> Operation:
    operation_id = raw.get("operationId")
    if not isinstance(operation_id, str) or not operation_id:
        operation_id = method + "".join(pascal(p) for p in path.split("/") if p)
        ctx.view.warn(
            ctx.where, f"{method.upper()} {path} has no operationId; using {operation_id}"
        )
    handler = method_name(operation_id, what=f"operationId ({ctx.where})")
    hint = class_name(handler)
    taken: set[str] = set()
    params: list[Param] = []
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for source in (item.get("parameters"), raw.get("parameters")):
        for entry in source if isinstance(source, list) else []:
            resolved = _resolve_local(ctx, entry)
            if isinstance(resolved, dict):
                merged[(str(resolved.get("in")), str(resolved.get("name")))] = resolved
    for resolved in merged.values():
        param = _param(ctx, resolved, taken)
        if param is not None:
            params.append(param)
    params.sort(key=lambda p: (p.location != "path", p.default is not None))

    body: str | None = None
    body_optional = False
    request_body = _resolve_local(ctx, raw.get("requestBody"))
    if isinstance(request_body, dict):
        schema = _json_schema(ctx, request_body.get("content"))
        if schema is not None:
            body = _type_of(ctx, schema, f"{hint}Body")
            body_optional = request_body.get("required") is False
        else:
            ctx.view.warn(ctx.where, f"{operation_id}: request body is not JSON; not bound")

    responses = raw.get("responses") if isinstance(raw.get("responses"), dict) else {}
    codes: list[tuple[int, dict[str, Any]]] = []
    for code, response in (responses or {}).items():
        if str(code).isdigit():
            resolved = _resolve_local(ctx, response)
            codes.append((int(code), resolved if isinstance(resolved, dict) else {}))
    codes.sort(key=lambda pair: pair[0])
    success = [c for c in codes if 200 <= c[0] < 300]
    status_code = success[0][0] if success else (201 if method == "post" else 200)
    returns: str | None = None
    if success and status_code != 204:
        schema = _json_schema(ctx, success[0][1].get("content"))
        if schema is not None:
            returns = _type_of(ctx, schema, f"{hint}Response")

    security_source = raw.get("security", ctx.document.get("security", []))
    security: list[str] = []
    for requirement in security_source if isinstance(security_source, list) else []:
        if isinstance(requirement, dict):
            security.extend(str(k) for k in requirement if str(k) not in security)
    roles_raw = raw.get("x-roles", [])
    roles = tuple(str(r) for r in roles_raw) if isinstance(roles_raw, list) else ()
    summary = raw.get("summary") or raw.get("description") or ""
    return Operation(
        constant=constant_name(handler),
        operation_id=operation_id,
        method=method.upper(),
        path=path,
        summary=one_line(str(summary)),
        handler=handler,
        params=params,
        body=body,
        body_optional=body_optional,
        returns=returns,
        status_code=status_code,
        responses=[
            (code, one_line(str(r.get("description") or "")) or str(code))
            for code, r in codes
            if code != status_code
        ],
        security=tuple(security),
        roles=roles,
        message_id=_message_id(ctx, method, path, raw),
        status_codes=tuple(code for code, _ in codes),
    )


def _message_id(ctx: _Context, method: str, path: str, raw: dict[str, Any]) -> str | None:
    """The catalog message this operation carries: by the message's `operation`, else by $ref."""
    message = ctx.view.message_for_operation(method, path)
    if message is not None:
        return message.id
    for candidate in _file_refs(raw):
        referenced = _message_for_file(ctx, candidate)
        if referenced is not None:
            return referenced.id
    return None


def _file_refs(node: Any) -> list[str]:
    """File references in an operation, request body first."""
    out: list[str] = []
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            out.append(ref.partition("#")[0])
        for key in sorted(node, key=lambda k: k != "requestBody"):
            out.extend(_file_refs(node[key]))
    elif isinstance(node, list):
        for value in node:
            out.extend(_file_refs(value))
    return out


def _context(view: CatalogView, service: Service) -> _Context | None:
    spec = openapi_spec(service)
    if spec is None or not _operations_in(spec):
        for other in service.specifications:
            if other.type == "openapi" and other.document is None:
                view.warn(other.path, "OpenAPI document is missing or unreadable; no http module")
        return None
    assert spec.document is not None
    module = method_name(service.id, what=f"service id ({service.source})")
    return _Context(view, service, spec, spec.document, module)


def _operations(ctx: _Context) -> list[Operation]:
    operations = [_operation(ctx, p, m, raw, item) for p, m, raw, item in _operations_in(ctx.spec)]
    seen: dict[str, str] = {}
    for op in operations:
        if op.handler in seen:
            raise RenderError(
                f"{ctx.where}: operations {seen[op.handler]} and {op.operation_id} both map to "
                f"the handler {op.handler}()"
            )
        seen[op.handler] = op.operation_id
    return operations


def models_schema(ctx: _Context, read: Reader) -> dict[str, Any] | None:
    """One schema whose $defs are every model the http module needs (None when none)."""
    components = ctx.document.get("components", {})
    schemas = components.get("schemas", {}) if isinstance(components, dict) else {}
    defs: dict[str, Any] = {}
    if isinstance(schemas, dict):
        for name, component in schemas.items():
            defs[_component_class(ctx, str(name))] = copy_json(component)
    defs.update(ctx.models)
    if not ctx.used_models:
        return None

    def rewrite(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                node["$ref"] = "#/$defs/" + pascal(ref.rsplit("/", 1)[-1])
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    rewrite(defs)
    root: dict[str, Any] = {
        "title": MARKER + MODELS_ROOT,
        "type": "object",
        "properties": {name: {"$ref": f"#/$defs/{name}"} for name in sorted(ctx.used_models)},
        "$defs": defs,
    }
    _bundle(root, ctx.spec.path, read)
    # Class names get the batch prefix (see `generate_models`), removed again afterwards.
    root["$defs"] = {MARKER + name: schema for name, schema in root["$defs"].items()}
    root["properties"] = {n: {"$ref": f"#/$defs/{MARKER}{n}"} for n in sorted(ctx.used_models)}
    _prefix_refs(root)
    return root


def _prefix_refs(node: Any) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if (
            isinstance(ref, str)
            and ref.startswith("#/$defs/")
            and not ref.startswith(f"#/$defs/{MARKER}")
        ):
            node["$ref"] = f"#/$defs/{MARKER}" + ref[len("#/$defs/") :]
        for value in node.values():
            _prefix_refs(value)
    elif isinstance(node, list):
        for value in node:
            _prefix_refs(value)


@dataclass
class Prepared:
    """An http module between analysis and rendering (its models not yet generated)."""

    ctx: _Context
    operations: list[Operation]
    models: dict[str, Any] | None


def prepare(view: CatalogView, read: Reader | None = None) -> list[Prepared]:
    reader = read or read_from(view.catalog.root, getattr(view.catalog, "files", None))
    out: list[Prepared] = []
    for service in view.services:
        ctx = _context(view, service)
        if ctx is None:
            continue
        operations = _operations(ctx)
        out.append(Prepared(ctx, operations, models_schema(ctx, reader)))
    return out


def models_key(prepared: Prepared) -> str:
    return f"http/{prepared.ctx.module}_models"


def build(
    view: CatalogView,
    prepared: list[Prepared],
    modules: dict[str, str],
    templates: Path = TEMPLATES_DIR,
) -> list[Artifact]:
    artifacts: list[Artifact] = []
    for item in prepared:
        ctx = item.ctx
        source = view.source_path(ctx.spec.path)
        sources = {source, view.source_path(ctx.service.source.path), *ctx.messages}
        models_module: Module | None = None
        if item.models is not None:
            code = modules.get(models_key(item))
            if code is None:
                raise RenderError(f"{ctx.where}: no models were generated for the http module")
            models_module = split_module(code, drop_class=MODELS_ROOT, where=models_key(item))
            artifacts.append(
                Artifact(
                    f"{models_key(item)}.py",
                    render_template(
                        "http_models.py.j2",
                        templates,
                        source=source,
                        doc=f"Models of the {ctx.service.name} HTTP API that are not catalog "
                        "messages.",
                        module=models_module,
                    ),
                    tuple(sorted(sources)),
                )
            )
        info = ctx.document.get("info") if isinstance(ctx.document.get("info"), dict) else {}
        description = (info or {}).get("description") or ctx.service.summary or ""
        uses_literal = any("Literal[" in p.type for op in item.operations for p in op.params)
        text = render_template(
            "http.py.j2",
            templates,
            source=source,
            doc=f"HTTP API of {ctx.service.name}: {sentence(str(description))}",
            package=view.package,
            service=ctx.service,
            base=class_name(ctx.service.id),
            operations=item.operations,
            message_imports=sorted(
                (module, sorted(classes)) for module, classes in ctx.message_classes.items()
            ),
            models_module=f"{ctx.module}_models" if models_module else None,
            models=sorted(ctx.used_models) if models_module else [],
            uses_uuid=any("UUID_PATTERN" in p.fastapi for op in item.operations for p in op.params),
            uses_path=any(p.location == "path" for op in item.operations for p in op.params),
            uses_query=any(p.location == "query" for op in item.operations for p in op.params),
            uses_body=any(op.body for op in item.operations),
            uses_literal=uses_literal,
            uuid_pattern=UUID_PATTERN,
        )
        artifacts.append(Artifact(f"http/{ctx.module}.py", text, tuple(sorted(sources))))
    artifacts.append(
        Artifact(
            "http/__init__.py",
            render_template(
                "package_init.py.j2",
                templates,
                source=view.source_path(""),
                doc="One FastAPI router per catalog service that has an OpenAPI document.",
            ),
            (),
        )
    )
    return artifacts


def render(catalog: Catalog) -> dict[str, str]:
    """http/ files of `catalog`, unformatted (see `generator._render.render_catalog`)."""
    view = CatalogView(catalog)
    prepared = prepare(view)
    schemas = {models_key(p): p.models for p in prepared if p.models is not None}
    return as_texts(build(view, prepared, generate_models(schemas, dict.fromkeys(schemas, ""))))
