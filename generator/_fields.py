"""What EventCatalog 4.x accepts in frontmatter, per collection, as small checkable shapes.

A transcription of the zod schemas of EventCatalog core (``src/content.config.ts``): required
fields, types, enums, and which top-level keys are known (anything else needs an ``x-`` prefix).
zod's ``optional()`` means "absent", so an empty YAML value (null) is rejected as well. Nested
objects are not strict: unknown nested keys are dropped by EventCatalog, so they pass here too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from generator._model import KeyPath

__all__ = ["COMPUTED", "SHAPES", "STRICT", "Issue", "Obj", "Shape", "check"]

INVALID_TYPE = "frontmatter/invalid-type"
MISSING_FIELD = "frontmatter/missing-field"
NON_STRING_VERSION = "frontmatter/non-string-version"
RELATIVE_URL = "frontmatter/relative-url"
MALFORMED_BADGE = "frontmatter/malformed-badge"
MALFORMED_STEP = "flows/malformed-step"
MISSING_CONTAINER_TYPE = "frontmatter/missing-container-type"


@dataclass(frozen=True)
class Issue:
    path: KeyPath
    rule: str
    message: str


def _type_name(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (dt.date, dt.datetime)):
        return "a date"
    return type(value).__name__


def _where(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "frontmatter"


class Shape:
    """Something a value must look like; ``rule`` overrides the rule id of problems inside it."""

    rule: str | None = None

    def describe(self) -> str:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        """Cheap top-level test used to pick a union alternative."""
        raise NotImplementedError

    def check(self, value: Any, path: KeyPath, rule: str | None, out: list[Issue]) -> None:
        if not self.accepts(value):
            out.append(
                Issue(
                    path,
                    self.rule or rule or INVALID_TYPE,
                    f"'{_where(path)}' must be {self.describe()}, not {_type_name(value)}",
                )
            )


class Str(Shape):
    def describe(self) -> str:
        return "a string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)


class Version(Str):
    """A version string: YAML turns an unquoted ``1.0`` into a number, which is rejected."""

    rule = NON_STRING_VERSION

    def describe(self) -> str:
        return 'a quoted string (write version: "1.0.0")'


class Url(Str):
    """zod's ``url()``: an absolute URL with a scheme."""

    _ABSOLUTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S")

    def check(self, value: Any, path: KeyPath, rule: str | None, out: list[Issue]) -> None:
        if not isinstance(value, str):
            super().check(value, path, rule, out)
        elif not self._ABSOLUTE.match(value):
            out.append(
                Issue(
                    path,
                    RELATIVE_URL,
                    f"'{_where(path)}' must be an absolute URL (https://...), not {value!r}",
                )
            )


class Bool(Shape):
    def describe(self) -> str:
        return "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class Num(Shape):
    def describe(self) -> str:
        return "a number"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)


class DateLike(Shape):
    """``z.coerce.date()`` or a date string: a YAML date, a string or a number."""

    def describe(self) -> str:
        return "a date"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (dt.date, str, int, float)) and not isinstance(value, bool)


class AnyValue(Shape):
    def describe(self) -> str:
        return "anything"

    def accepts(self, value: Any) -> bool:
        return True


class Enum(Shape):
    def __init__(self, *values: str, rule: str | None = None) -> None:
        self.values = values
        self.rule = rule

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.values


class ListOf(Shape):
    def __init__(self, item: Shape, rule: str | None = None) -> None:
        self.item = item
        self.rule = rule

    def describe(self) -> str:
        return "a list"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list)

    def check(self, value: Any, path: KeyPath, rule: str | None, out: list[Issue]) -> None:
        if not isinstance(value, list):
            super().check(value, path, rule, out)
            return
        for i, item in enumerate(value):
            self.item.check(item, (*path, i), self.rule or rule, out)


class Record(Shape):
    """A mapping with free keys and values of one shape."""

    def __init__(self, value: Shape) -> None:
        self.value = value

    def describe(self) -> str:
        return "a mapping"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: KeyPath, rule: str | None, out: list[Issue]) -> None:
        if not isinstance(value, dict):
            super().check(value, path, rule, out)
            return
        for key, item in value.items():
            self.value.check(item, (*path, key), self.rule or rule, out)


