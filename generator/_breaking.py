"""Breaking-change rules: what a new catalog version does to the consumers of the old one.

`compare(old, new)` reads two resolved `Catalog` models and returns every breaking change,
sorted. It compares the latest version of each resource (highest version per id, the way
EventCatalog resolves ``latest``). It reads no files: positions inside pages, schemas and
OpenAPI documents come from what the loader kept (`model_locator`), or from a `Locator` that
the caller supplies.

The rules follow the spirit of protobuf's breaking-change checkers: anything that can make an
existing sender's payload invalid for a receiver, or a receiver's expectations wrong, counts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from generator._model import Catalog, Flow, HttpOperation, Message, Resource, Service, Source
from generator._resolve import compare_versions, parse_semver

__all__ = [
    "RULES",
    "BreakingChange",
    "Locator",
    "compare",
    "latest_by_id",
    "model_locator",
    "version_key",
]

# Stable rule ids and what each one means. Ids never change once released: CI configurations
# and suppressions refer to them.
RULES: dict[str, str] = {
    "message-removed": "a message (event, command or query) no longer exists",
    "field-removed": "a field of a message schema was removed",
    "field-required-added": "a received message gained a required field or a field became required",
    "field-type-changed": "the JSON type of a field changed",
    "field-format-changed": "the format of a field changed, was added or was removed",
    "enum-value-removed": "a value was removed from an enum",
    "constraint-tightened": (
        "a validation keyword accepts less than before (maxLength lower, minimum higher, "
        "pattern changed, additionalProperties false added, enum added, ...)"
    ),
    "sender-removed": "a service no longer sends a message that a flow uses",
    "receiver-removed": "a service no longer receives a message that a flow uses",
    "channel-address-changed": "a channel's address changed",
    "version-not-bumped": "a message changed in a breaking way but kept its version",
    "major-not-bumped": "a message changed in a breaking way without a major version bump",
    "service-removed": "a service was removed while messages it sent are still received",
    "operation-removed": "an HTTP operation (OpenAPI or a message's operation) was removed",
    "operation-changed": "an HTTP operation's path or method changed",
}

# Rules that describe a change of a message's contract; they call for a major version bump.
_CONTRACT_RULES = frozenset(
    {
        "field-removed",
        "field-required-added",
        "field-type-changed",
        "field-format-changed",
        "enum-value-removed",
        "constraint-tightened",
        "operation-removed",
        "operation-changed",
    }
)

_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

Locator = Callable[[str, Sequence[str]], "int | None"]
"""Finds the 1-based line of a JSON pointer (as tokens) in a catalog file.

Called with a path relative to the catalog root and the pointer; returns the line of the
deepest existing node on that pointer, or None when it cannot tell. For ``.md``/``.mdx``
pages the pointer addresses the frontmatter.
"""


@dataclass(frozen=True, order=True)
class BreakingChange:
    """One breaking change, positioned in the new catalog (or the old one, for removals)."""

    path: str  # relative to the catalog root
    line: int
    rule: str
    message: str
    resource_kind: str = ""
    resource_id: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: breaking {self.rule}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "rule": self.rule,
            "message": self.message,
            "resource": {"kind": self.resource_kind, "id": self.resource_id},
        }


def model_locator(catalog: Catalog) -> Locator:
    """A `Locator` over the loaded catalog: frontmatter positions of pages, and positions in
    the text of the schemas and specifications the loader read. Nothing is read from disk."""
    documents = {doc.path: doc for doc in catalog.documents}
    files = catalog.files

    def locate(path: str, pointer: Sequence[str]) -> int | None:
        document = documents.get(path)
        if document is not None:
            return document.position(*pointer)[0]
        side_file = files.get(path)
        if side_file is None or not side_file.text:
            return None
        from generator._load import locate as locate_in_text

        return locate_in_text(side_file.text, tuple(pointer))[0]

    return locate


# --- versions ---------------------------------------------------------------------------


def version_key(version: str) -> Any:
    """Sort key in EventCatalog's version order (`generator._resolve.compare_versions`)."""
    return functools.cmp_to_key(compare_versions)(version)


R = TypeVar("R", bound=Resource)


