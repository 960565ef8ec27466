"""`CatalogExplorer`: questions about a catalog answered as small result objects.

Reads only the resolved model (`generator._model.Catalog`); files are read by `load_catalog`
and other git revisions come from `git archive`. Lookups use the latest version of each
resource, the way EventCatalog resolves a pointer without a version.
"""

from __future__ import annotations

import difflib
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from generator._breaking import BreakingChange, compare, latest_by_id, version_key
from generator._model import (
    Catalog,
    ChannelUse,
    Domain,
    Flow,
    FlowStep,
    Message,
    Resource,
    Service,
)
from generator.analyst._diagrams import Diagram, Edge, Node
from generator.analyst._results import DiagramView, Table
from generator.analyst._schema import FIELD_COLUMNS, schema_rows

__all__ = [
    "CatalogExplorer",
    "DomainView",
    "FlowView",
    "MessageChanges",
    "NotInCatalog",
    "SystemsMap",
    "open_catalog",
]

R = TypeVar("R", bound=Resource)

# Node colours by kind, shared by the flow diagrams and the systems map.
_COLORS = {
    "event": "#dff3e4",
    "command": "#dbe9fb",
    "query": "#fdf1d6",
    "service": "#eef0f3",
    "container": "#f3e8fd",
    "actor": "#ffffff",
    "flow": "#e8f4f8",
    "custom": "#fffbe6",
    "internal": "#e8eef7",
    "external": "#f5f5f5",
}


