"""Acme's facts sheet: where to find it, and its compact field notation parsed into typed specs.

A message's ``fields`` in the facts are written ``name: type [constraints] (required)``:

- ``type`` is ``string``, ``integer``, ``number``, ``boolean`` or ``array<item>`` where ``item`` is
  itself written in the same notation (``array<string [enum=['a', 'b']]>``);
- ``[constraints]`` is a comma-separated list of ``key=value`` (``format``, ``enum`` as a Python
  list literal, ``minimum``, ``maximum``, ``minLength``, ``maxLength``, ``pattern``, ``default``);
- a nested object is a mapping ``{required: bool, type: {object: {...}}}``, an array of objects
  ``{required: bool, type: {"array of object": {...}}}``; inside a nested object the wrapper may
  be left out (``filters: {object: {...}}``), which means "not required".

`parse_fields` turns that into `FieldSpec` trees; every error names the field it is about.
"""

from __future__ import annotations

import ast
import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]

#: Keys of the ``[...]`` block, each the JSON Schema keyword of the same name.
CONSTRAINT_KEYS = ("format", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern")
_KNOWN_KEYS = (*CONSTRAINT_KEYS, "default")
_SCALARS = ("string", "integer", "number", "boolean")
_NESTED_KINDS = {"object": "object", "array of object": "array"}

_FIELD = re.compile(
    r"^(?P<type>array<.*>|[a-z]+)"  # greedy: the item of array<...> may hold brackets
    r"(?:\s+\[(?P<constraints>.*)\])?"  # greedy: patterns hold brackets too
    r"(?:\s+\((?P<required>required)\))?$"
)
# A new key starts after a comma only when a known key and `=` follow, so commas inside an enum
# list or a pattern (`{2,3}`) never split.
_SPLIT = re.compile(r",\s*(?=(?:" + "|".join(_KNOWN_KEYS) + r")=)")


class FactsNotationError(ValueError):
    """A field of the facts cannot be read; the message names the field and the problem."""


@dataclass(frozen=True)
class FieldSpec:
    """One payload field as the facts describe it.

    ``type`` is a JSON Schema type. ``constraints`` maps JSON Schema keywords (`CONSTRAINT_KEYS`)
    to their values. ``properties`` holds the fields of an object, or of the objects in an array;
    ``items`` the element of an ``array<...>`` of scalars.
    """

    name: str
    type: str
    required: bool = False
    constraints: Mapping[str, Any] = field(default_factory=dict)
    default: Any = None
    has_default: bool = False
    properties: tuple[FieldSpec, ...] = ()
    items: FieldSpec | None = None

    def child(self, name: str) -> FieldSpec | None:
        return next((p for p in self.properties if p.name == name), None)

    def with_constraint(self, key: str, value: Any) -> FieldSpec:
        return replace(self, constraints={**self.constraints, key: value})


def facts_path() -> Path | None:
    """The facts file: ``$ACME_FACTS`` when set, else ``<repo>/../shared/acme/facts.yaml``."""
    configured = os.environ.get("ACME_FACTS")
    path = Path(configured) if configured else REPO.parent / "shared" / "acme" / "facts.yaml"
    return path if path.is_file() else None


@functools.cache
def load_facts() -> dict[str, Any] | None:
    """The parsed facts, read once per session; None when the file is not there.

    Raises:
        FactsNotationError: the file is there but is not a YAML mapping.
    """
    path = facts_path()
    if path is None:
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is 5x faster
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as exc:
        raise FactsNotationError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FactsNotationError(f"{path.name}: not a mapping of sections")
    return data


def _number(text: str, where: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise FactsNotationError(f"{where}: {text!r} is not a number") from None


def _default(text: str, type_: str, where: str) -> Any:
    if type_ in ("integer", "number"):
        return _number(text, where)
    if type_ == "boolean":
        if text not in ("true", "false"):
            raise FactsNotationError(f"{where}: default {text!r} is not a boolean")
        return text == "true"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _constraints(text: str, type_: str, where: str) -> tuple[dict[str, Any], Any, bool]:
    constraints: dict[str, Any] = {}
    default: Any = None
    has_default = False
    for part in _SPLIT.split(text.strip()):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in _KNOWN_KEYS:
            raise FactsNotationError(f"{where}: unknown constraint {part!r}")
        if key in constraints or (key == "default" and has_default):
            raise FactsNotationError(f"{where}: constraint {key!r} given twice")
        if key == "enum":
            try:
                values = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                raise FactsNotationError(f"{where}: enum {value!r} is not a list") from None
            if not isinstance(values, list) or not values:
                raise FactsNotationError(f"{where}: enum {value!r} is not a non-empty list")
            constraints[key] = values
        elif key in ("minimum", "maximum"):
            constraints[key] = _number(value, where)
        elif key in ("minLength", "maxLength"):
            length = _number(value, where)
            if not isinstance(length, int) or length < 0:
                raise FactsNotationError(f"{where}: {key} {value!r} is not a length")
            constraints[key] = length
        elif key == "default":
            default, has_default = _default(value, type_, where), True
        else:
            if not value:
                raise FactsNotationError(f"{where}: {key} is empty")
            constraints[key] = value
    return constraints, default, has_default


def parse_field(name: str, raw: Any, where: str, *, required: bool | None = None) -> FieldSpec:
    """One field: a notation string, or a nested-object mapping (see the module docstring)."""
    here = f"{where}.{name}" if where else name
    if isinstance(raw, str):
        match = _FIELD.match(raw.strip())
        if match is None:
            raise FactsNotationError(f"{here}: cannot read {raw!r}")
        type_ = match["type"]
        items = None
        if type_.startswith("array<"):
            items = parse_field("[]", type_[len("array<") : -1], here, required=False)
            type_ = "array"
        elif type_ not in _SCALARS:
            raise FactsNotationError(f"{here}: unknown type {type_!r}")
        constraints, default, has_default = (
            _constraints(match["constraints"], type_, here)
            if match["constraints"] is not None
            else ({}, None, False)
        )
        if required is None:
            required = match["required"] is not None
        elif match["required"] is not None:
            raise FactsNotationError(f"{here}: an array item cannot be (required)")
        return FieldSpec(name, type_, required, constraints, default, has_default, (), items)
    if isinstance(raw, Mapping):
        if "type" in raw:  # {required, type: {kind: body}}
            extra = set(raw) - {"type", "required"}
            if extra:
                raise FactsNotationError(f"{here}: unexpected keys {sorted(extra)}")
            if not isinstance(raw.get("required", False), bool):
                raise FactsNotationError(f"{here}: `required` is not true or false")
            body = raw["type"]
            is_required = bool(raw.get("required", False))
        else:  # {kind: body} inside an object: not required
            body, is_required = raw, False
        if not isinstance(body, Mapping) or len(body) != 1:
            raise FactsNotationError(f"{here}: expected one of {sorted(_NESTED_KINDS)}")
        ((kind, fields),) = body.items()
        if kind not in _NESTED_KINDS:
            raise FactsNotationError(f"{here}: unknown nested kind {kind!r}")
        return FieldSpec(
            name,
            _NESTED_KINDS[kind],
            is_required,
            properties=parse_fields(fields, here),
        )
    raise FactsNotationError(f"{here}: expected a string or a mapping, got {type(raw).__name__}")


def parse_fields(raw: Any, where: str) -> tuple[FieldSpec, ...]:
    """A ``fields`` mapping (message payload, nested object) as specs, in the facts' order."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise FactsNotationError(f"{where}: fields are not a mapping")
    return tuple(parse_field(str(name), value, where) for name, value in raw.items())


# -- other compact forms of the facts ----------------------------------------------------------

_HTTP = re.compile(
    r"^(?P<method>GET|POST|PUT|PATCH|DELETE) (?P<path>/\S*) \((?P<operation_id>\w+)\)"
    r" -> (?P<codes>\d{3}(?:, \d{3})*)$"
)


@dataclass(frozen=True)
class HttpFact:
    method: str
    path: str
    operation_id: str
    status_codes: tuple[str, ...]


def parse_http(line: str, where: str) -> HttpFact:
    """``POST /carts/{cartId}/checkout (checkoutCart) -> 200, 400``."""
    match = _HTTP.match(line.strip())
    if match is None:
        raise FactsNotationError(f"{where}: cannot read HTTP operation {line!r}")
    return HttpFact(
        match["method"],
        match["path"],
        match["operation_id"],
        tuple(match["codes"].split(", ")),
    )


_COLUMN = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*): (?P<definition>.+)$")
_SQL_TYPE = re.compile(r"^(?P<type>[A-Za-z]+(?:\s*\([0-9, ]+\))?)")
_SQL_DEFAULT = re.compile(r"\bDEFAULT\s+(?P<value>'(?:[^']|'')*'|[^\s,]+)", re.IGNORECASE)


@dataclass(frozen=True)
class FactColumn:
    """One column of a facts table, read from its SQL fragment."""

    name: str
    type: str
    not_null: bool
    primary_key: bool
    default: str | None


def parse_columns(lines: Any, where: str) -> list[FactColumn]:
    """Columns of one facts table (``name: SQL``).

    ``constraint:`` lines are table constraints, not columns; a ``PRIMARY KEY (a, b)`` among them
    makes its columns part of the key.
    """
    if not isinstance(lines, list):
        raise FactsNotationError(f"{where}: table is not a list of columns")
    columns: list[FactColumn] = []
    table_key: set[str] = set()
    for line in lines:
        match = _COLUMN.match(line) if isinstance(line, str) else None
        if match is None:
            raise FactsNotationError(f"{where}: cannot read column {line!r}")
        definition = match["definition"]
        if match["name"] == "constraint":
            key = re.match(r"^PRIMARY KEY\s*\((?P<cols>[^)]*)\)", definition, re.IGNORECASE)
            if key:
                table_key.update(c.strip() for c in key["cols"].split(","))
            continue
        sql_type = _SQL_TYPE.match(definition)
        if sql_type is None:
            raise FactsNotationError(f"{where}.{match['name']}: no SQL type in {definition!r}")
        upper = definition.upper()
        default = _SQL_DEFAULT.search(definition)
        columns.append(
            FactColumn(
                name=match["name"],
                type=sql_type["type"],
                not_null="NOT NULL" in upper,
                primary_key="PRIMARY KEY" in upper,
                default=default["value"] if default else None,
            )
        )
    unknown = table_key - {c.name for c in columns}
    if unknown:
        raise FactsNotationError(f"{where}: primary key names unknown columns {sorted(unknown)}")
    return [replace(c, primary_key=True) if c.name in table_key else c for c in columns]


# -- comparing a facts field with the catalog's JSON Schema -------------------------------------

_ABSENT = object()
#: Keywords that bound a value the facts leave open; adding one narrows the contract.
BOUND_KEYS = ("minimum", "maximum", "minLength", "maxLength")


@dataclass(frozen=True)
class Difference:
    """One way the catalog's schema differs from the facts at ``path``.

    ``added_bound`` marks a bound (`BOUND_KEYS`) the catalog states where the facts state none;
    every other difference is a change of what the facts say.
    """

    path: str
    what: str
    facts: Any
    catalog: Any
    added_bound: bool = False

    def __str__(self) -> str:
        facts = "(none)" if self.facts is _ABSENT else repr(self.facts)
        catalog = "(none)" if self.catalog is _ABSENT else repr(self.catalog)
        return f"{self.path}: {self.what}: facts {facts}, catalog {catalog}"


def compare_fields(specs: tuple[FieldSpec, ...], schema: Any, path: str) -> list[Difference]:
    """How an object schema's ``properties`` differ from the facts' fields.

    Properties the facts do not mention are allowed, but only as optional ones: a new required
    field would reject every payload written to the facts.
    """
    if not isinstance(schema, Mapping):
        return [Difference(path, "schema", "an object schema", schema)]
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = schema.get("required")
    required = set(required) if isinstance(required, list) else set()
    found: list[Difference] = []
    known = {spec.name for spec in specs}
    for spec in specs:
        here = f"{path}.{spec.name}"
        if spec.name not in properties:
            found.append(Difference(here, "field", "present", _ABSENT))
            continue
        if spec.required != (spec.name in required):
            found.append(Difference(here, "required", spec.required, spec.name in required))
        found.extend(_compare_value(spec, properties[spec.name], here))
    for name in sorted(required - known):
        if name in properties:
            found.append(Difference(f"{path}.{name}", "added field is required", _ABSENT, True))
    return found


def _compare_value(spec: FieldSpec, schema: Any, path: str) -> list[Difference]:
    if not isinstance(schema, Mapping):
        return [Difference(path, "schema", spec.type, schema)]
    found: list[Difference] = []
    if schema.get("type") != spec.type:
        found.append(Difference(path, "type", spec.type, schema.get("type", _ABSENT)))
    for key in CONSTRAINT_KEYS:
        facts, catalog = spec.constraints.get(key, _ABSENT), schema.get(key, _ABSENT)
        if facts is _ABSENT and catalog is not _ABSENT and key in BOUND_KEYS:
            found.append(Difference(path, key, facts, catalog, added_bound=True))
        elif facts != catalog:
            found.append(Difference(path, key, facts, catalog))
    catalog_default = schema.get("default", _ABSENT)
    facts_default = spec.default if spec.has_default else _ABSENT
    if facts_default != catalog_default:
        found.append(Difference(path, "default", facts_default, catalog_default))
    if spec.type == "object":
        found.extend(compare_fields(spec.properties, schema, path))
    elif spec.type == "array":
        items = schema.get("items", _ABSENT)
        if spec.properties:
            if not isinstance(items, Mapping) or items.get("type") != "object":
                item_type = items.get("type") if isinstance(items, Mapping) else items
                found.append(Difference(f"{path}[]", "type", "object", item_type))
            else:
                found.extend(compare_fields(spec.properties, items, f"{path}[]"))
        elif spec.items is not None:
            found.extend(_compare_value(spec.items, items, f"{path}[]"))
    return found


def override(specs: tuple[FieldSpec, ...], path: str, **constraints: Any) -> tuple[FieldSpec, ...]:
    """The specs with the field at dotted ``path`` given new constraint values.

    Raises:
        KeyError: no field at ``path`` (a decision table that names a field the facts lack).
    """
    head, _, rest = path.partition(".")
    if not any(spec.name == head for spec in specs):
        raise KeyError(f"no field {head!r} (in {path!r})")
    changed = []
    for spec in specs:
        if spec.name == head:
            if rest:
                spec = replace(spec, properties=override(spec.properties, rest, **constraints))
            else:
                for key, value in constraints.items():
                    spec = spec.with_constraint(key, value)
        changed.append(spec)
    return tuple(changed)
