"""services/<service>.py: the service's spec, handler contract, typed publisher and routes.

Which sends and receives become code (see the generated/ contract):
- a receive becomes an `Incoming` + handler when it arrives on a broker channel, or on an HTTP
  channel from an external sender (a signed webhook); client requests over HTTP are served by
  the service's http module instead;
- a send becomes an `Outgoing` + publisher method unless it is a client's request over plain HTTP
  (a message with an HTTP `operation`, or any send of a client service); sends to HTTPS APIs
  (a payment provider) and webhooks an external service posts do get a publisher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generator._model import Catalog, Message, Service
from generator._render._artifact import Artifact, as_texts
from generator._render._env import TEMPLATES_DIR, one_line, render_template, sentence
from generator._render._errors import RenderError
from generator._render._names import class_name, constant_name, method_name, module_name
from generator._render._view import Binding, CatalogView, Use
from generator._render.http import has_http_module

# Names the module defines or imports itself; a message module alias must not shadow them.
_TAKEN = frozenset(
    {
        "annotations",
        "Protocol",
        "ChannelBinding",
        "Incoming",
        "MessageContext",
        "Outbox",
        "Outgoing",
        "Route",
        "ServiceSpec",
        "OPERATIONS",
        "SERVICE",
        "routes",
    }
)


@dataclass
class MessageImport:
    """How the module reaches one message version: module alias and class names."""

    package: str  # ``generated.messages`` or ``generated.messages.versions``
    module: str  # module name inside the package
    alias: str  # name bound in the service module
    classes: dict[str, str] = field(default_factory=dict)  # class -> local name


@dataclass
class Endpoint:
    """One Outgoing or Incoming constant and the method behind it."""

    constant: str
    message: Message
    binding: Binding
    method: str
    payload: str
    reply: str | None
    module_alias: str
    doc: str


class _Imports:
    """Collects message imports and keeps every local name unique."""

    def __init__(self, view: CatalogView) -> None:
        self.view = view
        self.modules: dict[tuple[str, str], MessageImport] = {}
        self.locals: set[str] = set(_TAKEN)

    def _unique(self, wanted: str, suffix: str) -> str:
        name = wanted
        if name in self.locals:
            name = f"{wanted}{suffix}"
        n = 2
        while name in self.locals:
            name = f"{wanted}{suffix}{n}"
            n += 1
        self.locals.add(name)
        return name

    def module(self, message: Message) -> MessageImport:
        path = f"{self.view.package}.{self.view.message_module(message)}"
        package, _, module = path.rpartition(".")
        key = (package, module)
        if key not in self.modules:
            alias = self._unique(module, "_message")
            self.modules[key] = MessageImport(package, module, alias)
        return self.modules[key]

    def cls(self, message: Message, name: str) -> str:
        imported = self.module(message)
        if name not in imported.classes:
            suffix = (
                ""
                if self.view.is_latest(message)
                else class_name(f"v-{message.version}".replace(".", "-"), what="version")
            )
            local = name if not suffix else f"{name}{suffix}"
            imported.classes[name] = self._unique(local, "Message")
        return imported.classes[name]


def _binding_literal(binding: Binding) -> dict[str, str | None]:
    return {
        "channel_id": binding.channel_id,
        "address": binding.address,
        "protocol": binding.protocol,
        "delivery_guarantee": binding.delivery_guarantee,
    }


def _publishes(view: CatalogView, service: Service, use: Use) -> bool:
    """Broker and HTTPS sends get a publisher; a client's request over plain HTTP does not."""
    if use.binding.protocol != "http":
        return True
    return use.message.operation is None and not view.is_client(service)


def _handles(view: CatalogView, use: Use) -> bool:
    return use.binding.is_broker or view.is_webhook(use)


def _suffixes(uses: list[Use], verb: str) -> dict[int, str]:
    """Name suffixes for messages used on more than one channel (``_TO_ORDERING_EVENTS``)."""
    counts: dict[str, int] = {}
    for use in uses:
        counts[use.message.id] = counts.get(use.message.id, 0) + 1
    out: dict[int, str] = {}
    seen: dict[str, int] = {}
    for index, use in enumerate(uses):
        if counts[use.message.id] == 1:
            out[index] = ""
            continue
        seen[use.message.id] = seen.get(use.message.id, 0) + 1
        try:
            channel = use.binding.channel_id or "default"
            out[index] = f"_{verb}_{module_name(channel, what='channel id')}"
        except RenderError:
            out[index] = f"_{seen[use.message.id]}"
    return out


def _label(message: Message) -> str:
    return f"{message.name} {message.version}"