class NotInCatalog(LookupError):
    """No resource of that kind and id (the message lists close matches)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not in the catalog"


def _find(kind: str, wanted: str, resources: Mapping[str, R]) -> R:
    """By id, else by name (case-insensitive), else a `NotInCatalog` naming close ids."""
    if wanted in resources:
        return resources[wanted]
    folded = wanted.casefold()
    for resource in resources.values():
        if resource.id.casefold() == folded or resource.name.casefold() == folded:
            return resource
    close = difflib.get_close_matches(wanted, list(resources), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise NotInCatalog(f"no {kind} {wanted!r} in the catalog{hint}")


class CatalogExplorer:
    """Answers analysts' questions about one catalog.

    Args:
        catalog: the resolved model, as returned by `generator._load.load_catalog`.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.model = catalog
        self._domains = latest_by_id(catalog.domains)
        self._systems = latest_by_id(catalog.systems)
        self._services = latest_by_id(catalog.services)
        self._messages = latest_by_id(catalog.messages)
        self._channels = latest_by_id(catalog.channels)
        self._flows = latest_by_id(catalog.flows)
        self._containers = latest_by_id(catalog.containers)
        self._system_of: dict[str, str] = {}
        for system in self._systems.values():
            for pointer in system.services:
                self._system_of.setdefault(pointer.id, system.id)
        self._domain_of: dict[str, str] = {}  # system or service id -> domain id
        for domain in self._domains.values():
            for pointer in (*domain.systems, *domain.services):
                self._domain_of.setdefault(pointer.id, domain.id)

    def __repr__(self) -> str:
        return (
            f"<CatalogExplorer {self.model.root}: {len(self._domains)} domains, "
            f"{len(self._systems)} systems, {len(self._services)} services, "
            f"{len(self._messages)} messages, {len(self._flows)} flows>"
        )

    def summary(self) -> Table:
        """How many resources of each kind the catalog holds (latest versions)."""
        counts = [
            ("domains", len(self._domains)),
            ("systems", len(self._systems)),
            ("services", len(self._services)),
            ("messages", len(self._messages)),
            ("channels", len(self._channels)),
            ("flows", len(self._flows)),
            ("data stores", len(self._containers)),
        ]
        return Table(f"Catalog {self.model.root}", ("kind", "count"), counts)

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    # --- small helpers ----------------------------------------------------------------

    def _service_domain(self, service_id: str) -> str | None:
        if service_id in self._domain_of:
            return self._domain_of[service_id]
        system = self._system_of.get(service_id)
        return self._domain_of.get(system) if system else None

    def _channel_text(self, use: ChannelUse) -> str:
        channel = self._channels.get(use.channel.id)
        address = channel.address if channel is not None else None
        if address:
            for name, value in use.parameters:
                address = address.replace("{" + name + "}", value)
            return f"{use.channel.id} ({address})"
        return use.channel.id

    def _message(self, message: Message | str) -> Message:
        if isinstance(message, Message):
            return message
        return _find("message", message, self._messages)

    def _senders_of(self, message_id: str) -> list[Service]:
        return [
            s for s in self._services.values() if any(u.message.id == message_id for u in s.sends)
        ]

    def _receivers_of(self, message_id: str) -> list[Service]:
        return [
            s
            for s in self._services.values()
            if any(u.message.id == message_id for u in s.receives)
        ]

    # --- listings ---------------------------------------------------------------------

    def domains(self) -> Table:
        """Every domain with its systems, services and owners."""
        rows = [
            (
                d.id,
                d.name,
                [p.id for p in d.systems],
                [p.id for p in d.services],
                list(d.owners),
                d.summary,
            )
            for d in sorted(self._domains.values(), key=lambda d: d.id)
        ]
        return Table(
            "Domains", ("domain", "name", "systems", "services", "owners", "summary"), rows
        )

    def systems(self) -> Table:
        """Every system with its domain, scope, services and data stores."""
        rows = [
            (
                s.id,
                s.name,
                self._domain_of.get(s.id, ""),
                s.scope,
                [p.id for p in s.services],
                [p.id for p in s.containers],
                list(s.owners),
            )
            for s in sorted(self._systems.values(), key=lambda s: s.id)
        ]
        return Table(
            "Systems",
            ("system", "name", "domain", "scope", "services", "data stores", "owners"),
            rows,
        )

    def services(self) -> Table:
        """Every service: where it sits, what it sends and receives, and its data stores."""
        rows = [
            (
                s.id,
                s.name,
                self._system_of.get(s.id, ""),
                self._service_domain(s.id) or "",
                sorted({u.message.id for u in s.sends}),
                sorted({u.message.id for u in s.receives}),
                [p.id for p in s.writes_to],
                [p.id for p in s.reads_from],
                list(s.owners),
            )
            for s in sorted(self._services.values(), key=lambda s: s.id)
        ]
        return Table(
            "Services",
            (
                "service",
                "name",
                "system",
                "domain",
                "sends",
                "receives",
                "writes to",
                "reads from",
                "owners",
            ),
            rows,
        )

    def messages(self, kind: str | None = None) -> Table:
        """Every message (or only events, commands or queries) with its senders and receivers."""
        if kind is not None and kind not in ("event", "command", "query"):
            raise ValueError(f"kind {kind!r}: use event, command or query")
        rows = [
            (
                m.id,
                m.kind,
                m.name,
                m.version,
                [s.id for s in self._senders_of(m.id)],
                [s.id for s in self._receivers_of(m.id)],
                m.summary,
            )
            for m in sorted(self._messages.values(), key=lambda m: m.id)
            if kind is None or m.kind == kind
        ]
        title = "Messages" if kind is None else f"Messages ({kind}s)"
        return Table(
            title, ("message", "kind", "name", "version", "senders", "receivers", "summary"), rows
        )

    def flows(self) -> Table:
        """Every flow with its number of steps."""
        rows = [
            (f.id, f.name, f.version, len(f.steps), f.summary)
            for f in sorted(self._flows.values(), key=lambda f: f.id)
        ]
        return Table("Flows", ("flow", "name", "version", "steps", "summary"), rows)

    def channels(self) -> Table:
        """Every channel with its address, protocols and delivery guarantee."""
        rows = [
            (c.id, c.address or "", list(c.protocols), c.delivery_guarantee or "")
            for c in sorted(self._channels.values(), key=lambda c: c.id)
        ]
        return Table("Channels", ("channel", "address", "protocols", "delivery"), rows)

    def datastores(self) -> Table:
        """Every data store (container) with its type, technology and system."""
        owner: dict[str, str] = {}
        for system in self._systems.values():
            for pointer in system.containers:
                owner.setdefault(pointer.id, system.id)
        rows = [
            (
                c.id,
                c.name,
                c.container_type,
                c.technology or "",
                owner.get(c.id, ""),
                c.authoritative,
                c.classification or "",
            )
            for c in sorted(self._containers.values(), key=lambda c: c.id)
        ]
        return Table(
            "Data stores",
            (
                "datastore",
                "name",
                "type",
                "technology",
                "system",
                "authoritative",
                "classification",
            ),
            rows,
        )

    # --- questions --------------------------------------------------------------------

    def message(self, message: str) -> Message:
        """The model of a message's latest version (id or name), e.g. for its ``schema_path``."""
        return self._message(message)

    def senders(self, message: Message | str) -> Table:
        """The services that send a message, with the channels they send it on."""
        found = self._message(message)
        return self._participants(f"Senders of {found.kind} {found.id}", found, "sends")

    def receivers(self, message: Message | str) -> Table:
        """The services that receive a message, with the channels they receive it from."""
        found = self._message(message)
        return self._participants(f"Receivers of {found.kind} {found.id}", found, "receives")

    def _participants(self, title: str, message: Message, side: str) -> Table:
        rows = []
        for service in sorted(self._services.values(), key=lambda s: s.id):
            uses = service.sends if side == "sends" else service.receives
            channels = [
                self._channel_text(channel)
                for use in uses
                if use.message.id == message.id
                for channel in use.channels
            ]
            if any(use.message.id == message.id for use in uses):
                rows.append(
                    (
                        service.id,
                        service.name,
                        self._system_of.get(service.id, ""),
                        self._service_domain(service.id) or "",
                        channels,
                    )
                )
        return Table(title, ("service", "name", "system", "domain", "channels"), rows)

    def schema(self, message: Message | str, version: str | None = None) -> Table:
        """The fields of a message's JSON Schema, one row per field (nested ones dotted)."""
        found = self._message(message)
        if version is not None and version != found.version:
            matches = [m for m in self.model.messages if m.id == found.id and m.version == version]
            if not matches:
                versions = sorted(
                    (m.version for m in self.model.messages if m.id == found.id), key=version_key
                )
                raise NotInCatalog(
                    f"{found.kind} {found.id!r} has no version {version!r}; "
                    f"versions: {', '.join(versions)}"
                )
            found = matches[0]
        title = f"Schema of {found.kind} {found.id} {found.version}"
        if found.schema is None:
            return Table(f"{title} (no readable schema)", FIELD_COLUMNS, [])
        return Table(title, FIELD_COLUMNS, schema_rows(found.schema))

    def flow(self, flow: str) -> FlowView:
        """A flow's steps (table) and diagram."""
        return FlowView(self, _find("flow", flow, self._flows))

    def domain(self, domain: str) -> DomainView:
        """What a domain owns: systems, services, messages, data stores, entities and flows."""
        return DomainView(self, _find("domain", domain, self._domains))

    def datastores_touched_by(self, flow: Flow | str) -> Table:
        """The data stores a flow touches: its container steps, and the stores that the
        services of its service steps write to or read from (nested flows included)."""
        found = flow if isinstance(flow, Flow) else _find("flow", flow, self._flows)
        access: dict[str, set[str]] = {}
        via: dict[str, set[str]] = {}

        def touch(container_id: str, how: str, who: str) -> None:
            access.setdefault(container_id, set()).add(how)
            via.setdefault(container_id, set()).add(who)

        for step in self._steps(found, set()):
            if step.container is not None:
                touch(step.container.id, "step", f"step {step.id}")
            if step.service is not None and step.service.id in self._services:
                service = self._services[step.service.id]
                for pointer in service.writes_to:
                    touch(pointer.id, "write", service.id)
                for pointer in service.reads_from:
                    touch(pointer.id, "read", service.id)
        rows = []
        for cid in sorted(access):
            container = self._containers.get(cid)
            rows.append(
                (
                    cid,
                    container.name if container else "(not in catalog)",
                    container.container_type if container else "",
                    (container.technology or "") if container else "",
                    sorted(access[cid]),
                    sorted(via[cid]),
                )
            )
        return Table(
            f"Data stores touched by flow {found.id}",
            ("datastore", "name", "type", "technology", "access", "via"),
            rows,
        )

    def _steps(self, flow: Flow, seen: set[str]) -> list[FlowStep]:
        """The flow's steps followed by those of the flows it embeds (each flow once)."""
        if flow.id in seen:
            return []
        seen.add(flow.id)
        steps = list(flow.steps)
        for step in flow.steps:
            if step.flow is not None and step.flow.id in self._flows:
                steps.extend(self._steps(self._flows[step.flow.id], seen))
        return steps

    def systems_map(self, *, messages: bool = False) -> SystemsMap:
        """Systems grouped by domain with their relationships; `messages=True` adds dashed
        edges for messages sent from one system's services to another's."""
        return SystemsMap(self, messages=messages)

    def messages_changed(self, other: CatalogExplorer | Catalog | str | Path) -> MessageChanges:
        """Messages added, removed or changed since `other`: another explorer or model, a
        catalog folder, or a git revision of this catalog (``"HEAD~1"``, ``"main"``)."""
        if isinstance(other, CatalogExplorer):
            old, label = other.model, str(other.model.root)
        elif isinstance(other, Catalog):
            old, label = other, str(other.root)
        else:
            from generator._cmd_breaking import AgainstError, load_against

            try:
                old = load_against(str(other), self.model.root)
            except AgainstError as exc:
                raise ValueError(str(exc)) from exc
            label = str(other)
        return MessageChanges(label, old, self.model)