@dataclass
class Obj(Shape):
    """A mapping with known fields; ``required`` maps a field to the rule reporting its absence."""

    fields: dict[str, Shape]
    required: dict[str, str | None] = field(default_factory=dict)
    rule: str | None = None

    def describe(self) -> str:
        return "a mapping"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: KeyPath, rule: str | None, out: list[Issue]) -> None:
        if not isinstance(value, dict):
            super().check(value, path, rule, out)
            return
        inner = self.rule or rule
        for name, missing_rule in self.required.items():
            if name not in value:
                where = f"'{_where(path)}' " if path else ""
                out.append(
                    Issue(
                        path,
                        missing_rule or inner or MISSING_FIELD,
                        f"{where}is missing required field '{name}'",
                    )
                )
        for name, shape in self.fields.items():
            if name in value:
                shape.check(value[name], (*path, name), inner, out)


class Union(Shape):
    def __init__(self, *alternatives: Shape, rule: str | None = None) -> None:
        self.alternatives = alternatives
        self.rule = rule

    def describe(self) -> str:
        return " or ".join(a.describe() for a in self.alternatives)

    def accepts(self, value: Any) -> bool:
        return any(a.accepts(value) for a in self.alternatives)

    def check(self, value: Any, path: KeyPath, rule: str | None, out: list[Issue]) -> None:
        inner = self.rule or rule
        candidates = [a for a in self.alternatives if a.accepts(value)]
        if not candidates:
            super().check(value, path, rule, out)
            return
        # Report the first alternative of the right type, unless another one passes cleanly.
        first: list[Issue] | None = None
        for alternative in candidates:
            found: list[Issue] = []
            alternative.check(value, path, inner, found)
            if not found:
                return
            first = first if first is not None else found
        out.extend(first or [])


def req(*names: str) -> dict[str, str | None]:
    return dict.fromkeys(names)


# --- building blocks ---------------------------------------------------------------------------

STR, BOOL, NUM, ANY, VERSION = Str(), Bool(), Num(), AnyValue(), Version()
POINTER = Obj({"id": STR, "version": VERSION}, req("id"))
PARAMETERS = Record(STR)
CHANNEL_POINTER = Obj({"id": STR, "version": VERSION, "parameters": PARAMETERS}, req("id"))
DELIVERY_MODE = Enum("push", "pull", "push-pull")
CHANNEL_USE = Obj({**CHANNEL_POINTER.fields, "delivery_mode": DELIVERY_MODE}, req("id"))
_MESSAGE_USE = {"id": STR, "version": VERSION, "fields": ListOf(STR), "group": STR}
SENDS = ListOf(Obj({**_MESSAGE_USE, "to": ListOf(CHANNEL_USE)}, req("id")))
TRIGGER = Obj({"id": STR, "version": VERSION, "condition": STR}, req("id"))
RECEIVES = ListOf(
    Obj({**_MESSAGE_USE, "triggers": ListOf(TRIGGER), "from": ListOf(CHANNEL_USE)}, req("id"))
)
RESOURCE_TYPES = (
    "agent",
    "service",
    "event",
    "command",
    "query",
    "flow",
    "channel",
    "domain",
    "user",
    "team",
    "container",
)
RESOURCE_POINTER = Obj(
    {"id": STR, "version": VERSION, "type": Enum(*RESOURCE_TYPES)}, req("id", "type")
)
BADGE = Obj(
    {"content": STR, "backgroundColor": STR, "textColor": STR, "icon": STR},
    req("content", "backgroundColor", "textColor"),
    rule=MALFORMED_BADGE,
)
OWNER = Union(STR, Obj({"id": STR, "collection": Enum("users", "teams")}, req("id", "collection")))
DETAILS_PANEL = Record(Obj({"visible": BOOL}))
SPECIFICATIONS = Union(
    Obj({"openapiPath": STR, "asyncapiPath": STR, "graphqlPath": STR}),
    ListOf(
        Obj(
            {
                "type": Enum("openapi", "asyncapi", "graphql"),
                "path": STR,
                "name": STR,
                "headers": Record(STR),
            },
            req("type", "path"),
        )
    ),
)
CATALOG_META = Obj(
    {"path": STR, "filePath": STR, "publicPath": STR, "type": STR},
    req("path", "filePath", "publicPath", "type"),
)