def latest_by_id(resources: Iterable[R]) -> dict[str, R]:
    """The highest version of each id (EventCatalog's ``latest``); ties keep the current page."""
    best: dict[str, R] = {}
    for res in resources:
        seen = best.get(res.id)
        if seen is None:
            best[res.id] = res
            continue
        order = compare_versions(res.version, seen.version)
        if order > 0 or (order == 0 and res.is_latest and not seen.is_latest):
            best[res.id] = res
    return best


def _major_bumped(old: str, new: str) -> bool | None:
    """True when `new` is a major bump of `old` (a minor bump counts below 1.0.0, as semver
    allows anything to change in 0.y.z); None when either is not semver."""
    o, n = parse_semver(old), parse_semver(new)
    if o is None or n is None:
        return None
    if o.major == 0 and n.major == 0:
        return n.minor > o.minor
    return n.major > o.major


# --- comparison -------------------------------------------------------------------------


def compare(old: Catalog, new: Catalog, *, locate: Locator | None = None) -> list[BreakingChange]:
    """Every breaking change from `old` to `new`, sorted by path, line, rule and message.

    Changes are positioned in `new` with `locate` (default: `model_locator(new)`); a removed
    resource is reported where it was in `old`.
    """
    ctx = _Context(old, new, locate if locate is not None else model_locator(new))
    found: set[BreakingChange] = set()
    found.update(_message_changes(ctx))
    found.update(_flow_participant_changes(ctx))
    found.update(_service_removals(ctx))
    found.update(_channel_changes(ctx))
    found.update(_openapi_changes(ctx))
    return sorted(found)


class _Context:
    def __init__(self, old: Catalog, new: Catalog, locate: Locator | None) -> None:
        self.old_messages = latest_by_id(old.messages)
        self.new_messages = latest_by_id(new.messages)
        self.old_services = latest_by_id(old.services)
        self.new_services = latest_by_id(new.services)
        self.old_channels = latest_by_id(old.channels)
        self.new_channels = latest_by_id(new.channels)
        self.new_flows = latest_by_id(new.flows)
        self._locate = locate

    def line(self, path: str, pointer: Sequence[str], default: int = 1) -> int:
        if self._locate is None or not pointer:
            return default
        found = self._locate(path, pointer)
        return found if found is not None else default


def _senders(services: Mapping[str, Service], message_id: str) -> set[str]:
    return {s.id for s in services.values() if any(u.message.id == message_id for u in s.sends)}


def _receivers(services: Mapping[str, Service], message_id: str) -> set[str]:
    return {s.id for s in services.values() if any(u.message.id == message_id for u in s.receives)}


def _label(message: Message) -> str:
    return f"{message.kind} '{message.id}'"


# --- messages -----------------------------------------------------------------------------


def _message_changes(ctx: _Context) -> Iterator[BreakingChange]:
    for mid, old in ctx.old_messages.items():
        new = ctx.new_messages.get(mid)
        if new is None:
            yield BreakingChange(
                old.source.path,
                old.source.line,
                "message-removed",
                f"{_label(old)} (version {old.version}) was removed",
                old.kind,
                mid,
            )
            continue
        contract = list(_schema_changes(ctx, old, new))
        contract.extend(_message_operation_changes(ctx, old, new))
        yield from contract
        if contract:
            yield from _version_bump(ctx, old, new, contract)


def _version_bump(
    ctx: _Context, old: Message, new: Message, changes: Sequence[BreakingChange]
) -> Iterator[BreakingChange]:
    rules = ", ".join(sorted({c.rule for c in changes if c.rule in _CONTRACT_RULES}))
    line = ctx.line(new.source.path, ("version",), new.source.line)
    if new.version == old.version:
        yield BreakingChange(
            new.source.path,
            line,
            "version-not-bumped",
            f"{_label(new)} changed in a breaking way ({rules}) but kept version {new.version}",
            new.kind,
            new.id,
        )
    elif _major_bumped(old.version, new.version) is False:
        yield BreakingChange(
            new.source.path,
            line,
            "major-not-bumped",
            f"{_label(new)} changed in a breaking way ({rules}) but went from {old.version} "
            f"to {new.version}; bump the major version",
            new.kind,
            new.id,
        )


