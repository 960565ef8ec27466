"""catalog.py: the registry of domains, systems, services, messages, channels, flows and stores.

Records are the frozen dataclasses of `generator.registry_types`, written out as literals. The
module also maps ids to the generated modules (`SERVICE_MODULES`, `HTTP_MODULES`,
`DATASTORE_MODULES`, `MESSAGE_MODULES`) and says which process hosts which services (`HOSTS`):
a system's process hosts the services of that system; services without a system are hosted per
domain; client services are not hosted.
"""

from __future__ import annotations

from pathlib import Path

from generator._model import Catalog, FlowStep, Service
from generator._render._artifact import Artifact, as_texts
from generator._render._env import TEMPLATES_DIR, one_line, render_template
from generator._render._view import CatalogView, Use
from generator._render.datastores import datastore_file, tables_of
from generator._render.http import has_http_module
from generator._render.services import service_file
from generator.registry_types import (
    ChannelInfo,
    ContainerInfo,
    DomainInfo,
    FlowInfo,
    FlowStepInfo,
    MessageInfo,
    MessageRoute,
    RelationshipInfo,
    ServiceInfo,
    SystemInfo,
)


def _ids(pointers: tuple[object, ...]) -> tuple[str, ...]:
    return tuple(str(getattr(p, "id")) for p in pointers)  # noqa: B009 - Pointer-like


def _route(use: Use) -> MessageRoute:
    return MessageRoute(
        use.message.id, use.message.version, use.binding.channel_id, use.binding.address
    )


def _module(view: CatalogView, file: str) -> str:
    return f"{view.package}." + file.removesuffix(".py").replace("/", ".")


def _host(view: CatalogView, service: Service) -> str | None:
    if view.is_client(service):
        return None
    system = view.system_of(service)
    if system is not None:
        return system.id
    domain = view.domain_of(service)
    return domain.id if domain is not None else service.id


def _step(step: FlowStep) -> FlowStepInfo:
    kind, ref = "step", None
    for candidate in ("message", "service", "container", "flow"):
        pointer = getattr(step, candidate)
        if pointer is not None:
            kind, ref = candidate, pointer.id
            break
    else:
        if step.actor is not None:
            kind, ref = "actor", step.actor
        elif step.custom is not None:
            kind, ref = "custom", step.custom
    return FlowStepInfo(
        id=step.id,
        title=one_line(step.title),
        kind=kind,
        ref=ref,
        next=tuple(link.target for link in step.next),
        labels=tuple(link.label or "" for link in step.next),
    )


def records(view: CatalogView) -> dict[str, object]:
    """Every registry table, keyed by the name it has in the generated module."""
    src = view.source_path
    domains = {
        d.id: DomainInfo(
            d.id,
            d.name,
            d.version,
            one_line(d.summary),
            _ids(d.systems),
            _ids(d.services),
            _ids(d.subdomains),
            _ids(d.flows),
            _ids(d.entities),
            src(d.source.path),
        )
        for d in view.domains
    }
    systems = {}
    for s in view.systems:
        domain = view.domain_of_system(s)
        systems[s.id] = SystemInfo(
            s.id,
            s.name,
            s.version,
            one_line(s.summary),
            s.scope,
            domain.id if domain else None,
            _ids(s.services),
            _ids(s.containers),
            tuple(RelationshipInfo(r.target.id, r.label) for r in s.relationships),
            src(s.source.path),
        )
    services = {}
    hosts: dict[str, list[str]] = {}
    for service in view.services:
        system = view.system_of(service)
        domain = view.domain_of(service)
        host = _host(view, service)
        if host is not None:
            hosts.setdefault(host, []).append(service.id)
        services[service.id] = ServiceInfo(
            service.id,
            service.name,
            service.version,
            one_line(service.summary),
            system.id if system else None,
            domain.id if domain else None,
            host,
            view.is_external(service),
            view.is_client(service),
            tuple(_route(u) for u in view.sends(service)),
            tuple(_route(u) for u in view.receives(service)),
            _ids(service.writes_to),
            _ids(service.reads_from),
            src(service.source.path),
        )
    messages = {}
    message_modules = {}
    for message in view.messages:
        module = _module(view, view.message_file(message))
        message_modules[f"{message.id}@{message.version}"] = module
        if not view.is_latest(message):
            continue
        versions = view.versions(message.id)
        op = message.operation
        messages[message.id] = MessageInfo(
            message.id,
            message.name,
            message.version,
            versions,
            message.kind,
            one_line(message.summary),
            module,
            message.is_exchange,
            (op.method.upper(), op.path) if op else None,
            src(message.source.path),
        )
    channels = {
        c.id: ChannelInfo(
            c.id,
            c.name,
            c.version,
            one_line(c.summary),
            c.address,
            c.protocols,
            c.delivery_guarantee,
            tuple(p.name for p in c.parameters),
            _ids(c.routes),
            src(c.source.path),
        )
        for c in view.channels
    }
    flows = {
        f.id: FlowInfo(
            f.id,
            f.name,
            f.version,
            one_line(f.summary),
            tuple(_step(step) for step in f.steps),
            src(f.source.path),
        )
        for f in view.flows
    }
    container_system: dict[str, str] = {}
    for system in view.systems:
        for pointer in system.containers:
            container_system.setdefault(pointer.id, system.id)
    containers = {
        c.id: ContainerInfo(
            c.id,
            c.name,
            c.version,
            one_line(c.summary),
            c.container_type,
            c.technology,
            container_system.get(c.id),
            c.authoritative,
            tuple(t.name for t in tables_of(c, view)),
            src(c.source.path),
        )
        for c in view.containers
    }
    return {
        "DOMAINS": domains,
        "SYSTEMS": systems,
        "SERVICES": services,
        "MESSAGES": messages,
        "CHANNELS": channels,
        "FLOWS": flows,
        "CONTAINERS": containers,
        "SERVICE_MODULES": {s.id: _module(view, service_file(view, s)) for s in view.services},
        "HTTP_MODULES": {
            s.id: f"{view.package}.http.{service_file(view, s)[len('services/') : -3]}"
            for s in view.services
            if has_http_module(view, s)
        },
        "DATASTORE_MODULES": {
            c.id: _module(view, datastore_file(c)) for c in view.containers if c.sql
        },
        "MESSAGE_MODULES": message_modules,
        "HOSTS": {host: tuple(ids) for host, ids in sorted(hosts.items())},
    }


