"""Documents -> the typed, immutable `Catalog`.

Building is tolerant: a field of the wrong type is left out of the model (lint reports it from
the raw frontmatter), and a page without a string ``id`` is not a resource. Only `lint` judges.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from generator._load import Loaded, join, paused_gc, read_catalog, referenced_paths
from generator._model import (
    Catalog,
    Channel,
    ChannelParameter,
    ChannelUse,
    Container,
    Doc,
    Document,
    Domain,
    Entity,
    EntityProperty,
    Flow,
    FlowLink,
    FlowStep,
    HttpOperation,
    KeyPath,
    Message,
    MessageKind,
    MessageUse,
    Pointer,
    Relationship,
    Resource,
    ResourceKind,
    Service,
    Specification,
    System,
    Team,
)
from generator._resolve import Index

__all__ = ["build_catalog", "load_catalog"]

#: EventCatalog collection -> our resource kind (collections without resources are absent)
COLLECTION_KINDS: dict[str, ResourceKind] = {
    "domains": "domain",
    "systems": "system",
    "services": "service",
    "events": "event",
    "commands": "command",
    "queries": "query",
    "channels": "channel",
    "flows": "flow",
    "containers": "container",
    "entities": "entity",
    "adrs": "adr",
    "agents": "agent",
    "diagrams": "diagram",
    "data-products": "data-product",
}

_SCHEMA_FORMATS = {"avsc": "avro", "avro": "avro", "proto": "protobuf", "json": "jsonschema"}


def schema_format(path: str) -> str:
    """The format EventCatalog infers from a schema file's extension."""
    ext = posixpath.splitext(path)[1].lstrip(".").lower()
    return _SCHEMA_FORMATS.get(ext, "yaml" if ext in ("yml", "yaml") else ext)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _version(value: Any) -> str:
    # YAML numbers are wrong (lint says so) but keep the resource resolvable meanwhile.
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