BASE: dict[str, Shape] = {
    "id": STR,
    "name": STR,
    "summary": STR,
    "version": VERSION,
    "draft": Union(BOOL, Obj({"title": STR, "message": STR}, req("message"))),
    "badges": ListOf(BADGE),
    "owners": ListOf(OWNER),
    "schemaPath": STR,
    "specifications": SPECIFICATIONS,
    "sidebar": Obj({"label": STR, "badge": STR, "color": STR, "backgroundColor": STR}),
    "repository": Obj({"language": STR, "url": STR}),
    "hidden": BOOL,
    "editUrl": STR,
    "resourceGroups": ListOf(
        Obj(
            {
                "id": STR,
                "title": STR,
                "items": ListOf(RESOURCE_POINTER),
                "limit": NUM,
                "sidebar": BOOL,
            },
            req("items"),
        )
    ),
    "styles": Obj({"icon": STR, "node": Obj({"color": STR, "label": STR})}),
    "deprecated": Union(Obj({"message": STR, "date": Union(STR, DateLike())}), BOOL),
    "visualiser": BOOL,
    "attachments": ListOf(
        Union(
            Url(),
            Obj(
                {"url": Url(), "title": STR, "type": STR, "description": STR, "icon": STR},
                req("url"),
            ),
        )
    ),
    "diagrams": ListOf(POINTER),
    "versions": ListOf(STR),
    "latestVersion": STR,
    "catalog": CATALOG_META,
}
BASE_REQUIRED = req("id", "name", "version")


def _resource(
    fields: dict[str, Shape],
    *,
    omit: tuple[str, ...] = (),
    required: dict[str, str | None] | None = None,
) -> Obj:
    merged = {k: v for k, v in {**fields, **BASE}.items() if k not in omit}
    return Obj(merged, {**BASE_REQUIRED, **(required or {})})


_FLOW_LINK = Union(STR, NUM, Obj({"id": Union(STR, NUM), "label": STR}, req("id")))
_STEP = Obj(
    {
        "id": Union(STR, NUM),
        "type": Enum("node", "message", "agent", "user", "actor"),
        "title": STR,
        "summary": STR,
        "message": POINTER,
        "agent": POINTER,
        "service": POINTER,
        "flow": POINTER,
        "container": POINTER,
        "dataProduct": POINTER,
        "actor": Obj({"name": STR, "summary": STR}, req("name")),
        "custom": Obj(
            {
                "title": STR,
                "icon": STR,
                "type": STR,
                "summary": STR,
                "url": Url(),
                "color": STR,
                "properties": Record(Union(STR, NUM)),
                "height": NUM,
                "menu": ListOf(Obj({"label": STR, "url": Url()}, req("label"))),
            },
            req("title"),
        ),
        "externalSystem": Obj({"name": STR, "summary": STR, "url": Url()}, req("name")),
        "next_step": _FLOW_LINK,
        "next_steps": ListOf(_FLOW_LINK),
    },
    req("id", "title"),
    rule=MALFORMED_STEP,
)
_OPERATION = Obj(
    {
        "method": Enum("GET", "POST", "PUT", "DELETE", "PATCH"),
        "path": STR,
        "statusCodes": ListOf(STR),
    }
)
_SCHEMA_POINTER = Obj(
    {
        "id": STR,
        "ref": STR,
        "file": STR,
        "path": STR,
        "name": STR,
        "format": STR,
        "environments": ListOf(STR),
        "default": BOOL,
    }
)
_MESSAGE = _resource(
    {
        "operation": _OPERATION,
        "producers": ANY,
        "consumers": ANY,
        "channels": ListOf(CHANNEL_POINTER),
        "schemas": ListOf(_SCHEMA_POINTER),
        "messageChannels": ANY,
        "detailsPanel": DETAILS_PANEL,
    }
)
_POINTERS = ListOf(POINTER)
_ENTITY_PROPERTY = Obj(
    {
        "name": STR,
        "type": STR,
        "required": BOOL,
        "description": STR,
        "references": STR,
        "referencesIdentifier": STR,
        "referenceTarget": Enum("entity"),
        "relationType": STR,
        "enum": ListOf(STR),
    },
    req("name", "type"),
)
_ENTITY_PROPERTY.fields["properties"] = ListOf(_ENTITY_PROPERTY)
_ENTITY_PROPERTY.fields["items"] = Obj(
    {"type": STR, "properties": ListOf(_ENTITY_PROPERTY)}, req("type")
)
_ADR_POINTER = POINTER
_ADR_TYPES = (*RESOURCE_TYPES, "system", "entity", "diagram", "data-product")
_DIRECTORY_SOURCE = Obj({"provider": STR, "id": STR, "url": STR}, req("provider"))
_OWNER_COMMON = {
    "id": STR,
    "name": STR,
    "hidden": BOOL,
    "source": _DIRECTORY_SOURCE,
    "readOnly": BOOL,
    "email": STR,
    "slackDirectMessageUrl": STR,
    "msTeamsDirectMessageUrl": STR,
}

