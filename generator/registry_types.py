"""Types of `generated.catalog`, the registry of everything the catalog describes.

The generated registry instantiates these frozen dataclasses as literals, so the runtime, the
notebooks and the sync checks can ask "which services does this system host?" or "who receives
order-created?" without parsing the catalog again. Every record keeps the catalog file it came
from in `source`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ChannelInfo",
    "ContainerInfo",
    "DomainInfo",
    "FlowInfo",
    "FlowStepInfo",
    "MessageInfo",
    "MessageRoute",
    "RelationshipInfo",
    "ServiceInfo",
    "SystemInfo",
]


@dataclass(frozen=True)
class DomainInfo:
    id: str
    name: str
    version: str
    summary: str
    systems: tuple[str, ...]
    services: tuple[str, ...]  # services listed on the domain itself (no system)
    subdomains: tuple[str, ...]
    flows: tuple[str, ...]
    entities: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class RelationshipInfo:
    """A labelled edge from one system to another."""

    target: str
    label: str | None


@dataclass(frozen=True)
class SystemInfo:
    id: str
    name: str
    version: str
    summary: str
    scope: str  # "internal" or "external"
    domain: str | None
    services: tuple[str, ...]
    containers: tuple[str, ...]
    relationships: tuple[RelationshipInfo, ...]
    source: str


@dataclass(frozen=True)
class MessageRoute:
    """One message a service sends or receives, on one channel."""

    message: str  # message id
    version: str
    channel: str | None  # channel id; None when the catalog names none
    address: str  # subject, topic or HTTP path, parameters filled in


@dataclass(frozen=True)
class ServiceInfo:
    id: str
    name: str
    version: str
    summary: str
    system: str | None
    domain: str | None
    host: str | None  # process that runs it: its system, else its domain; None for clients
    external: bool  # belongs to a third party (external system or externalSystem: true)
    client: bool  # only sends requests over HTTP (a storefront, a console)
    sends: tuple[MessageRoute, ...]
    receives: tuple[MessageRoute, ...]
    writes_to: tuple[str, ...]
    reads_from: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class MessageInfo:
    id: str
    name: str
    version: str  # latest version
    versions: tuple[str, ...]  # every version in the catalog, newest first
    kind: str  # "event", "command" or "query"
    summary: str
    module: str  # e.g. "generated.messages.order_created"
    exchange: bool  # request/response pair (`<Name>Request` / `<Name>Response`)
    http: tuple[str, str] | None  # (method, path) when the message is an HTTP operation
    source: str


@dataclass(frozen=True)
class ChannelInfo:
    id: str
    name: str
    version: str
    summary: str
    address: str | None
    protocols: tuple[str, ...]
    delivery_guarantee: str | None
    parameters: tuple[str, ...]
    routes: tuple[str, ...]  # channel ids this channel routes to
    source: str


@dataclass(frozen=True)
class FlowStepInfo:
    id: str
    title: str
    kind: str  # message, service, container, flow, actor, custom or step
    ref: str | None  # id of the resource (or the actor / custom title)
    next: tuple[str, ...]  # step ids
    labels: tuple[str, ...]  # label of each `next` edge ("" when unlabelled)


@dataclass(frozen=True)
class FlowInfo:
    id: str
    name: str
    version: str
    summary: str
    steps: tuple[FlowStepInfo, ...]
    source: str


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    version: str
    summary: str
    type: str  # container_type: database, cache, searchIndex, ...
    technology: str | None
    system: str | None
    authoritative: bool
    tables: tuple[str, ...]  # tables its schema.sql creates
    source: str
