"""Questions every renderer asks of the catalog, answered once.

`CatalogView` wraps the immutable `Catalog` with lookups: which version a pointer means, which
system and domain a service belongs to, where a message travels (channel, filled-in address,
protocol) and which Python module holds a message's model. Renderers never walk the raw model
for these answers, so all generated files agree with one another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePosixPath
from typing import Any, TypeVar

from generator._model import (
    Catalog,
    Channel,
    ChannelUse,
    Container,
    Domain,
    Flow,
    Message,
    MessageUse,
    Pointer,
    Resource,
    Service,
    System,
)
from generator._render._cache import Cache
from generator._render._errors import RenderWarning
from generator._render._names import class_name, module_name, version_suffix
from generator._resolve import find_version, sort_newest_first

R = TypeVar("R", bound=Resource)

HTTP_PROTOCOLS = frozenset({"http", "https"})
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class Binding:
    """A message use resolved to one channel: what `ChannelBinding` will hold."""

    channel: Channel | None
    address: str
    protocol: str
    delivery_guarantee: str | None

    @property
    def channel_id(self) -> str | None:
        return self.channel.id if self.channel else None

    @property
    def is_broker(self) -> bool:
        return self.protocol not in HTTP_PROTOCOLS


@dataclass(frozen=True)
class Use:
    """One (message, channel) pair a service sends or receives."""

    message: Message
    binding: Binding
    source: str  # ``path:line`` of the sends/receives entry


def _versions_by_id(items: Iterable[R], duplicates: list[Resource]) -> dict[str, list[R]]:
    """id -> every version of it, newest first (EventCatalog's order).

    A second file with the same id and version is left out (and reported by the caller): it
    would generate the same module twice. Files outside versioned/ win, then the first path.
    """
    grouped: dict[tuple[str, str], list[R]] = {}
    for item in items:
        grouped.setdefault((item.id, item.version), []).append(item)
    by_id: dict[str, list[R]] = {}
    for (id_, _), copies in sorted(grouped.items()):
        copies.sort(key=lambda r: (not r.is_latest, r.source.path))
        by_id.setdefault(id_, []).append(copies[0])
        duplicates.extend(copies[1:])
    return {key: sort_newest_first(versions) for key, versions in by_id.items()}


class CatalogView:
    """Read-only lookups over one `Catalog`; collects render warnings as it goes."""

    def __init__(
        self, catalog: Catalog, *, package: str = "generated", cache: Cache | None = None
    ) -> None:
        self.catalog = catalog
        self.package = package
        self.cache = cache or Cache.off()  # for renderers with slow, pure steps
        self._source_paths: dict[str, str] = {}
        self._message_domains: dict[str, str] = {}
        self.memo: dict[tuple[str, str], Any] = {}  # renderers' answers for this render only
        self.root_name = catalog.root.resolve().name or "catalog"
        self._warnings: set[RenderWarning] = set()
        duplicates: list[Resource] = []
        self._messages = _versions_by_id(catalog.messages, duplicates)
        self._services = _versions_by_id(catalog.services, duplicates)
        self._channels = _versions_by_id(catalog.channels, duplicates)
        self._systems = _versions_by_id(catalog.systems, duplicates)
        self._domains = _versions_by_id(catalog.domains, duplicates)
        self._containers = _versions_by_id(catalog.containers, duplicates)
        self._flows = _versions_by_id(catalog.flows, duplicates)
        for duplicate in duplicates:
            self.warn(
                duplicate.source.path,
                f"duplicate {duplicate.kind} {duplicate.id} {duplicate.version}; ignored",
            )
        self._sends_cache: dict[int, list[Use]] = {}

    # -- warnings -----------------------------------------------------------------------
    def warn(self, where: str, message: str) -> None:
        self._warnings.add(RenderWarning(where, message))

    @property
    def warnings(self) -> list[RenderWarning]:
        return sorted(self._warnings)

    def source_path(self, path: str) -> str:
        """A catalog-relative path as written in headers and the manifest (``catalog/...``)."""
        found = self._source_paths.get(path)
        if found is None:
            plain_root = self.root_name not in ("", ".") and "/" not in self.root_name
            if path and plain_root and all(p not in ("", ".") for p in path.split("/")):
                found = f"{self.root_name}/{path}"  # already what PurePosixPath would make
            else:
                found = str(PurePosixPath(self.root_name) / PurePosixPath(path))
            self._source_paths[path] = found
        return found

    # -- resolution ---------------------------------------------------------------------
    @staticmethod
    def _pick(candidates: Sequence[R], version: str | None) -> R | None:
        return find_version(candidates, version)

    def _resolve(self, table: dict[str, list[R]], pointer: Pointer, kind: str) -> R | None:
        found = self._pick(table.get(pointer.id, []), pointer.version)
        if found is None:
            where = str(pointer.source) if pointer.source.path else pointer.id
            self.warn(where, f"{kind} {pointer.id}@{pointer.version} does not resolve; skipped")
        return found

    def message(self, pointer: Pointer) -> Message | None:
        return self._resolve(self._messages, pointer, "message")

    def channel(self, pointer: Pointer) -> Channel | None:
        return self._resolve(self._channels, pointer, "channel")

    def service(self, pointer: Pointer) -> Service | None:
        return self._resolve(self._services, pointer, "service")

    def container(self, pointer: Pointer) -> Container | None:
        return self._resolve(self._containers, pointer, "container")

    def _latest(self, table: dict[str, list[R]]) -> list[R]:
        """The latest version of every resource, sorted by id."""
        chosen = (self._pick(versions, None) for _, versions in sorted(table.items()))
        return [item for item in chosen if item is not None]

    @cached_property
    def services(self) -> list[Service]:
        return self._latest(self._services)

    @cached_property
    def systems(self) -> list[System]:
        return self._latest(self._systems)

    @cached_property
    def domains(self) -> list[Domain]:
        return self._latest(self._domains)

    @cached_property
    def channels(self) -> list[Channel]:
        return self._latest(self._channels)

    @cached_property
    def containers(self) -> list[Container]:
        return self._latest(self._containers)

    @cached_property
    def flows(self) -> list[Flow]:
        return self._latest(self._flows)

    @cached_property
    def messages(self) -> list[Message]:
        """Every message version, latest first within an id, ids sorted."""
        out: list[Message] = []
        for _, versions in sorted(self._messages.items()):
            out.extend(versions)
        return out

    def is_latest(self, message: Message) -> bool:
        return self._latest_message.get(message.id) is message

    @cached_property
    def _latest_message(self) -> dict[str, Message | None]:
        return {key: self._pick(versions, None) for key, versions in self._messages.items()}

    def versions(self, message_id: str) -> tuple[str, ...]:
        """Every version of a message id, in `messages` order (newest first)."""
        return tuple(m.version for m in self._messages.get(message_id, ()))

    @cached_property
    def _by_operation(self) -> dict[tuple[str, str], Message]:
        out: dict[tuple[str, str], Message] = {}
        for message in self.messages:
            op = message.operation
            if op and self.is_latest(message):
                out.setdefault((op.method.lower(), op.path), message)
        return out

    def message_for_operation(self, method: str, path: str) -> Message | None:
        """The first latest message whose `operation` is ``method path`` (method lower case)."""
        return self._by_operation.get((method, path))

    @cached_property
    def _by_schema_path(self) -> dict[str, list[Message]]:
        out: dict[str, list[Message]] = {}
        for message in self.messages:
            if message.schema_path is not None:
                out.setdefault(message.schema_path, []).append(message)
        return out

    def messages_with_schema(self, schema_path: str) -> list[Message]:
        """Messages whose schema file is `schema_path`, in `messages` order."""
        return self._by_schema_path.get(schema_path, [])

    # -- membership ---------------------------------------------------------------------
    @cached_property
    def _system_of_service(self) -> dict[str, System]:
        out: dict[str, System] = {}
        for system in self.systems:
            for pointer in system.services:
                out.setdefault(pointer.id, system)
        return out

    @cached_property
    def _domain_of(self) -> dict[tuple[str, str], Domain]:
        """(kind, id) -> the nearest domain listing that system or service."""
        out: dict[tuple[str, str], Domain] = {}
        for domain in self.domains:
            for pointer in domain.systems:
                out.setdefault(("system", pointer.id), domain)
            for pointer in domain.services:
                out.setdefault(("service", pointer.id), domain)
        return out

    def system_of(self, service: Service) -> System | None:
        return self._system_of_service.get(service.id)

    def domain_of_system(self, system: System) -> Domain | None:
        return self._domain_of.get(("system", system.id))

    def domain_of(self, service: Service) -> Domain | None:
        system = self.system_of(service)
        if system is not None:
            domain = self.domain_of_system(system)
            if domain is not None:
                return domain
        return self._domain_of.get(("service", service.id))

    def is_external(self, service: Service) -> bool:
        system = self.system_of(service)
        return service.external or (system is not None and system.scope == "external")

    def is_client(self, service: Service) -> bool:
        """A client (web shop, console) is ours, receives nothing and only sends over plain HTTP.

        An external service that only posts webhooks is not a client: it is a system's part.
        """
        if service.receives or not service.sends or self.is_external(service):
            return False
        return all(use.binding.protocol == "http" for use in self.sends(service))

    def message_domain(self, message: Message) -> str:
        """Domain id used for the default address of a message sent without a channel."""
        found = self._message_domains.get(message.folder)
        if found is None:
            found = self._message_domains[message.folder] = self._find_domain(message.folder)
        return found

    def _find_domain(self, message_folder: str) -> str:
        folder = PurePosixPath(message_folder)
        owners = [s for s in self.services if folder.is_relative_to(PurePosixPath(s.folder))]
        if owners:
            owner = max(owners, key=lambda s: len(s.folder))
            domain = self.domain_of(owner)
            if domain is not None:
                return domain.id
        for domain in self.domains:
            if folder.is_relative_to(PurePosixPath(domain.folder)):
                return domain.id
        return "default"

    # -- messages on channels -----------------------------------------------------------
    def _fill(self, channel: Channel, use: ChannelUse, where: str) -> str:
        address = channel.address or channel.id
        given = dict(use.parameters)
        defaults = {p.name: p.default for p in channel.parameters if p.default is not None}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in given:
                return given[name]
            if name in defaults:
                return str(defaults[name])
            self.warn(where, f"channel {channel.id} parameter {{{name}}} has no value")
            return match.group(0)

        return _PLACEHOLDER.sub(replace, address)

    def _binding(self, channel: Channel, use: ChannelUse, where: str) -> Binding:
        protocol = channel.protocols[0].lower() if channel.protocols else "nats"
        return Binding(
            channel, self._fill(channel, use, where), protocol, channel.delivery_guarantee
        )

    def _default_binding(self, message: Message, where: str, verb: str) -> Binding:
        self.warn(where, f"{verb} {message.id} names no channel; using the default subject")
        address = f"{self.message_domain(message)}.{message.kind}s.{message.id}"
        return Binding(None, address, "nats", None)

    def _uses(self, service: Service, entries: tuple[MessageUse, ...], verb: str) -> list[Use]:
        out: list[Use] = []
        for entry in entries:
            message = self.message(entry.message)
            if message is None:
                continue
            where = str(entry.source) if entry.source.path else service.source.path
            if not entry.channels:
                out.append(Use(message, self._default_binding(message, where, verb), where))
                continue
            for channel_use in entry.channels:
                channel = self.channel(channel_use.channel)
                if channel is not None:
                    out.append(Use(message, self._binding(channel, channel_use, where), where))
        return out

    def sends(self, service: Service) -> list[Use]:
        cached = self._sends_cache.get(id(service))
        if cached is None:
            cached = self._uses(service, service.sends, "sends")
            self._sends_cache[id(service)] = cached
        return cached

    def raw_receives(self, service: Service) -> list[Use]:
        return self._uses(service, service.receives, "receives")

    @cached_property
    def _routes_into(self) -> dict[str, set[str]]:
        """channel id -> every channel id that routes into it, directly or through others."""
        parents: dict[str, set[str]] = {}
        for channel in self.channels:
            for target in channel.routes:
                parents.setdefault(target.id, set()).add(channel.id)
        closure: dict[str, set[str]] = {}
        for start in parents:
            seen: set[str] = set()
            stack = list(parents[start])
            while stack:
                current = stack.pop()
                if current in seen or current == start:
                    continue
                seen.add(current)
                stack.extend(parents.get(current, ()))
            closure[start] = seen
        return closure

    @cached_property
    def _send_index(self) -> dict[tuple[str, str | None], list[tuple[Service, Use]]]:
        index: dict[tuple[str, str | None], list[tuple[Service, Use]]] = {}
        for service in self.services:
            for use in self.sends(service):
                index.setdefault((use.message.id, use.binding.channel_id), []).append(
                    (service, use)
                )
        return index

    def senders(self, message: Message, channel: Channel) -> list[tuple[Service, Use]]:
        """Services sending `message` to `channel` or to a channel that routes into it."""
        upstream = sorted(self._routes_into.get(channel.id, set()) | {channel.id})
        out: list[tuple[Service, Use]] = []
        for channel_id in upstream:
            out.extend(self._send_index.get((message.id, channel_id), []))
        return sorted(out, key=lambda pair: (pair[0].id, pair[1].binding.address))

    def receives(self, service: Service) -> list[Use]:
        """Receives with routed channels re-addressed to where the senders publish."""
        out: list[Use] = []
        for use in self.raw_receives(service):
            channel = use.binding.channel
            if channel is None:
                out.append(use)
                continue
            routed = [
                (sender, send)
                for sender, send in self.senders(use.message, channel)
                if send.binding.channel_id != channel.id
            ]
            direct = any(
                send.binding.channel_id == channel.id
                for _, send in self.senders(use.message, channel)
            )
            if routed and not direct:
                addresses = sorted({send.binding.address for _, send in routed})
                if len(addresses) > 1:
                    self.warn(
                        use.source,
                        f"{use.message.id} reaches {channel.id} from several addresses "
                        f"({', '.join(addresses)}); using {addresses[0]}",
                    )
                upstream = next(s.binding for _, s in routed if s.binding.address == addresses[0])
                binding = Binding(
                    channel, addresses[0], upstream.protocol, channel.delivery_guarantee
                )
                out.append(Use(use.message, binding, use.source))
            else:
                out.append(use)
        return out

    def is_webhook(self, use: Use) -> bool:
        """An HTTP receive whose message comes from an external service (a signed callback)."""
        channel = use.binding.channel
        if channel is None or use.binding.is_broker:
            return False
        return any(self.is_external(s) for s, _ in self.senders(use.message, channel))

    # -- message modules ----------------------------------------------------------------
    def message_module(self, message: Message) -> str:
        """Module path relative to the package: ``messages.order_created``."""
        base = module_name(message.id, what=f"message id ({message.source})")
        if self.is_latest(message):
            return f"messages.{base}"
        return f"messages.versions.{base}_{version_suffix(message.version)}"

    def message_file(self, message: Message) -> str:
        return self.message_module(message).replace(".", "/") + ".py"

    def message_class(self, message: Message) -> str:
        return class_name(message.id, what=f"message id ({message.source})")

    def payload_class(self, message: Message) -> str:
        """Class a sender builds: the request of an exchange, else the message model."""
        base = self.message_class(message)
        return f"{base}Request" if message.is_exchange else base

    def reply_class(self, message: Message) -> str | None:
        return f"{self.message_class(message)}Response" if message.is_exchange else None

    def message_sources(self, message: Message) -> list[str]:
        paths = [message.source.path]
        if message.schema_path:
            paths.append(message.schema_path)
        return [self.source_path(p) for p in paths]