def _step_kind(step: FlowStep, messages: Mapping[str, Message]) -> tuple[str, str]:
    """(kind, target id) of a flow step."""
    if step.message is not None:
        found = messages.get(step.message.id)
        return (found.kind if found else "message"), step.message.id
    if step.service is not None:
        return "service", step.service.id
    if step.container is not None:
        return "container", step.container.id
    if step.flow is not None:
        return "flow", step.flow.id
    if step.actor is not None:
        return "actor", step.actor
    if step.custom is not None:
        return "custom", step.custom
    return "step", ""


_STEP_SHAPES: dict[str, Any] = {
    "event": "rounded",
    "command": "rounded",
    "query": "rounded",
    "message": "rounded",
    "service": "box",
    "container": "cylinder",
    "flow": "folder",
    "actor": "ellipse",
    "custom": "note",
    "step": "box",
}


class FlowView(DiagramView):
    """A flow: `.steps` (a table) and `.diagram`; shows both in Jupyter."""

    def __init__(self, explorer: CatalogExplorer, flow: Flow) -> None:
        self.flow = flow
        self.id = flow.id
        self.name = flow.name
        rows = []
        diagram = Diagram(f"Flow: {flow.name}", direction="LR")
        known = {step.id for step in flow.steps}
        for step in flow.steps:
            kind, target = _step_kind(step, explorer._messages)
            nexts = [f"{n.target} ({n.label})" if n.label else n.target for n in step.next]
            rows.append((step.id, step.title, kind, target, nexts))
            label = f"{step.title}\n{kind} {target}".strip() if target else step.title
            diagram.nodes.append(
                Node(
                    step.id,
                    label,
                    shape=_STEP_SHAPES.get(kind, "box"),
                    color=_COLORS.get(kind, "#ffffff"),
                    dashed=kind == "step",
                )
            )
            diagram.edges.extend(
                Edge(step.id, n.target, n.label) for n in step.next if n.target in known
            )
        self.steps = Table(
            f"Steps of flow {flow.id}", ("step", "title", "kind", "target", "next"), rows
        )
        super().__init__(f"Flow {flow.id}: {flow.name}", diagram, [self.steps])

    @property
    def messages(self) -> list[str]:
        """Ids of the messages the flow's steps carry, in step order."""
        return [row["target"] for row in self.steps if row["kind"] in ("event", "command", "query")]

    @property
    def services(self) -> list[str]:
        """Ids of the services that appear as steps, in step order."""
        return [row["target"] for row in self.steps if row["kind"] == "service"]


