"""The only door from the runtime to `generated/`: what a host runs, looked up in the catalog.

`generated.catalog` (module name configurable, ACME_CATALOG_MODULE) is imported lazily. The
runtime reads from it only:

- `SERVICE_MODULES: dict[service id, module]` — each module has `SERVICE` (a ServiceSpec), the
  `<Pascal>Handlers` Protocol when the service receives messages;
- `HTTP_MODULES: dict[service id, module]` — each has `build_router(handlers, authorizer)`
  and the `<Pascal>HttpHandlers` Protocol;
- `DATASTORE_MODULES: dict[store id, module]` — each has `DDL` and optionally `metadata`;
- `SYSTEMS` (optional): entries with `id` and `containers` (data store ids), as a sequence
  or a mapping keyed by id, used to find a system's first data store.

A host is a system id (its services), or a domain id for services that belong to no system.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from fastapi import APIRouter
from sqlalchemy import MetaData

from acme.runtime.errors import RegistryError
from generator.contracts import Authorizer, ServiceSpec

__all__ = [
    "DatastoreSpec",
    "HostSpec",
    "ServiceBinding",
    "implementation_module",
    "list_hosts",
    "load_host",
    "pascal",
]

RouterFactory = Callable[[Any, Authorizer], APIRouter]


@dataclass(frozen=True)
class ServiceBinding:
    """A service as the runtime hosts it: its spec plus the contracts its code must meet."""

    spec: ServiceSpec
    handlers: type | None = None  # generated Protocol for message handlers
    http_handlers: type | None = None  # generated Protocol for HTTP handlers
    build_router: RouterFactory | None = None

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(frozen=True)
class DatastoreSpec:
    id: str
    ddl: tuple[str, ...] = ()
    metadata: MetaData | None = None


@dataclass(frozen=True)
class HostSpec:
    """Everything one process hosts: services, the data stores they own, their DDL."""

    id: str
    services: tuple[ServiceBinding, ...]
    containers: tuple[str, ...] = ()
    datastores: Mapping[str, DatastoreSpec] = field(default_factory=dict)

    def service(self, service_id: str) -> ServiceBinding:
        for binding in self.services:
            if binding.id == service_id:
                return binding
        known = ", ".join(b.id for b in self.services) or "none"
        raise RegistryError(f"{self.id} hosts no service {service_id!r} (it hosts: {known})")

    def primary_store(self, service_id: str) -> str:
        """Where a service's transactions run: its first writesTo store, else the host's
        first data store, else a per-host runtime store (for stateless services)."""
        spec = self.service(service_id).spec
        if spec.writes_to:
            return spec.writes_to[0]
        if self.containers:
            return self.containers[0]
        return f"runtime-{self.id}"

    def stores(self) -> tuple[str, ...]:
        """Every store this host opens: primary stores, its containers, what it writes to."""
        seen: dict[str, None] = {}
        for binding in self.services:
            seen[self.primary_store(binding.id)] = None
        for store in self.containers:
            seen[store] = None
        for binding in self.services:
            for store in binding.spec.writes_to:
                seen[store] = None
        return tuple(seen)


def pascal(identifier: str) -> str:
    """`order-service` -> `OrderService` (the generator's class naming)."""
    return "".join(part[:1].upper() + part[1:] for part in identifier.replace("_", "-").split("-"))


def implementation_module(host_id: str) -> str:
    """`order-management-system` -> `order_management` (package under an implementations root)."""
    return host_id.removesuffix("-system").replace("-", "_").replace(".", "_")


def catalog(module_name: str = "generated.catalog") -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise RegistryError(
                f"{module_name} is missing: generate it with `python -m generator` "
                "(or point ACME_CATALOG_MODULE at a registry module)"
            ) from exc
        raise


def _import(module_name: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise RegistryError(f"{what}: module {module_name} is missing ({exc})") from exc


def _get(entry: Any, name: str, default: Any = None) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(name, default)
    return getattr(entry, name, default)


def _entries(collection: Any) -> Iterable[Any]:
    if collection is None:
        return ()
    if isinstance(collection, Mapping):
        return [
            v if _get(v, "id") is not None else {"id": k, **dict(v)} for k, v in collection.items()
        ]
    return list(collection)


def _modules(cat: ModuleType, name: str) -> Mapping[str, str]:
    value = getattr(cat, name, None)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RegistryError(f"{cat.__name__}.{name} must be a dict of id -> module name")
    return value


def _find_class(module: ModuleType, name: str, suffix: str) -> type | None:
    found = getattr(module, name, None)
    if isinstance(found, type):
        return found
    candidates = [
        obj
        for attr, obj in vars(module).items()
        if inspect.isclass(obj)
        and attr.endswith(suffix)
        and getattr(obj, "__module__", None) == module.__name__
        and getattr(obj, "_is_protocol", False)
    ]
    return candidates[0] if len(candidates) == 1 else None


def _service_binding(cat: ModuleType, service_id: str, module_name: str) -> ServiceBinding:
    module = _import(module_name, f"service {service_id}")
    spec = getattr(module, "SERVICE", None)
    if not isinstance(spec, ServiceSpec):
        raise RegistryError(f"{module_name} has no SERVICE (a generator.contracts.ServiceSpec)")
    handlers = _find_class(module, f"{pascal(service_id)}Handlers", "Handlers")
    if spec.receives and handlers is None:
        raise RegistryError(
            f"{module_name}: service {service_id} receives messages but has no "
            f"{pascal(service_id)}Handlers Protocol"
        )
    http_handlers: type | None = None
    build_router: RouterFactory | None = None
    http_name = _modules(cat, "HTTP_MODULES").get(service_id)
    if http_name:
        http_module = _import(http_name, f"HTTP API of {service_id}")
        build_router = getattr(http_module, "build_router", None)
        if not callable(build_router):
            raise RegistryError(f"{http_name} has no build_router(handlers, authorizer)")
        http_handlers = _find_class(http_module, f"{pascal(service_id)}HttpHandlers", "Handlers")
    return ServiceBinding(spec, handlers, http_handlers, build_router)


def _all_bindings(cat: ModuleType) -> list[ServiceBinding]:
    return [
        _service_binding(cat, sid, mod)
        for sid, mod in sorted(_modules(cat, "SERVICE_MODULES").items())
    ]


def _host_of(spec: ServiceSpec) -> str | None:
    return spec.system or spec.domain


def _has_work(binding: ServiceBinding) -> bool:
    spec = binding.spec
    return bool(spec.receives or spec.sends or spec.operations or binding.build_router)


def list_hosts(catalog_module: str = "generated.catalog") -> list[str]:
    """Hosts that run something (client-only services start no process), sorted."""
    cat = catalog(catalog_module)
    hosts = {_host_of(b.spec) for b in _all_bindings(cat) if _has_work(b)}
    return sorted(h for h in hosts if h)


def load_datastore(cat: ModuleType, store_id: str) -> DatastoreSpec:
    module_name = _modules(cat, "DATASTORE_MODULES").get(store_id)
    if not module_name:
        return DatastoreSpec(store_id)  # a store without catalog SQL gets the runtime tables
    module = _import(module_name, f"data store {store_id}")
    ddl = getattr(module, "DDL", ())
    if isinstance(ddl, str) or not all(isinstance(s, str) for s in ddl):
        raise RegistryError(f"{module_name}.DDL must be a tuple of SQL statements")
    metadata = getattr(module, "metadata", None)
    return DatastoreSpec(store_id, tuple(ddl), metadata if isinstance(metadata, MetaData) else None)


def load_host(host_id: str, catalog_module: str = "generated.catalog") -> HostSpec:
    """The services, data stores and contracts of one host, from the generated catalog."""
    cat = catalog(catalog_module)
    bindings = tuple(b for b in _all_bindings(cat) if _host_of(b.spec) == host_id)
    if not bindings:
        raise RegistryError(
            f"no services are hosted by {host_id!r}; known hosts: "
            + ", ".join(list_hosts(catalog_module))
        )
    containers: tuple[str, ...] = ()
    for entry in _entries(getattr(cat, "SYSTEMS", None)):
        if _get(entry, "id") == host_id:
            containers = tuple(str(_container_id(c)) for c in _get(entry, "containers", ()) or ())
            break
    if not containers:
        ordered: dict[str, None] = {}
        for b in bindings:
            for store in (*b.spec.writes_to, *b.spec.reads_from):
                ordered[store] = None
        containers = tuple(ordered)
    host = HostSpec(host_id, bindings, containers)
    datastores = {store: load_datastore(cat, store) for store in host.stores()}
    return HostSpec(host_id, bindings, containers, datastores)


def _container_id(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    return str(_get(entry, "id"))