def _message_operation_changes(
    ctx: _Context, old: Message, new: Message
) -> Iterator[BreakingChange]:
    if old.operation is None:
        return
    path = new.source.path
    line = ctx.line(path, ("operation",), new.source.line)
    if new.operation is None:
        yield BreakingChange(
            path,
            line,
            "operation-removed",
            f"{_label(new)} no longer has its HTTP operation {_op(old.operation)}",
            new.kind,
            new.id,
        )
    elif (old.operation.method.upper(), old.operation.path) != (
        new.operation.method.upper(),
        new.operation.path,
    ):
        yield BreakingChange(
            path,
            line,
            "operation-changed",
            f"{_label(new)} moved from {_op(old.operation)} to {_op(new.operation)}",
            new.kind,
            new.id,
        )


def _op(operation: HttpOperation) -> str:
    return f"{operation.method.upper()} {operation.path}"


# --- schemas ------------------------------------------------------------------------------

# Keywords whose value is an upper bound (a lower value accepts less) and lower bounds.
_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")


@dataclass
class _SchemaWalk:
    ctx: _Context
    message: Message
    old_root: Mapping[str, Any]
    new_root: Mapping[str, Any]
    received: bool
    path: str
    found: list[BreakingChange]

    def report(self, rule: str, pointer: Sequence[str], text: str) -> None:
        line = self.ctx.line(self.path, pointer, self.message.source.line)
        self.found.append(
            BreakingChange(
                self.path,
                line,
                rule,
                f"{_label(self.message)}: {text}",
                self.message.kind,
                self.message.id,
            )
        )


def _schema_changes(ctx: _Context, old: Message, new: Message) -> Iterator[BreakingChange]:
    if not isinstance(old.schema, dict) or not isinstance(new.schema, dict):
        return  # a missing or unreadable schema is lint's business, not a comparison
    walk = _SchemaWalk(
        ctx=ctx,
        message=new,
        old_root=old.schema,
        new_root=new.schema,
        received=bool(_receivers(ctx.new_services, new.id)),
        path=new.schema_path or new.source.path,
        found=[],
    )
    _compare_node(walk, old.schema, new.schema, "", (), set())
    yield from walk.found