class DomainView:
    """What a domain owns. `.owns` is a table of (kind, id, name, version); `.systems`,
    `.services`, `.messages`, `.datastores`, `.entities` and `.flows` are lists of ids."""

    def __init__(self, explorer: CatalogExplorer, domain: Domain) -> None:
        self.domain = domain
        self.id = domain.id
        self.name = domain.name
        systems = [explorer._systems[p.id] for p in domain.systems if p.id in explorer._systems]
        service_ids = [p.id for p in domain.services]
        for system in systems:
            service_ids.extend(p.id for p in system.services)
        services = [
            explorer._services[s] for s in dict.fromkeys(service_ids) if s in explorer._services
        ]
        messages = _owned_messages(explorer, services)
        container_ids = [p.id for s in systems for p in s.containers]
        container_ids += [p.id for s in services for p in s.writes_to]
        containers = [
            explorer._containers[c]
            for c in dict.fromkeys(container_ids)
            if c in explorer._containers
        ]
        flow_ids = [p.id for p in domain.flows] + [p.id for s in systems for p in s.flows]
        flows = [explorer._flows[f] for f in dict.fromkeys(flow_ids) if f in explorer._flows]
        entity_ids = [p.id for p in domain.entities] + [p.id for s in systems for p in s.entities]

        self.systems = [s.id for s in systems]
        self.services = [s.id for s in services]
        self.messages = [m.id for m in messages]
        self.datastores = [c.id for c in containers]
        self.flows = [f.id for f in flows]
        self.entities = list(dict.fromkeys(entity_ids))
        entities = latest_by_id(explorer.model.entities)
        rows: list[tuple[str, str, str, str]] = []
        for kind, group in (
            ("system", systems),
            ("service", services),
            ("message", messages),
            ("datastore", containers),
            ("flow", flows),
        ):
            for resource in group:
                label = resource.kind if kind == "message" else kind
                rows.append((label, resource.id, resource.name, resource.version))
        for eid in self.entities:
            entity = entities.get(eid)
            rows.append(
                ("entity", eid, entity.name if entity else "", entity.version if entity else "")
            )
        self.owns = Table(f"Owned by domain {domain.id}", ("kind", "id", "name", "version"), rows)

    def __repr__(self) -> str:
        return f"Domain {self.id} ({self.name})\n{self.owns!r}"

    def _repr_html_(self) -> str:
        return self.owns._repr_html_()


