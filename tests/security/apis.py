"""The HTTP APIs of the catalog as the security tests see them: every generated router's
operations (generated.catalog's HTTP_MODULES), the host that serves each service, and the
service's OpenAPI document from the catalog with its file references inlined.

The catalog's documents point at the message schemas beside them
(`$ref: commands/create-cart/schema.json`); `bundle` inlines those so one self-contained
document can drive request building and schemathesis.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator import load_catalog
from generator.contracts import OperationSpec

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "catalog"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

__all__ = ["HttpApi", "Operation", "bundle", "http_apis", "operations"]


@dataclass(frozen=True)
class Operation:
    """One operation of one API: the generated spec plus its catalog OpenAPI object."""

    api: HttpApi
    spec: OperationSpec
    document: Mapping[str, Any]  # the operation object of the bundled OpenAPI document
    path_item: Mapping[str, Any]  # its path item (parameters shared by its operations)

    @property
    def id(self) -> str:
        return self.spec.operation_id

    @property
    def secured(self) -> bool:
        return bool(self.spec.security)

    @property
    def admin_only(self) -> bool:
        return bool(self.spec.roles)

    def parameters(self, where: str) -> list[Mapping[str, Any]]:
        """Parameters `in` path, query or header; the operation's override the path item's."""
        merged = {
            (p["in"], p["name"]): p
            for p in (*self.path_item.get("parameters", ()), *self.document.get("parameters", ()))
        }
        return [p for (kind, _), p in merged.items() if kind == where]

    def body_schema(self) -> Mapping[str, Any] | None:
        body = self.document.get("requestBody")
        if not body:
            return None
        schema: Mapping[str, Any] = body["content"]["application/json"]["schema"]
        return schema

    def __str__(self) -> str:
        return f"{self.api.service_id}.{self.id}"


@dataclass(frozen=True)
class HttpApi:
    service_id: str
    host_id: str
    module: str
    source: Path  # the catalog's openapi.yml
    document: Mapping[str, Any]  # bundled

    def operations(self) -> list[Operation]:
        specs: tuple[OperationSpec, ...] = importlib.import_module(self.module).OPERATIONS
        found = []
        for spec in specs:
            item = self.document["paths"].get(spec.path)
            if item is None or spec.method.lower() not in item:
                raise LookupError(
                    f"{self.source}: no {spec.method} {spec.path} although {self.module} "
                    "routes it (stale generated code?)"
                )
            found.append(Operation(self, spec, item[spec.method.lower()], item))
        return found


def bundle(path: Path) -> dict[str, Any]:
    """The OpenAPI document at `path` with every reference to another file inlined; local
    references (`#/components/...`) stay as they are."""
    document = _load(path)
    bundled: dict[str, Any] = _inline(document, path.parent, (path.resolve(),))
    return bundled


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _inline(node: Any, base: Path, stack: tuple[Path, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, base, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#"):
        file_part, _, pointer = ref.partition("#")
        target = (base / file_part).resolve()
        if target in stack:
            raise ValueError(f"circular file reference {ref!r} from {stack[-1]}")
        loaded = _load(target)
        if isinstance(loaded, dict):
            # The schema files carry their own $id; inlined they belong to the document.
            loaded = {k: v for k, v in loaded.items() if k not in ("$id", "$schema")}
        return _inline(_pointer(loaded, pointer, ref), target.parent, (*stack, target))
    return {key: _inline(value, base, stack) for key, value in node.items()}


def _pointer(document: Any, pointer: str, ref: str) -> Any:
    node = document
    for raw in filter(None, pointer.split("/")):
        part = raw.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise LookupError(f"$ref {ref!r}: nothing at {pointer!r}") from None
    return copy.deepcopy(node)


@functools.cache
def http_apis() -> tuple[HttpApi, ...]:
    """Every service with a generated router, in HTTP_MODULES order."""
    registry = importlib.import_module("generated.catalog")
    host_of = {sid: host for host, services in registry.HOSTS.items() for sid in services}
    catalog = load_catalog(CATALOG)
    documents = {
        service.id: CATALOG / spec.path
        for service in catalog.services
        for spec in service.specifications
        if spec.type == "openapi"
    }
    apis = []
    for service_id, module in registry.HTTP_MODULES.items():
        if service_id not in documents:
            raise LookupError(f"{service_id} has a generated router but no OpenAPI document")
        if service_id not in host_of:
            raise LookupError(f"{service_id} has a generated router but no host runs it")
        source = documents[service_id]
        apis.append(HttpApi(service_id, host_of[service_id], module, source, bundle(source)))
    return tuple(apis)


def operations() -> Iterator[Operation]:
    for api in http_apis():
        yield from api.operations()