#: shape of the frontmatter, per EventCatalog collection
SHAPES: dict[str, Obj] = {
    "events": _MESSAGE,
    "commands": _MESSAGE,
    "queries": _MESSAGE,
    "flows": _resource(
        {"detailsPanel": DETAILS_PANEL, "steps": ListOf(_STEP)}, required=req("steps")
    ),
    "data-products": _resource(
        {
            "inputs": _POINTERS,
            "outputs": ListOf(
                Obj(
                    {
                        "id": STR,
                        "version": VERSION,
                        "contract": Obj(
                            {"path": STR, "name": STR, "type": STR}, req("path", "name")
                        ),
                    },
                    req("id"),
                )
            ),
            "detailsPanel": DETAILS_PANEL,
        }
    ),
    "services": _resource(
        {
            "sends": SENDS,
            "receives": RECEIVES,
            "entities": _POINTERS,
            "writesTo": _POINTERS,
            "readsFrom": _POINTERS,
            "flows": _POINTERS,
            "externalSystem": BOOL,
            "detailsPanel": DETAILS_PANEL,
        }
    ),
    "agents": _resource(
        {
            "sends": SENDS,
            "receives": RECEIVES,
            "writesTo": _POINTERS,
            "readsFrom": _POINTERS,
            "flows": _POINTERS,
            "model": Obj({"provider": STR, "name": STR, "version": STR}),
            "tools": ListOf(
                Obj(
                    {"name": STR, "type": STR, "icon": STR, "url": STR, "description": STR},
                    req("name", "type"),
                )
            ),
            "detailsPanel": DETAILS_PANEL,
        },
        omit=("specifications",),
    ),
    "adrs": _resource(
        {
            "status": Enum("proposed", "accepted", "rejected", "deprecated", "superseded"),
            "date": DateLike(),
            "decisionMakers": ListOf(OWNER),
            "appliesTo": ListOf(
                Obj({"id": STR, "version": VERSION, "type": Enum(*_ADR_TYPES)}, req("id", "type"))
            ),
            "supersedes": ListOf(_ADR_POINTER),
            "supersededBy": ListOf(_ADR_POINTER),
            "amends": ListOf(_ADR_POINTER),
            "amendedBy": ListOf(_ADR_POINTER),
            "related": ListOf(_ADR_POINTER),
            "detailsPanel": DETAILS_PANEL,
        },
        required=req("status", "date"),
    ),
    "containers": _resource(
        {
            "container_type": Enum(
                "database",
                "cache",
                "objectStore",
                "searchIndex",
                "dataWarehouse",
                "dataLake",
                "externalSaaS",
                "other",
            ),
            "technology": STR,
            "purpose": STR,
            "authoritative": BOOL,
            "access_mode": Enum("read", "write", "readWrite", "appendOnly"),
            "classification": Enum("public", "internal", "confidential", "regulated"),
            "residency": STR,
            "retention": STR,
            "detailsPanel": DETAILS_PANEL,
            "services": ANY,
            "servicesThatWriteToContainer": ANY,
            "servicesThatReadFromContainer": ANY,
            "dataProductsThatWriteToContainer": ANY,
            "dataProductsThatReadFromContainer": ANY,
        },
        required={"container_type": MISSING_CONTAINER_TYPE},
    ),
    "domains": _resource(
        {
            "services": _POINTERS,
            "agents": _POINTERS,
            "domains": _POINTERS,
            "systems": _POINTERS,
            "entities": _POINTERS,
            "data-products": _POINTERS,
            "flows": _POINTERS,
            "sends": SENDS,
            "receives": RECEIVES,
            "detailsPanel": DETAILS_PANEL,
        }
    ),
    "systems": _resource(
        {
            "scope": Enum("internal", "external"),
            "services": _POINTERS,
            "flows": _POINTERS,
            "entities": _POINTERS,
            "containers": _POINTERS,
            "relationships": ListOf(Obj({"id": STR, "version": VERSION, "label": STR}, req("id"))),
            "actors": ListOf(
                Obj(
                    {
                        "id": STR,
                        "name": STR,
                        "label": STR,
                        "direction": Enum("inbound", "outbound"),
                    },
                    req("id"),
                )
            ),
            "detailsPanel": DETAILS_PANEL,
        }
    ),
    "channels": _resource(
        {
            "channels": ListOf(CHANNEL_POINTER),
            "address": STR,
            "protocols": ListOf(STR),
            "deliveryGuarantee": Enum("at-most-once", "at-least-once", "exactly-once"),
            "routes": ListOf(CHANNEL_POINTER),
            "parameters": Record(
                Obj(
                    {
                        "enum": ListOf(STR),
                        "default": STR,
                        "examples": ListOf(STR),
                        "description": STR,
                    }
                )
            ),
            "messages": ANY,
            "detailsPanel": DETAILS_PANEL,
        }
    ),
    "entities": _resource(
        {
            "aggregateRoot": BOOL,
            "identifier": STR,
            "properties": ListOf(_ENTITY_PROPERTY),
            "services": ANY,
            "domains": ANY,
            "detailsPanel": DETAILS_PANEL,
        }
    ),
    "diagrams": _resource({}),
    "users": Obj({**_OWNER_COMMON, "avatarUrl": STR, "role": STR}, req("id", "name")),
    "teams": Obj({**_OWNER_COMMON, "summary": STR, "members": ListOf(STR)}, req("id", "name")),
    "docs": Obj({"title": STR, "summary": STR}, req("title", "summary")),
    "changelogs": Obj({"createdAt": DateLike(), "badges": ListOf(BADGE), "version": VERSION}),
    "ubiquitous-languages": Obj(
        {
            "editUrl": STR,
            "dictionary": ListOf(
                Obj(
                    {
                        "id": STR,
                        "name": STR,
                        "summary": STR,
                        "description": STR,
                        "icon": STR,
                        "editUrl": STR,
                    },
                    req("id", "name"),
                )
            ),
        }
    ),
}