def _owned_messages(explorer: CatalogExplorer, services: Sequence[Service]) -> list[Message]:
    """Messages documented under one of the services' folders (the owning service), plus the
    messages they send that live outside every service folder."""
    all_services = list(explorer._services.values())
    ids = {s.id for s in services}
    owned: list[Message] = []
    for message in sorted(explorer._messages.values(), key=lambda m: m.id):
        home = _home_service(message, all_services)
        if home is not None:
            if home.id in ids:
                owned.append(message)
        elif any(u.message.id == message.id for s in services for u in s.sends):
            owned.append(message)
    return owned


def _home_service(message: Message, services: Iterable[Service]) -> Service | None:
    folder = message.folder + "/"
    best: Service | None = None
    for service in services:
        prefix = service.folder + "/"
        if folder.startswith(prefix) and (best is None or len(prefix) > len(best.folder) + 1):
            best = service
    return best


class SystemsMap(DiagramView):
    """Systems (grouped by domain) and their relationships: `.nodes`, `.edges`, `.diagram`."""

    def __init__(self, explorer: CatalogExplorer, *, messages: bool) -> None:
        diagram = Diagram("Systems map", direction="LR")
        node_rows: list[tuple[str, str, str, str]] = []
        for system in sorted(explorer._systems.values(), key=lambda s: s.id):
            domain_id = explorer._domain_of.get(system.id)
            domain = explorer._domains.get(domain_id) if domain_id else None
            external = system.scope == "external"
            diagram.nodes.append(
                Node(
                    system.id,
                    system.name,
                    shape="box",
                    color=_COLORS["external" if external else "internal"],
                    dashed=external,
                    cluster=domain.name if domain and not external else None,
                )
            )
            node_rows.append((system.id, system.name, domain_id or "", system.scope))
        # Domains without systems (Reviews) show their services directly.
        for domain in sorted(explorer._domains.values(), key=lambda d: d.id):
            for pointer in domain.services:
                service = explorer._services.get(pointer.id)
                if service is None or service.id in explorer._system_of:
                    continue
                diagram.nodes.append(
                    Node(
                        service.id,
                        service.name,
                        shape="component",
                        color=_COLORS["service"],
                        cluster=domain.name,
                    )
                )
                node_rows.append((service.id, service.name, domain.id, "service"))
        edge_rows = []
        for system in sorted(explorer._systems.values(), key=lambda s: s.id):
            for rel in system.relationships:
                diagram.edges.append(Edge(system.id, rel.target.id, rel.label))
                edge_rows.append((system.id, rel.target.id, rel.label or "", "relationship"))
        if messages:
            drawn = {node.id for node in diagram.nodes}
            for (source, target), carried in sorted(_message_edges(explorer).items()):
                for end in (source, target):
                    if end not in drawn:  # a service outside every system (a client)
                        drawn.add(end)
                        name = explorer._services[end].name if end in explorer._services else end
                        diagram.nodes.append(
                            Node(
                                end, name, shape="component", color=_COLORS["service"], dashed=True
                            )
                        )
                label = f"{len(carried)} message{'s' if len(carried) > 1 else ''}"
                diagram.edges.append(Edge(source, target, label, dashed=True))
                edge_rows.append((source, target, ", ".join(sorted(carried)), "messages"))
        self.nodes = Table("Systems", ("id", "name", "domain", "scope"), node_rows)
        self.edges = Table("Relationships", ("from", "to", "label", "kind"), edge_rows)
        super().__init__("Systems map", diagram, [self.edges])


