"""A message's JSON Schema flattened into one row per field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["FIELD_COLUMNS", "schema_rows"]

FIELD_COLUMNS = ("field", "type", "format", "required", "constraints", "description")

# Validation keywords shown in the constraints column, in this order.
_CONSTRAINTS = (
    "minLength",
    "maxLength",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "pattern",
    "const",
    "default",
)


def _resolve(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    seen: set[str] = set()
    while isinstance(ref := node.get("$ref"), str) and ref.startswith("#/") and ref not in seen:
        seen.add(ref)
        target: Any = root
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or token not in target:
                return node
            target = target[token]
        if not isinstance(target, Mapping):
            return node
        node = target
    return node


def _type(node: Mapping[str, Any]) -> str:
    value = node.get("type")
    if isinstance(value, list):
        text = " | ".join(str(v) for v in value)
    elif isinstance(value, str):
        text = value
    elif "$ref" in node:
        text = str(node["$ref"])
    else:
        text = "any"
    items = node.get("items")
    if text == "array" and isinstance(items, Mapping) and isinstance(items.get("type"), str):
        text = f"array of {items['type']}"
    return text


def _constraints(node: Mapping[str, Any]) -> str:
    parts = [
        f"{key} {node[key]!r}" if key == "pattern" else f"{key} {node[key]}"
        for key in _CONSTRAINTS
        if key in node
    ]
    enum = node.get("enum")
    if isinstance(enum, list):
        parts.insert(0, "one of " + ", ".join(str(v) for v in enum))
    if node.get("additionalProperties") is False:
        parts.append("closed")
    return "; ".join(parts)


def schema_rows(schema: Mapping[str, Any]) -> list[tuple[str, str, str, bool, str, str]]:
    """One row per property, nested ones named ``parent.child`` and array items ``parent[].x``."""
    return list(_walk(schema, _resolve(schema, schema), "", set()))


def _walk(
    root: Mapping[str, Any], node: Mapping[str, Any], prefix: str, visiting: set[int]
) -> Iterator[tuple[str, str, str, bool, str, str]]:
    if id(node) in visiting:  # recursive schemas: stop at the second visit
        return
    visiting = visiting | {id(node)}
    properties = node.get("properties")
    if isinstance(properties, Mapping):
        required = node.get("required")
        required_names = set(required) if isinstance(required, list) else set()
        for name, child in properties.items():
            if not isinstance(child, Mapping):
                continue
            child = _resolve(root, child)
            path = f"{prefix}.{name}" if prefix else str(name)
            description = child.get("description")
            yield (
                path,
                _type(child),
                str(child.get("format", "")),
                name in required_names,
                _constraints(child),
                description if isinstance(description, str) else "",
            )
            yield from _walk(root, child, path, visiting)
    items = node.get("items")
    if isinstance(items, Mapping):
        yield from _walk(root, _resolve(root, items), f"{prefix}[]", visiting)
