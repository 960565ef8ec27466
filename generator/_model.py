"""The resolved, immutable model of an EventCatalog folder.

`generator._load` builds it from files; everything after loading (lint, render,
analysis) reads only this model. Every resource keeps the `Source` it came from so
that any problem can be reported as ``path:line``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from generator._problems import Problem
    from generator._resolve import Index, Lookup

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
    "agent",
    "diagram",
    "data-product",
]

#: A location inside a frontmatter or data file: keys and list indexes from the root.
KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Source:
    """Where something was written: a path relative to the catalog root and a 1-based line."""

    path: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Document:
    """One Markdown/MDX file as read: frontmatter with the position of every key, and the body.

    ``collections`` names the EventCatalog collections whose globs match the path (``events``,
    ``services``, ``docs``...); empty for a file EventCatalog never loads.
    """

    path: str  # relative to the catalog root, with forward slashes
    collections: tuple[str, ...]
    frontmatter: Mapping[str, Any] | None  # None when absent or unreadable
    positions: Mapping[KeyPath, tuple[int, int]] = field(default_factory=dict, repr=False)
    body: str = field(default="", repr=False)
    body_line: int = 1  # file line where the body starts
    has_frontmatter: bool = False

    @property
    def is_mdx(self) -> bool:
        return self.path.endswith(".mdx")

    @property
    def is_historical(self) -> bool:
        """EventCatalog treats any path with a folder named like ``versioned`` as an old version."""
        return any("versioned" in part for part in self.path.split("/")[:-1])

    def position(self, *path: str | int) -> tuple[int, int]:
        """(line, column) of ``path`` in the file, or of its nearest written ancestor."""
        key: KeyPath = tuple(path)
        while key:
            found = self.positions.get(key)
            if found is not None:
                return found
            key = key[:-1]
        return self.positions.get((), (1, 1))

    def source(self, *path: str | int) -> Source:
        line, column = self.position(*path)
        return Source(self.path, line, column)


@dataclass(frozen=True)
class SourceFile:
    """A file a page points to (schema, specification, SQL, ``$ref`` target), read once."""

    path: str  # relative to the catalog root
    exists: bool
    text: str | None = field(default=None, repr=False)
    format: str = ""  # json, yaml, sql, avro, protobuf, graphql, or the bare extension
    data: Any = field(default=None, repr=False)  # parsed JSON/YAML; None when absent or invalid
    error: str | None = None  # why it could not be read or parsed
    error_line: int = 1
    error_column: int = 1


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
    triggers: tuple[Pointer, ...] = ()  # receives only: messages emitted in response
    fields: tuple[str, ...] = ()
    group: str | None = None


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
    hidden: bool = False
    document: Document | None = field(default=None, compare=False, repr=False)

    @property
    def frontmatter(self) -> Mapping[str, Any]:
        """The frontmatter as written (empty when the resource was built without a document)."""
        return (self.document.frontmatter if self.document else None) or {}

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
    schema_format: str | None = None  # jsonschema, avro, protobuf, yaml... (from the extension)
    channels: tuple[
        ChannelUse, ...
    ] = ()  # legacy message-level channels (EventCatalog migrates them)

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
    flows: tuple[Pointer, ...] = ()


@dataclass(frozen=True)
class ChannelParameter:
    name: str
    description: str = ""
    enum: tuple[str, ...] = ()
    default: str | None = None
    examples: tuple[str, ...] = ()


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
    sends: tuple[MessageUse, ...] = ()
    receives: tuple[MessageUse, ...] = ()
    specifications: tuple[Specification, ...] = ()


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
    agent: Pointer | None = None
    data_product: Pointer | None = None
    external_system: str | None = None  # name; drawn beside the node, not a node kind


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
    enum: tuple[str, ...] = ()
    properties: tuple[EntityProperty, ...] = ()  # nested object properties
    items_type: str | None = None  # element type of an array property


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
    kind: Literal["team", "user"] = "team"
    email: str | None = None
    document: Document | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Doc:
    """A custom documentation page under ``docs/``."""

    title: str
    summary: str
    source: Source
    body: str = ""


_K = TypeVar("_K", bound=Resource)


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
    agents: tuple[Resource, ...] = ()
    diagrams: tuple[Resource, ...] = ()
    data_products: tuple[Resource, ...] = ()
    docs: tuple[Doc, ...] = ()
    #: every Markdown/MDX file found, loaded by EventCatalog or not, sorted by path
    documents: tuple[Document, ...] = field(default=(), repr=False)
    #: files pages point to (schemas, specifications, SQL, ``$ref`` targets) by relative path
    files: Mapping[str, SourceFile] = field(default_factory=dict, repr=False)
    #: problems found while reading (unreadable files, broken YAML); `lint` reports them too
    problems: tuple[Problem, ...] = field(default=(), repr=False)

    def resources(self) -> Iterator[Resource]:
        """Every versioned resource, in a stable order (kind, then path)."""
        yield from self.domains
        yield from self.systems
        yield from self.services
        yield from self.messages
        yield from self.channels
        yield from self.flows
        yield from self.containers
        yield from self.entities
        yield from self.adrs
        yield from self.agents
        yield from self.diagrams
        yield from self.data_products

    @cached_property
    def index(self) -> Index[Resource]:
        """Versions by kind and id, newest first (see `generator._resolve.Index`)."""
        from generator._resolve import Index

        return Index(self.resources())

    def lookup(self, kind: str, id: str, version: str | None = None) -> Lookup[Resource]:
        """Resolve ``{id, version}`` among resources of ``kind`` ("event" covers every message)."""
        return self.index.lookup(kind, id, version)

    def resolve(self, pointer: Pointer, kind: str) -> Resource | None:
        """The resource a pointer means, or None when it resolves to nothing."""
        return self.index.resolve(kind, pointer.id, pointer.version)

    def versions(self, kind: str, id: str) -> list[Resource]:
        """Every version of one resource, newest first."""
        return self.index.versions(kind, id)

    def latest(self, kind: str, id: str) -> Resource | None:
        """The highest version of one resource (EventCatalog's "latest")."""
        return self.index.latest(kind, id)

    def _typed(self, cls: type[_K], kind: str, pointer: Pointer | str) -> _K | None:
        if isinstance(pointer, str):
            pointer = Pointer(pointer)
        found = self.resolve(pointer, kind)
        return found if isinstance(found, cls) else None

    def message(self, pointer: Pointer | str) -> Message | None:
        """Resolve a message pointer (or a bare id: latest) across events, commands and queries."""
        return self._typed(Message, "event", pointer)

    def service(self, pointer: Pointer | str) -> Service | None:
        return self._typed(Service, "service", pointer)

    def channel(self, pointer: Pointer | str) -> Channel | None:
        return self._typed(Channel, "channel", pointer)

    def container(self, pointer: Pointer | str) -> Container | None:
        return self._typed(Container, "container", pointer)

    def system(self, pointer: Pointer | str) -> System | None:
        return self._typed(System, "system", pointer)

    def domain(self, pointer: Pointer | str) -> Domain | None:
        return self._typed(Domain, "domain", pointer)

    def owner(self, id: str) -> Team | None:
        """A team or user by id; a team wins a clash, as in EventCatalog."""
        for owner in (*self.teams, *self.users):
            if owner.id == id:
                return owner
        return None

    def _current(self, items: tuple[_K, ...]) -> list[_K]:
        return [r for r in items if self.latest(r.kind, r.id) is r]

    def system_of(self, service: Service) -> System | None:
        """The (latest) system whose ``services`` resolves to this service, if any."""
        for system in self._current(self.systems):
            if any(self.resolve(p, "service") is service for p in system.services):
                return system
        return None

    def domain_of(self, resource: Resource) -> Domain | None:
        """The (latest) domain listing the resource, directly or through one of its systems.

        A subdomain wins over its parent, being the more specific answer.
        """
        kind = "service" if isinstance(resource, Service) else resource.kind
        system = self.system_of(resource) if isinstance(resource, Service) else None
        found: list[Domain] = []
        for domain in self._current(self.domains):
            members = {
                "service": domain.services,
                "system": domain.systems,
                "entity": domain.entities,
                "flow": domain.flows,
                "domain": domain.subdomains,
            }.get(kind, ())
            if any(self.resolve(p, kind) is resource for p in members) or (
                system is not None
                and any(self.resolve(p, "system") is system for p in domain.systems)
            ):
                found.append(domain)
        if not found:
            return None
        subdomain_ids = {p.id for d in self._current(self.domains) for p in d.subdomains}
        found.sort(key=lambda d: (d.id not in subdomain_ids, d.id))
        return found[0]

    def _users_of(
        self, message: Message, direction: Literal["sends", "receives"]
    ) -> list[Resource]:
        users: list[Resource] = []
        for owner in (*self._current(self.services), *self._current(self.domains)):
            uses: tuple[MessageUse, ...] = getattr(owner, direction)
            if any(self.resolve(u.message, "event") is message for u in uses):
                users.append(owner)
        return users

    def producers(self, message: Message) -> list[Resource]:
        """Latest services and domains whose ``sends`` resolves to this exact message version."""
        return self._users_of(message, "sends")

    def consumers(self, message: Message) -> list[Resource]:
        """Latest services and domains whose ``receives`` resolves to this exact message version."""
        return self._users_of(message, "receives")