def _message_edges(explorer: CatalogExplorer) -> dict[tuple[str, str], set[str]]:
    """(sending system, receiving system) -> ids of the messages between them."""

    def place(service_id: str) -> str:
        return explorer._system_of.get(service_id, service_id)

    edges: dict[tuple[str, str], set[str]] = {}
    for message in explorer._messages.values():
        for sender in explorer._senders_of(message.id):
            for receiver in explorer._receivers_of(message.id):
                source, target = place(sender.id), place(receiver.id)
                if source != target:
                    edges.setdefault((source, target), set()).add(message.id)
    return edges


class MessageChanges(Table):
    """Messages added, removed or changed between two catalogs, with the breaking rules each
    change triggers. `.breaking` holds every breaking change (services and channels too)."""

    def __init__(self, label: str, old: Catalog, new: Catalog) -> None:
        self.breaking: list[BreakingChange] = compare(old, new)
        by_message: dict[str, set[str]] = {}
        for change in self.breaking:
            if change.resource_kind in ("event", "command", "query"):
                by_message.setdefault(change.resource_id, set()).add(change.rule)
        old_messages, new_messages = latest_by_id(old.messages), latest_by_id(new.messages)
        old_links, new_links = _links(old), _links(new)
        rows: list[tuple[str, str, str, str, str, str, list[str]]] = []
        for mid in sorted(set(old_messages) | set(new_messages)):
            before, after = old_messages.get(mid), new_messages.get(mid)
            if before is None and after is not None:
                rows.append((mid, after.kind, "added", "", after.version, "", []))
                continue
            if after is None and before is not None:
                rows.append(
                    (
                        mid,
                        before.kind,
                        "removed",
                        before.version,
                        "",
                        "",
                        sorted(by_message.get(mid, ())),
                    )
                )
                continue
            assert before is not None and after is not None
            what = _what_changed(before, after, old_links.get(mid), new_links.get(mid))
            if what:
                rows.append(
                    (
                        mid,
                        after.kind,
                        "changed",
                        before.version,
                        after.version,
                        what,
                        sorted(by_message.get(mid, ())),
                    )
                )
        super().__init__(
            f"Messages changed since {label}",
            ("message", "kind", "change", "old version", "new version", "what", "breaking"),
            rows,
        )

    @property
    def breaking_table(self) -> Table:
        """Every breaking change as a table (path, line, rule, message)."""
        return Table(
            "Breaking changes",
            ("path", "line", "rule", "message"),
            [(c.path, c.line, c.rule, c.message) for c in self.breaking],
        )