#: collections whose unknown top-level keys fail the build (others drop them)
STRICT = frozenset(
    {
        "events",
        "commands",
        "queries",
        "flows",
        "data-products",
        "services",
        "agents",
        "adrs",
        "containers",
        "domains",
        "systems",
        "channels",
        "entities",
        "diagrams",
    }
)

_BASE_COMPUTED = ("versions", "latestVersion", "catalog")
_MESSAGE_COMPUTED = (*_BASE_COMPUTED, "producers", "consumers", "messageChannels")
_OWNED = (
    "ownedAgents",
    "ownedDomains",
    "ownedServices",
    "ownedEvents",
    "ownedCommands",
    "ownedQueries",
)

#: keys the build computes (and overwrites) per collection
COMPUTED: dict[str, tuple[str, ...]] = {
    **{name: _BASE_COMPUTED for name in STRICT},
    "events": _MESSAGE_COMPUTED,
    "commands": _MESSAGE_COMPUTED,
    "queries": _MESSAGE_COMPUTED,
    "channels": (*_BASE_COMPUTED, "messages"),
    "containers": (
        *_BASE_COMPUTED,
        "services",
        "servicesThatWriteToContainer",
        "servicesThatReadFromContainer",
        "dataProductsThatWriteToContainer",
        "dataProductsThatReadFromContainer",
    ),
    "entities": (*_BASE_COMPUTED, "services", "domains"),
    "teams": _OWNED,
    "users": (*_OWNED, "associatedTeams"),
    "changelogs": _BASE_COMPUTED,
}


def check(collection: str, frontmatter: Mapping[str, Any]) -> list[Issue]:
    """Type and presence problems of one page's frontmatter for one collection."""
    shape = SHAPES.get(collection)
    if shape is None:
        return []
    out: list[Issue] = []
    shape.check(dict(frontmatter), (), None, out)
    return out