_TYPES = {
    "DOMAINS": "Mapping[str, DomainInfo]",
    "SYSTEMS": "Mapping[str, SystemInfo]",
    "SERVICES": "Mapping[str, ServiceInfo]",
    "MESSAGES": "Mapping[str, MessageInfo]",
    "CHANNELS": "Mapping[str, ChannelInfo]",
    "FLOWS": "Mapping[str, FlowInfo]",
    "CONTAINERS": "Mapping[str, ContainerInfo]",
    "SERVICE_MODULES": "Mapping[str, str]",
    "HTTP_MODULES": "Mapping[str, str]",
    "DATASTORE_MODULES": "Mapping[str, str]",
    "MESSAGE_MODULES": "Mapping[str, str]",
    "HOSTS": "Mapping[str, tuple[str, ...]]",
}
_DOCS = {
    "DOMAINS": "Domains by id.",
    "SYSTEMS": "Systems by id, with their services, data stores and relationships.",
    "SERVICES": "Services by id: what each sends and receives, and where it is hosted.",
    "MESSAGES": "Latest version of every message by id.",
    "CHANNELS": "Channels by id.",
    "FLOWS": "Flows by id, as steps linked by `next`.",
    "CONTAINERS": "Data stores by id.",
    "SERVICE_MODULES": "Service id -> generated module with its spec, contract and publisher.",
    "HTTP_MODULES": "Service id -> generated module with its FastAPI router.",
    "DATASTORE_MODULES": "Container id -> generated module with its DDL and tables.",
    "MESSAGE_MODULES": "``id@version`` -> generated module of that message version.",
    "HOSTS": "Process (system id, else domain id) -> services it hosts; clients are not hosted.",
}


def build(view: CatalogView, templates: Path = TEMPLATES_DIR) -> list[Artifact]:
    tables = records(view)
    title = view.catalog.config.get("title") if isinstance(view.catalog.config, dict) else None
    text = render_template(
        "catalog.py.j2",
        templates,
        source=view.source_path(""),
        title=str(title) if title else view.root_name,
        tables=[(name, _TYPES[name], _DOCS[name], value) for name, value in tables.items()],
    )
    sources = sorted(
        {
            view.source_path(r.source.path)
            for r in (
                *view.domains,
                *view.systems,
                *view.services,
                *view.messages,
                *view.channels,
                *view.flows,
                *view.containers,
            )
        }
    )
    return [Artifact("catalog.py", text, tuple(sources))]


def render(catalog: Catalog) -> dict[str, str]:
    """catalog.py of `catalog`, unformatted (see `generator._render.render_catalog`)."""
    return as_texts(build(CatalogView(catalog)))
