"""The resolved, immutable model of an EventCatalog folder.

`generator._load` builds it from files; everything after loading (lint, render,
analysis) reads only this model. Every resource keeps the `Source` it came from so
that any problem can be reported as ``path:line``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

MessageKind = Literal["event", "command", "query"]
ResourceKind = Literal[
    "domain",
    "system",
    "service",
    "event",
    "command",
    "query",
    "channel",
    "flow",
    "container",
    "entity",
    "adr",
    "team",
    "user",
    "doc",
]


@dataclass(frozen=True, order=True)
class Source:
    """Where something was written: a path relative to the catalog root and a 1-based line."""

    path: str
    line: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Pointer:
    """A reference as authored (``{id, version?}``), before or after resolution."""

    id: str
    version: str = "latest"
    source: Source = Source("", 1)


@dataclass(frozen=True)
class ChannelUse:
    """A ``to``/``from`` entry on a send or receive: a channel pointer plus parameter values."""

    channel: Pointer
    parameters: tuple[tuple[str, str], ...] = ()
    delivery_mode: str | None = None


@dataclass(frozen=True)
class MessageUse:
    """One entry of a service's ``sends`` or ``receives``."""

    message: Pointer
    channels: tuple[ChannelUse, ...] = ()
    source: Source = Source("", 1)


@dataclass(frozen=True)
class Resource:
    """Fields shared by every versioned resource page."""

    kind: ResourceKind
    id: str
    name: str
    version: str
    source: Source
    summary: str = ""
    body: str = ""  # markdown body, frontmatter removed
    owners: tuple[str, ...] = ()
    badges: tuple[str, ...] = ()  # badge contents
    extensions: tuple[tuple[str, Any], ...] = ()  # x- keys in file order
    is_latest: bool = True  # False for files under versioned/
    deprecated: bool = False
    draft: bool = False

    @property
    def folder(self) -> str:
        """Folder of the page, relative to the catalog root."""
        return str(Path(self.source.path).parent)


@dataclass(frozen=True)
class HttpOperation:
    """A message's ``operation`` field (HTTP metadata)."""

    method: str
    path: str
    status_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Message(Resource):
    schema_path: str | None = None  # relative to the catalog root, None when not declared
    schema: dict[str, Any] | None = None  # parsed JSON Schema, None when missing or invalid
    operation: HttpOperation | None = None

    @property
    def is_exchange(self) -> bool:
        """True when the schema describes a request/response pair (top-level request + response)."""
        props = (self.schema or {}).get("properties", {})
        return isinstance(props, dict) and set(props) == {"request", "response"}


@dataclass(frozen=True)
class Specification:
    type: Literal["openapi", "asyncapi", "graphql"]
    path: str  # relative to the catalog root
    name: str | None = None
    document: dict[str, Any] | None = None  # parsed document, None when missing or invalid


@dataclass(frozen=True)
class Service(Resource):
    sends: tuple[MessageUse, ...] = ()
    receives: tuple[MessageUse, ...] = ()
    writes_to: tuple[Pointer, ...] = ()
    reads_from: tuple[Pointer, ...] = ()
    entities: tuple[Pointer, ...] = ()
    specifications: tuple[Specification, ...] = ()
    external: bool = False


@dataclass(frozen=True)
class ChannelParameter:
    name: str
    description: str = ""
    enum: tuple[str, ...] = ()
    default: str | None = None


@dataclass(frozen=True)
class Channel(Resource):
    address: str | None = None
    protocols: tuple[str, ...] = ()
    delivery_guarantee: str | None = None
    parameters: tuple[ChannelParameter, ...] = ()
    routes: tuple[Pointer, ...] = ()


@dataclass(frozen=True)
class Relationship:
    target: Pointer
    label: str | None = None


@dataclass(frozen=True)
class System(Resource):
    scope: Literal["internal", "external"] = "internal"
    services: tuple[Pointer, ...] = ()
    containers: tuple[Pointer, ...] = ()
    flows: tuple[Pointer, ...] = ()
    entities: tuple[Pointer, ...] = ()
    relationships: tuple[Relationship, ...] = ()


@dataclass(frozen=True)
class Domain(Resource):
    systems: tuple[Pointer, ...] = ()
    services: tuple[Pointer, ...] = ()
    entities: tuple[Pointer, ...] = ()
    flows: tuple[Pointer, ...] = ()
    subdomains: tuple[Pointer, ...] = ()


@dataclass(frozen=True)
class FlowLink:
    target: str  # step id
    label: str | None = None


@dataclass(frozen=True)
class FlowStep:
    id: str
    title: str
    source: Source
    summary: str = ""
    # exactly one of the following is set (or none, for a bare step)
    message: Pointer | None = None
    service: Pointer | None = None
    container: Pointer | None = None
    flow: Pointer | None = None
    actor: str | None = None
    custom: str | None = None
    next: tuple[FlowLink, ...] = ()


@dataclass(frozen=True)
class Flow(Resource):
    steps: tuple[FlowStep, ...] = ()


@dataclass(frozen=True)
class Table:
    """A table of a data store, as declared by its SQL file."""

    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Container(Resource):
    container_type: str = "other"
    technology: str | None = None
    authoritative: bool = False
    access_mode: str | None = None
    classification: str | None = None
    retention: str | None = None
    residency: str | None = None
    sql_path: str | None = None  # schema.sql next to the page, relative to the catalog root
    sql: str | None = None


@dataclass(frozen=True)
class EntityProperty:
    name: str
    type: str
    required: bool = False
    description: str = ""
    references: str | None = None
    relation_type: str | None = None


@dataclass(frozen=True)
class Entity(Resource):
    identifier: str | None = None
    aggregate_root: bool = False
    properties: tuple[EntityProperty, ...] = ()


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    source: Source
    summary: str = ""
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalog:
    """Every resource of one catalog folder, latest and historical versions alike.

    Lookups resolve pointers the way EventCatalog 4.x does: ``latest`` (or no version)
    is the highest version, an exact string matches exactly, a semver range picks the
    highest satisfying version. Message ids share one namespace across kinds.
    """

    root: Path
    domains: tuple[Domain, ...] = ()
    systems: tuple[System, ...] = ()
    services: tuple[Service, ...] = ()
    messages: tuple[Message, ...] = ()
    channels: tuple[Channel, ...] = ()
    flows: tuple[Flow, ...] = ()
    containers: tuple[Container, ...] = ()
    entities: tuple[Entity, ...] = ()
    adrs: tuple[Resource, ...] = ()
    teams: tuple[Team, ...] = ()
    users: tuple[Team, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