def _links(catalog: Catalog) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Message id -> (sender ids, receiver ids) over the latest services."""
    senders: dict[str, set[str]] = {}
    receivers: dict[str, set[str]] = {}
    for service in latest_by_id(catalog.services).values():
        for use in service.sends:
            senders.setdefault(use.message.id, set()).add(service.id)
        for use in service.receives:
            receivers.setdefault(use.message.id, set()).add(service.id)
    ids = set(senders) | set(receivers)
    return {
        mid: (frozenset(senders.get(mid, ())), frozenset(receivers.get(mid, ()))) for mid in ids
    }


def _what_changed(
    before: Message,
    after: Message,
    old_links: tuple[frozenset[str], frozenset[str]] | None,
    new_links: tuple[frozenset[str], frozenset[str]] | None,
) -> str:
    parts = []
    if before.version != after.version:
        parts.append("version")
    if before.schema != after.schema:
        parts.append("schema")
    if before.operation != after.operation:
        parts.append("operation")
    old_links = old_links or (frozenset(), frozenset())
    new_links = new_links or (frozenset(), frozenset())
    if old_links[0] != new_links[0]:
        parts.append("senders")
    if old_links[1] != new_links[1]:
        parts.append("receivers")
    if (before.name, before.summary) != (after.name, after.summary):
        parts.append("description")
    return ", ".join(parts)


# --- opening ------------------------------------------------------------------------------


def _repository_catalog() -> Path:
    """The catalog folder of the git repository around the current directory."""
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, check=False, text=True
        )
    except FileNotFoundError as exc:
        raise ValueError("git is not installed: pass the catalog folder to open_catalog") from exc
    if top.returncode != 0:
        raise ValueError("not inside a git repository: pass the catalog folder to open_catalog")
    return Path(top.stdout.strip()) / "catalog"


def open_catalog(path: str | Path | Catalog | None = None) -> CatalogExplorer:
    """Load a catalog for exploration.

    Args:
        path: the catalog folder, an already loaded `Catalog`, or None for the ``catalog/``
            folder of the git repository around the current directory.
    """
    if isinstance(path, Catalog):
        return CatalogExplorer(path)
    from generator._cmd_breaking import AgainstError, load_folder

    folder = Path(path) if path is not None else _repository_catalog()
    try:
        return CatalogExplorer(load_folder(folder))
    except AgainstError as exc:
        raise ValueError(str(exc)) from exc