class _Builder:
    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded

    # -- small readers -------------------------------------------------------------------------
    def pointer(self, doc: Document, path: KeyPath, value: Any) -> Pointer | None:
        if isinstance(value, str):  # some fields accept a bare id
            return Pointer(value, "latest", doc.source(*path))
        if not isinstance(value, Mapping) or not isinstance(value.get("id"), str):
            return None
        version = value.get("version")
        return Pointer(
            value["id"], _version(version) if version is not None else "latest", doc.source(*path)
        )

    def pointers(self, doc: Document, key: str) -> tuple[Pointer, ...]:
        fm = doc.frontmatter or {}
        found = (self.pointer(doc, (key, i), v) for i, v in enumerate(_list(fm.get(key))))
        return tuple(p for p in found if p is not None)

    def channel_uses(self, doc: Document, path: KeyPath, value: Any) -> tuple[ChannelUse, ...]:
        uses = []
        for i, entry in enumerate(_list(value)):
            pointer = self.pointer(doc, (*path, i), entry)
            if pointer is None:
                continue
            params = entry.get("parameters") if isinstance(entry, Mapping) else None
            pairs = tuple(
                (str(k), v if isinstance(v, str) else str(v))
                for k, v in (params.items() if isinstance(params, Mapping) else ())
            )
            mode = _str(entry.get("delivery_mode")) if isinstance(entry, Mapping) else None
            uses.append(ChannelUse(pointer, pairs, mode))
        return tuple(uses)

    def message_uses(self, doc: Document, key: str) -> tuple[MessageUse, ...]:
        fm = doc.frontmatter or {}
        channel_key = "to" if key == "sends" else "from"
        uses = []
        for i, entry in enumerate(_list(fm.get(key))):
            pointer = self.pointer(doc, (key, i), entry)
            if pointer is None or not isinstance(entry, Mapping):
                continue
            triggers = tuple(
                p
                for j, t in enumerate(_list(entry.get("triggers")))
                if (p := self.pointer(doc, (key, i, "triggers", j), t)) is not None
            )
            uses.append(
                MessageUse(
                    message=pointer,
                    channels=self.channel_uses(doc, (key, i, channel_key), entry.get(channel_key)),
                    source=doc.source(key, i),
                    triggers=triggers,
                    fields=tuple(f for f in _list(entry.get("fields")) if isinstance(f, str)),
                    group=_str(entry.get("group")),
                )
            )
        return tuple(uses)

    def specifications(self, doc: Document) -> tuple[Specification, ...]:
        fm = doc.frontmatter or {}
        raw = fm.get("specifications")
        entries: list[tuple[str, str, str | None]] = []
        if isinstance(raw, list):
            for spec in raw:
                if (
                    isinstance(spec, Mapping)
                    and spec.get("type") in ("openapi", "asyncapi", "graphql")
                    and isinstance(spec.get("path"), str)
                ):
                    entries.append((spec["type"], spec["path"], _str(spec.get("name"))))
        elif isinstance(raw, Mapping):
            for key, kind in (
                ("openapiPath", "openapi"),
                ("asyncapiPath", "asyncapi"),
                ("graphqlPath", "graphql"),
            ):
                if isinstance(raw.get(key), str) and raw[key]:
                    entries.append((kind, raw[key], None))
        specs = []
        folder = posixpath.dirname(doc.path)
        for kind, path, name in entries:
            local = None if "://" in path else join(folder, path)
            document = (
                self.loaded.files[local].data if local and local in self.loaded.files else None
            )
            specs.append(
                Specification(
                    type=kind,  # type: ignore[arg-type]
                    path=local or path,
                    name=name,
                    document=document if isinstance(document, dict) else None,
                )
            )
        return tuple(specs)

    # -- resources -----------------------------------------------------------------------------
    def common(self, doc: Document, kind: ResourceKind) -> dict[str, Any] | None:
        fm = doc.frontmatter
        if fm is None or not isinstance(fm.get("id"), str):
            return None
        owners = []
        for owner in _list(fm.get("owners")):
            if isinstance(owner, str):
                owners.append(owner)
            elif isinstance(owner, Mapping) and isinstance(owner.get("id"), str):
                owners.append(owner["id"])
        badges = tuple(
            b["content"]
            for b in _list(fm.get("badges"))
            if isinstance(b, Mapping) and isinstance(b.get("content"), str)
        )
        return {
            "kind": kind,
            "id": fm["id"],
            "name": _str(fm.get("name")) or "",
            "version": _version(fm.get("version")),
            "source": doc.source(),
            "summary": (_str(fm.get("summary")) or "").strip(),
            "body": doc.body,
            "owners": tuple(owners),
            "badges": badges,
            "extensions": tuple(
                (k, v) for k, v in fm.items() if isinstance(k, str) and k.startswith("x-")
            ),
            "is_latest": not doc.is_historical,
            "deprecated": bool(fm.get("deprecated")),
            "draft": bool(fm.get("draft")),
            "hidden": fm.get("hidden") is True,
            "document": doc,
        }

    def message(self, doc: Document, kind: MessageKind, base: dict[str, Any]) -> Message:
        fm = doc.frontmatter or {}
        folder = posixpath.dirname(doc.path)
        # schemaPath wins; else the `default: true` entry of `schemas`; else its first entry.
        candidates: list[tuple[int, str | None]] = []
        for key_path, relative in referenced_paths(doc):
            if key_path[0] == "schemaPath":
                candidates.append((0, join(folder, relative)))
            elif key_path[0] == "schemas":
                is_default = fm["schemas"][key_path[1]].get("default") is True
                candidates.append((1 if is_default else 2, join(folder, relative)))
        schema_path = min(candidates, key=lambda c: c[0])[1] if candidates else None
        source_file = self.loaded.files.get(schema_path) if schema_path else None
        fmt = schema_format(schema_path) if schema_path else None
        data = source_file.data if source_file is not None else None
        operation = None
        op = fm.get("operation")
        if (
            isinstance(op, Mapping)
            and isinstance(op.get("method"), str)
            and isinstance(op.get("path"), str)
        ):
            codes = tuple(str(c) for c in _list(op.get("statusCodes")))
            operation = HttpOperation(op["method"], op["path"], codes)
        return Message(
            **{**base, "kind": kind},
            schema_path=schema_path,
            schema=data if isinstance(data, dict) and fmt in ("jsonschema", "yaml") else None,
            operation=operation,
            schema_format=fmt,
            channels=self.channel_uses(doc, ("channels",), fm.get("channels")),
        )

    def service(self, doc: Document, base: dict[str, Any]) -> Service:
        fm = doc.frontmatter or {}
        return Service(
            **base,
            sends=self.message_uses(doc, "sends"),
            receives=self.message_uses(doc, "receives"),
            writes_to=self.pointers(doc, "writesTo"),
            reads_from=self.pointers(doc, "readsFrom"),
            entities=self.pointers(doc, "entities"),
            specifications=self.specifications(doc),
            external=fm.get("externalSystem") is True,
            flows=self.pointers(doc, "flows"),
        )

    def channel(self, doc: Document, base: dict[str, Any]) -> Channel:
        fm = doc.frontmatter or {}
        params = []
        raw = fm.get("parameters")
        for name, spec in raw.items() if isinstance(raw, Mapping) else ():
            spec = spec if isinstance(spec, Mapping) else {}
            params.append(
                ChannelParameter(
                    name=str(name),
                    description=_str(spec.get("description")) or "",
                    enum=tuple(str(v) for v in _list(spec.get("enum"))),
                    default=None if spec.get("default") is None else str(spec.get("default")),
                    examples=tuple(str(v) for v in _list(spec.get("examples"))),
                )
            )
        protocols = tuple(p for p in _list(fm.get("protocols")) if isinstance(p, str))
        return Channel(
            **base,
            address=_str(fm.get("address")),
            protocols=protocols,
            delivery_guarantee=_str(fm.get("deliveryGuarantee")),
            parameters=tuple(params),
            routes=tuple(u.channel for u in self.channel_uses(doc, ("routes",), fm.get("routes"))),
        )

    def system(self, doc: Document, base: dict[str, Any]) -> System:
        fm = doc.frontmatter or {}
        relationships = []
        for i, entry in enumerate(_list(fm.get("relationships"))):
            pointer = self.pointer(doc, ("relationships", i), entry)
            if pointer is not None and isinstance(entry, Mapping):
                relationships.append(Relationship(pointer, _str(entry.get("label"))))
        return System(
            **base,
            scope="external" if fm.get("scope") == "external" else "internal",
            services=self.pointers(doc, "services"),
            containers=self.pointers(doc, "containers"),
            flows=self.pointers(doc, "flows"),
            entities=self.pointers(doc, "entities"),
            relationships=tuple(relationships),
        )

    def domain(self, doc: Document, base: dict[str, Any]) -> Domain:
        return Domain(
            **base,
            systems=self.pointers(doc, "systems"),
            services=self.pointers(doc, "services"),
            entities=self.pointers(doc, "entities"),
            flows=self.pointers(doc, "flows"),
            subdomains=self.pointers(doc, "domains"),
            sends=self.message_uses(doc, "sends"),
            receives=self.message_uses(doc, "receives"),
            specifications=self.specifications(doc),
        )

    def flow(self, doc: Document, base: dict[str, Any]) -> Flow:
        fm = doc.frontmatter or {}
        steps = []
        for i, step in enumerate(_list(fm.get("steps"))):
            if not isinstance(step, Mapping) or step.get("id") is None:
                continue
            links = []
            raw_next = (
                step.get("next_steps")
                if step.get("next_steps") is not None
                else [step.get("next_step")]
            )
            for target in _list(raw_next):
                if isinstance(target, Mapping) and target.get("id") is not None:
                    links.append(FlowLink(str(target["id"]), _str(target.get("label"))))
                elif isinstance(target, (str, int)) and not isinstance(target, bool):
                    links.append(FlowLink(str(target)))
            actor, custom, external = (
                step.get("actor"),
                step.get("custom"),
                step.get("externalSystem"),
            )
            steps.append(
                FlowStep(
                    id=str(step["id"]),
                    title=_str(step.get("title")) or "",
                    source=doc.source("steps", i),
                    summary=_str(step.get("summary")) or "",
                    message=self.pointer(doc, ("steps", i, "message"), step.get("message")),
                    service=self.pointer(doc, ("steps", i, "service"), step.get("service")),
                    container=self.pointer(doc, ("steps", i, "container"), step.get("container")),
                    flow=self.pointer(doc, ("steps", i, "flow"), step.get("flow")),
                    actor=_str(actor.get("name")) if isinstance(actor, Mapping) else None,
                    custom=_str(custom.get("title")) if isinstance(custom, Mapping) else None,
                    next=tuple(links),
                    agent=self.pointer(doc, ("steps", i, "agent"), step.get("agent")),
                    data_product=self.pointer(
                        doc, ("steps", i, "dataProduct"), step.get("dataProduct")
                    ),
                    external_system=_str(external.get("name"))
                    if isinstance(external, Mapping)
                    else None,
                )
            )
        return Flow(**base, steps=tuple(steps))

    def container(self, doc: Document, base: dict[str, Any]) -> Container:
        fm = doc.frontmatter or {}
        sql_path = posixpath.join(posixpath.dirname(doc.path), "schema.sql")
        sql_file = self.loaded.files.get(sql_path)
        return Container(
            **base,
            container_type=_str(fm.get("container_type")) or "other",
            technology=_str(fm.get("technology")),
            authoritative=fm.get("authoritative") is True,
            access_mode=_str(fm.get("access_mode")),
            classification=_str(fm.get("classification")),
            retention=_str(fm.get("retention")),
            residency=_str(fm.get("residency")),
            sql_path=sql_path if sql_file is not None and sql_file.exists else None,
            sql=sql_file.text if sql_file is not None else None,
        )

    def entity_properties(self, raw: Any) -> tuple[EntityProperty, ...]:
        props = []
        for prop in _list(raw):
            if not isinstance(prop, Mapping) or not isinstance(prop.get("name"), str):
                continue
            raw_items = prop.get("items")
            items: Mapping[str, Any] = raw_items if isinstance(raw_items, Mapping) else {}
            props.append(
                EntityProperty(
                    name=prop["name"],
                    type=_str(prop.get("type")) or "",
                    required=prop.get("required") is True,
                    description=_str(prop.get("description")) or "",
                    references=_str(prop.get("references")),
                    relation_type=_str(prop.get("relationType")),
                    enum=tuple(str(v) for v in _list(prop.get("enum"))),
                    properties=self.entity_properties(
                        prop.get("properties") or items.get("properties")
                    ),
                    items_type=_str(items.get("type")),
                )
            )
        return tuple(props)

    def entity(self, doc: Document, base: dict[str, Any]) -> Entity:
        fm = doc.frontmatter or {}
        return Entity(
            **base,
            identifier=_str(fm.get("identifier")),
            aggregate_root=fm.get("aggregateRoot") is True,
            properties=self.entity_properties(fm.get("properties")),
        )

    def owner(self, doc: Document, kind: str) -> Team | None:
        fm = doc.frontmatter
        if fm is None or not isinstance(fm.get("id"), str):
            return None
        members = tuple(m for m in _list(fm.get("members")) if isinstance(m, str))
        return Team(
            id=fm["id"],
            name=_str(fm.get("name")) or "",
            source=doc.source(),
            summary=(_str(fm.get("summary")) or "").strip(),
            members=members,
            kind="user" if kind == "users" else "team",
            email=_str(fm.get("email")),
            document=doc,
        )