def _endpoints(
    view: CatalogView, service: Service, imports: _Imports
) -> tuple[list[Endpoint], list[Endpoint]]:
    sends = [u for u in view.sends(service) if _publishes(view, service, u)]
    receives = [u for u in view.receives(service) if _handles(view, u)]
    out_sends: list[Endpoint] = []
    for use, suffix in zip(sends, _suffixes(sends, "to").values(), strict=True):
        where = f"message id ({use.message.source})"
        method = method_name(use.message.id, what=where) + suffix
        reply_name = view.reply_class(use.message)
        out_sends.append(
            Endpoint(
                constant="SEND_" + constant_name(use.message.id, what=where) + suffix.upper(),
                message=use.message,
                binding=use.binding,
                method=method,
                payload=imports.cls(use.message, view.payload_class(use.message)),
                reply=imports.cls(use.message, reply_name) if reply_name else None,
                module_alias=imports.module(use.message).alias,
                doc=f"{_label(use.message)} on {use.binding.address}.",
            )
        )
    out_receives: list[Endpoint] = []
    for use, suffix in zip(receives, _suffixes(receives, "from").values(), strict=True):
        where = f"message id ({use.message.source})"
        reply_name = view.reply_class(use.message)
        summary = sentence(use.message.summary) if use.message.summary else ""
        out_receives.append(
            Endpoint(
                constant="RECEIVE_" + constant_name(use.message.id, what=where) + suffix.upper(),
                message=use.message,
                binding=use.binding,
                # One handler per message, whichever channel it arrives on.
                method="on_" + method_name(use.message.id, what=where),
                payload=imports.cls(use.message, view.payload_class(use.message)),
                reply=imports.cls(use.message, reply_name) if reply_name else None,
                module_alias=imports.module(use.message).alias,
                doc=one_line(
                    f"{_label(use.message)} — {summary}" if summary else _label(use.message)
                ),
            )
        )
    return out_sends, out_receives


def _unique_methods(endpoints: list[Endpoint]) -> list[Endpoint]:
    seen: set[str] = set()
    out: list[Endpoint] = []
    for endpoint in endpoints:
        if endpoint.method not in seen:
            seen.add(endpoint.method)
            out.append(endpoint)
    return out


def service_file(view: CatalogView, service: Service) -> str:
    return f"services/{module_name(service.id, what=f'service id ({service.source})')}.py"


def _render_service(view: CatalogView, service: Service, templates: Path) -> Artifact:
    imports = _Imports(view)
    sends, receives = _endpoints(view, service, imports)
    base = class_name(service.id, what=f"service id ({service.source})")
    system = view.system_of(service)
    domain = view.domain_of(service)
    http_module = module_name(service.id) if has_http_module(view, service) else None
    contracts = ["ServiceSpec"]
    if sends:
        contracts += ["ChannelBinding", "Outbox", "Outgoing"]
    if receives:
        contracts += ["ChannelBinding", "Incoming", "MessageContext"]
    contracts.append("Route")
    writes = [p.id for p in service.writes_to]
    reads = [p.id for p in service.reads_from]
    source = view.source_path(service.source.path)
    summary = sentence(service.summary) if service.summary else "no summary in the catalog."
    text = render_template(
        "service.py.j2",
        templates,
        source=source,
        doc=f"{service.name}: {summary}",
        service=service,
        package=view.package,
        contracts=sorted(set(contracts)),
        modules=sorted(imports.modules.values(), key=lambda m: (m.package, m.module)),
        http_module=http_module,
        sends=sends,
        receives=receives,
        handlers=_unique_methods(receives),
        publishers=sends,
        base=base,
        system=system.id if system else None,
        domain=domain.id if domain else None,
        writes=tuple(writes),
        reads=tuple(reads),
        binding=_binding_literal,
        source_literal=source,
    )
    sources = {source}
    for endpoint in sends + receives:
        sources.add(view.source_path(endpoint.message.source.path))
        if endpoint.binding.channel is not None:
            sources.add(view.source_path(endpoint.binding.channel.source.path))
    return Artifact(service_file(view, service), text, tuple(sorted(sources)))


def build(view: CatalogView, templates: Path = TEMPLATES_DIR) -> list[Artifact]:
    artifacts = [_render_service(view, service, templates) for service in view.services]
    artifacts.append(
        Artifact(
            "services/__init__.py",
            render_template(
                "package_init.py.j2",
                templates,
                source=view.source_path(""),
                doc="One module per catalog service: its spec, handler contract and publisher.",
            ),
            (),
        )
    )
    return artifacts


def render(catalog: Catalog) -> dict[str, str]:
    """services/ files of `catalog`, unformatted (see `generator._render.render_catalog`)."""
    return as_texts(build(CatalogView(catalog)))