def _resolve_ref(root: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local ``$ref``s (``#/...``); anything else is compared as written."""
    seen: set[str] = set()
    while isinstance(ref := node.get("$ref"), str) and ref.startswith("#") and ref not in seen:
        seen.add(ref)
        target: Any = root
        for token in ref[1:].split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or token not in target:
                return node
            target = target[token]
        if not isinstance(target, Mapping):
            return node
        node = target
    return node


def _types(node: Mapping[str, Any]) -> frozenset[str]:
    value = node.get("type")
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def _field(name: str) -> str:
    return f"field '{name}'" if name else "the payload"


def _compare_node(
    walk: _SchemaWalk,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    name: str,
    pointer: tuple[str, ...],
    visiting: set[tuple[int, int]],
) -> None:
    old = _resolve_ref(walk.old_root, old)
    new = _resolve_ref(walk.new_root, new)
    key = (id(old), id(new))
    if key in visiting:  # recursive schemas: each pair once
        return
    visiting = visiting | {key}

    old_types, new_types = _types(old), _types(new)
    if new_types and old_types != new_types:
        before = "/".join(sorted(old_types)) or "any"
        after = "/".join(sorted(new_types))
        walk.report(
            "field-type-changed",
            (*pointer, "type"),
            f"{_field(name)} changed type from {before} to {after}",
        )

    old_format, new_format = old.get("format"), new.get("format")
    if old_format != new_format:
        walk.report(
            "field-format-changed",
            (*pointer, "format"),
            f"{_field(name)} changed format from {old_format or 'none'} to {new_format or 'none'}",
        )

    _compare_enum(walk, old, new, name, pointer)
    _compare_constraints(walk, old, new, name, pointer)
    _compare_properties(walk, old, new, name, pointer, visiting)

    old_items, new_items = old.get("items"), new.get("items")
    if isinstance(old_items, Mapping) and isinstance(new_items, Mapping):
        _compare_node(walk, old_items, new_items, f"{name}[]", (*pointer, "items"), visiting)


def _compare_enum(
    walk: _SchemaWalk,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    name: str,
    pointer: tuple[str, ...],
) -> None:
    old_enum, new_enum = old.get("enum"), new.get("enum")
    if not isinstance(new_enum, list):
        return
    if not isinstance(old_enum, list):
        walk.report(
            "constraint-tightened",
            (*pointer, "enum"),
            f"{_field(name)} is now limited to the values {_values(new_enum)}",
        )
        return
    removed = [v for v in old_enum if v not in new_enum]
    if removed:
        walk.report(
            "enum-value-removed",
            (*pointer, "enum"),
            f"{_field(name)} lost enum value(s) {_values(removed)}",
        )


def _values(values: Iterable[Any]) -> str:
    return ", ".join(repr(v) for v in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare_constraints(
    walk: _SchemaWalk,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    name: str,
    pointer: tuple[str, ...],
) -> None:
    def tightened(keyword: str, text: str) -> None:
        walk.report("constraint-tightened", (*pointer, keyword), f"{_field(name)}: {text}")

    for keyword, upper in [(k, True) for k in _UPPER_BOUNDS] + [(k, False) for k in _LOWER_BOUNDS]:
        before: Any = old.get(keyword)
        after: Any = new.get(keyword)
        if not _is_number(after):
            continue
        if not _is_number(before):
            tightened(keyword, f"{keyword} {after} added")
        elif (after < before) if upper else (after > before):
            tightened(keyword, f"{keyword} went from {before} to {after}")

    old_pattern, new_pattern = old.get("pattern"), new.get("pattern")
    if isinstance(new_pattern, str) and new_pattern != old_pattern:
        if isinstance(old_pattern, str):
            tightened("pattern", f"pattern changed from {old_pattern!r} to {new_pattern!r}")
        else:
            tightened("pattern", f"pattern {new_pattern!r} added")

    if new.get("additionalProperties") is False and old.get("additionalProperties") is not False:
        tightened("additionalProperties", "additionalProperties false added (object closed)")

    if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
        tightened("uniqueItems", "uniqueItems true added")

    old_step: Any = old.get("multipleOf")
    new_step: Any = new.get("multipleOf")
    # A new divisor is looser only when every old multiple is also a multiple of it.
    if _is_number(new_step) and new_step and (not _is_number(old_step) or old_step % new_step):
        tightened("multipleOf", f"multipleOf {new_step} (was {old_step or 'none'})")

    if "const" in new and ("const" not in old or old["const"] != new["const"]):
        tightened("const", f"const {new['const']!r} required")


def _compare_properties(
    walk: _SchemaWalk,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    name: str,
    pointer: tuple[str, ...],
    visiting: set[tuple[int, int]],
) -> None:
    old_props = old.get("properties")
    new_props = new.get("properties")
    old_props = old_props if isinstance(old_props, Mapping) else {}
    new_props = new_props if isinstance(new_props, Mapping) else {}

    for prop, old_schema in old_props.items():
        child = f"{name}.{prop}" if name else str(prop)
        child_pointer = (*pointer, "properties", str(prop))
        if prop not in new_props:
            walk.report("field-removed", child_pointer, f"{_field(child)} was removed")
        elif isinstance(old_schema, Mapping) and isinstance(new_props[prop], Mapping):
            _compare_node(walk, old_schema, new_props[prop], child, child_pointer, visiting)

    if not walk.received:
        return  # nobody validates it on receipt, so a new required field breaks no one
    old_required = _required(old)
    for prop in _required(new):
        if prop in old_required:
            continue
        child = f"{name}.{prop}" if name else prop
        if prop in old_props:
            text = f"{_field(child)} became required"
        else:
            text = f"new required {_field(child)}"
        walk.report("field-required-added", (*pointer, "required"), text)


def _required(node: Mapping[str, Any]) -> list[str]:
    value = node.get("required")
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# --- flows, services, channels ------------------------------------------------------------


def _flow_messages(flows: Mapping[str, Flow]) -> dict[str, list[str]]:
    """Message id -> ids of the (new) flows whose steps use it."""
    used: dict[str, list[str]] = {}
    for flow in flows.values():
        for step in flow.steps:
            if step.message is not None:
                used.setdefault(step.message.id, []).append(flow.id)
    return {mid: sorted(set(fids)) for mid, fids in used.items()}


def _service_source(ctx: _Context, service_id: str) -> Source:
    service = ctx.new_services.get(service_id) or ctx.old_services[service_id]
    return service.source


def _flow_participant_changes(ctx: _Context) -> Iterator[BreakingChange]:
    for mid, flow_ids in sorted(_flow_messages(ctx.new_flows).items()):
        names = ", ".join(f"'{f}'" for f in flow_ids)
        used_by = f"flow {names} uses" if len(flow_ids) == 1 else f"flows {names} use"
        for rule, verb, finder in (
            ("sender-removed", "sends", _senders),
            ("receiver-removed", "receives", _receivers),
        ):
            gone = finder(ctx.old_services, mid) - finder(ctx.new_services, mid)
            for sid in sorted(gone):
                where = _service_source(ctx, sid)
                yield BreakingChange(
                    where.path,
                    where.line,
                    rule,
                    f"service '{sid}' no longer {verb} '{mid}', which {used_by}",
                    "service",
                    sid,
                )


def _service_removals(ctx: _Context) -> Iterator[BreakingChange]:
    for sid, old in ctx.old_services.items():
        if sid in ctx.new_services:
            continue
        for mid in sorted({u.message.id for u in old.sends}):
            still_received = _receivers(ctx.new_services, mid)
            if still_received and not _senders(ctx.new_services, mid):
                yield BreakingChange(
                    old.source.path,
                    old.source.line,
                    "service-removed",
                    f"service '{sid}' was removed but '{mid}', which only it sent, is still "
                    f"received by {', '.join(sorted(still_received))}",
                    "service",
                    sid,
                )


def _channel_changes(ctx: _Context) -> Iterator[BreakingChange]:
    for cid, old in ctx.old_channels.items():
        new = ctx.new_channels.get(cid)
        if new is None or new.address == old.address:
            continue
        yield BreakingChange(
            new.source.path,
            ctx.line(new.source.path, ("address",), new.source.line),
            "channel-address-changed",
            f"channel '{cid}' moved from address {old.address!r} to {new.address!r}",
            "channel",
            cid,
        )


# --- OpenAPI ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Operation:
    method: str
    path: str
    operation_id: str | None
    spec_path: str

    def __str__(self) -> str:
        op = f"{self.method.upper()} {self.path}"
        return f"{op} ({self.operation_id})" if self.operation_id else op


def _operations(service: Service) -> list[_Operation]:
    found: list[_Operation] = []
    for spec in service.specifications:
        if spec.type != "openapi" or not isinstance(spec.document, dict):
            continue
        paths = spec.document.get("paths")
        if not isinstance(paths, dict):
            continue
        for path, item in paths.items():
            if not isinstance(item, dict):
                continue
            for method in _HTTP_METHODS:
                op = item.get(method)
                if isinstance(op, dict):
                    op_id = op.get("operationId")
                    found.append(
                        _Operation(
                            method, str(path), op_id if isinstance(op_id, str) else None, spec.path
                        )
                    )
    return found


def _openapi_changes(ctx: _Context) -> Iterator[BreakingChange]:
    for sid, old in ctx.old_services.items():
        new = ctx.new_services.get(sid)
        if new is None:
            continue
        new_ops = _operations(new)
        by_id = {op.operation_id: op for op in new_ops if op.operation_id}
        by_route = {(op.method, op.path) for op in new_ops}
        spec_path = next((s.path for s in new.specifications if s.type == "openapi"), None)
        for op in _operations(old):
            moved = by_id.get(op.operation_id) if op.operation_id else None
            if moved is not None:
                if (moved.method, moved.path) != (op.method, op.path):
                    yield BreakingChange(
                        moved.spec_path,
                        ctx.line(moved.spec_path, ("paths", moved.path, moved.method), 1),
                        "operation-changed",
                        f"service '{sid}': operation {op} moved to {moved.method.upper()} "
                        f"{moved.path}",
                        "service",
                        sid,
                    )
                continue
            # Same route under another operationId is the same operation on the wire.
            if (op.method, op.path) not in by_route:
                path = spec_path or new.source.path
                line = ctx.line(path, ("paths",), 1) if spec_path else new.source.line
                yield BreakingChange(
                    path,
                    line,
                    "operation-removed",
                    f"service '{sid}': operation {op} was removed",
                    "service",
                    sid,
                )