def _migrate_legacy_channels(
    uses: tuple[MessageUse, ...], index: Index[Resource]
) -> tuple[MessageUse, ...]:
    # `eventcatalog build` copies a message's legacy `channels` into every use of the message.
    migrated = []
    for use in uses:
        latest = index.latest("event", use.message.id)
        if isinstance(latest, Message) and latest.channels:
            use = replace(use, channels=latest.channels)
        migrated.append(use)
    return tuple(migrated)


def build_catalog(loaded: Loaded) -> Catalog:
    """Assemble the model from what `read_catalog` read."""
    builder = _Builder(loaded)
    buckets: dict[str, list[Any]] = {
        name: [] for name in (*COLLECTION_KINDS.values(), "team", "user", "doc")
    }
    for doc in loaded.documents:
        for collection in doc.collections:
            if collection in ("teams", "users"):
                owner = builder.owner(doc, collection)
                if owner is not None:
                    buckets[collection[:-1]].append(owner)
                continue
            if collection == "docs":
                fm = doc.frontmatter or {}
                buckets["doc"].append(
                    Doc(
                        _str(fm.get("title")) or "",
                        (_str(fm.get("summary")) or "").strip(),
                        doc.source(),
                        doc.body,
                    )
                )
                continue
            kind = COLLECTION_KINDS.get(collection)
            if kind is None:
                continue
            base = builder.common(doc, kind)
            if base is None:
                continue
            if kind in ("event", "command", "query"):
                buckets["event"].append(builder.message(doc, kind, base))
            elif kind == "service":
                buckets[kind].append(builder.service(doc, base))
            elif kind == "channel":
                buckets[kind].append(builder.channel(doc, base))
            elif kind == "system":
                buckets[kind].append(builder.system(doc, base))
            elif kind == "domain":
                buckets[kind].append(builder.domain(doc, base))
            elif kind == "flow":
                buckets[kind].append(builder.flow(doc, base))
            elif kind == "container":
                buckets[kind].append(builder.container(doc, base))
            elif kind == "entity":
                buckets[kind].append(builder.entity(doc, base))
            else:
                buckets[kind].append(Resource(**base))

    index: Index[Resource] = Index(buckets["event"])
    services = [
        replace(
            s,
            sends=_migrate_legacy_channels(s.sends, index),
            receives=_migrate_legacy_channels(s.receives, index),
        )
        for s in buckets["service"]
    ]
    return Catalog(
        root=loaded.root,
        domains=tuple(buckets["domain"]),
        systems=tuple(buckets["system"]),
        services=tuple(services),
        messages=tuple(buckets["event"]),
        channels=tuple(buckets["channel"]),
        flows=tuple(buckets["flow"]),
        containers=tuple(buckets["container"]),
        entities=tuple(buckets["entity"]),
        adrs=tuple(buckets["adr"]),
        teams=tuple(buckets["team"]),
        users=tuple(buckets["user"]),
        config=loaded.config,
        agents=tuple(buckets["agent"]),
        diagrams=tuple(buckets["diagram"]),
        data_products=tuple(buckets["data-product"]),
        docs=tuple(buckets["doc"]),
        documents=tuple(loaded.documents),
        files=dict(loaded.files),
        problems=tuple(loaded.problems),
    )


def load_catalog(root: str | Path) -> Catalog:
    """Read an EventCatalog folder into the model; bad content never raises (`Catalog.problems`).

    Raises:
        NotADirectoryError: ``root`` is not a folder.
    """
    path = Path(root)
    if not path.is_dir():
        raise NotADirectoryError(f"{root}: not a catalog folder")
    with paused_gc():
        return build_catalog(read_catalog(path))
