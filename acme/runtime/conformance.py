"""Code = catalog, checked on running hosts: two checks against the catalog's AsyncAPI export.

The expected side is always the catalog folder itself (``generator.export_asyncapi``), never
the generated code, so a stale `generated/` or a system that subscribes on its own is caught.

1. **asyncapi**: FastStream's own AsyncAPI 3.0 document of a host (its live subscribers and
   publishers, documented by the transport with the payload models) against the export of the
   services it hosts. Channels are matched by address (``_rpc.`` request subjects map back to
   the catalog address), messages by payload schema after normalisation: titles, descriptions,
   ``$id``/``$schema`` and examples dropped, references inlined, ``enum: [x]`` = ``const: x``,
   ``0.0`` = ``0``, and an optional property's ``anyOf [T, null]`` = ``T`` (how the generated
   models type every optional field; a null default goes too).
2. **introspection**: what the host reports at ``/_introspection`` (live subscriptions, the
   publishers it registered, its webhooks) against the catalog's receives and sends.

Runtime subjects (``replay.<service>``) are not catalog channels and are left out.
`check_app` runs both on an in-process `SystemApp`; `check_remote` on an `acme up` process.
"""

from __future__ import annotations

import inspect
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from acme.runtime.deadletter import DEADLETTER_PREFIX, REPLAY_PREFIX
from acme.runtime.transport.base import RPC_PREFIX

if TYPE_CHECKING:
    from acme.runtime.app import SystemApp
    from acme.runtime.settings import Settings

__all__ = [
    "CheckName",
    "Difference",
    "HostReport",
    "catalog_documents",
    "check_app",
    "check_asyncapi",
    "check_in_process",
    "check_introspection",
    "check_remote",
    "faststream_document",
    "hosted_documents",
    "normalise_schema",
]

CheckName = Literal["asyncapi", "introspection"]
RUNTIME_PREFIXES = (REPLAY_PREFIX, DEADLETTER_PREFIX)
_ANNOTATIONS = frozenset({"title", "description", "$id", "$schema", "examples", "$comment"})
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


@dataclass(frozen=True)
class Difference:
    """One way a host and the catalog disagree."""

    check: CheckName
    host: str
    where: str  # "receive ordering.commands.create-order", "order-service", ...
    message: str
    #: message id and JSON paths of a payload difference (for precise allowances in tests)
    payload: tuple[str, tuple[str, ...]] | None = None

    def __str__(self) -> str:
        return f"{self.host}: {self.check}: {self.where}: {self.message}"


@dataclass
class HostReport:
    host: str
    differences: list[Difference] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # check ("all") -> why it did not run
    error: str | None = None  # the host could not be checked (failed to start, unreachable)

    @property
    def ok(self) -> bool:
        return not self.differences and self.error is None

    def status(self, check: CheckName) -> str:
        """One check's outcome: ok, differs, skipped or error."""
        if self.error is not None:
            return "error"
        if check in self.skipped or "all" in self.skipped:
            return "skipped"
        return "differs" if any(d.check == check for d in self.differences) else "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "ok": self.ok,
            "error": self.error,
            "skipped": dict(self.skipped),
            "checks": {c: self.status(c) for c in ("asyncapi", "introspection")},
            "differences": [
                {"check": d.check, "where": d.where, "message": d.message} for d in self.differences
            ],
        }


# --- the catalog side -----------------------------------------------------------------------


def catalog_documents(catalog_dir: Path) -> dict[str, dict[str, Any]]:
    """Service id -> AsyncAPI document of every service of the catalog folder.

    Raises:
        ValueError: the folder is missing or the catalog cannot be exported.
    """
    from generator import AsyncApiError, export_asyncapi, load_catalog

    if not catalog_dir.is_dir():
        raise ValueError(f"{catalog_dir}: no such catalog folder")
    try:
        return export_asyncapi(load_catalog(catalog_dir))
    except AsyncApiError as exc:
        raise ValueError(f"{catalog_dir}: {exc}") from exc


def hosted_documents(
    documents: Mapping[str, dict[str, Any]], host: str
) -> dict[str, dict[str, Any]]:
    """The documents of the services the catalog places on `host` (system, else domain)."""
    out = {}
    for service_id, doc in documents.items():
        meta = doc.get("x-eventcatalog", {})
        if (meta.get("system") or meta.get("domain")) == host:
            out[service_id] = doc
    return out


# --- schemas --------------------------------------------------------------------------------


def _deref(document: Any, ref: str) -> Any:
    node = document
    for raw in ref.removeprefix("#/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        node = node[token]
    return node


def _inline(document: Any, node: Any, seen: frozenset[str] = frozenset()) -> Any:
    if isinstance(node, list):
        return [_inline(document, item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        if ref in seen:
            return {"$recursive": ref}
        target = _inline(document, _deref(document, ref), seen | {ref})
        rest = {k: _inline(document, v, seen) for k, v in node.items() if k != "$ref"}
        return {**target, **rest} if isinstance(target, dict) else target
    return {
        k: v if k in _DATA_KEYWORDS else _inline(document, v, seen)
        for k, v in node.items()
        if k not in ("$defs", "definitions")
    }


def normalise_schema(schema: Any, *, required: bool = True) -> Any:
    """The parts of a JSON Schema that decide what validates, in one canonical form."""
    if isinstance(schema, list):
        return [normalise_schema(item) for item in schema]
    if isinstance(schema, float) and schema.is_integer():
        return int(schema)  # pydantic writes float bounds (`minimum: 0.0`) for number fields
    if not isinstance(schema, dict):
        return schema
    needed = set(schema.get("required", ()))
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {
                name: normalise_schema(sub, required=name in needed) for name, sub in value.items()
            }
        elif key == "required" and isinstance(value, list):
            out[key] = sorted(value)
        elif key == "enum" and isinstance(value, list):
            out[key] = sorted(value, key=lambda v: json.dumps(v, sort_keys=True))
        elif key in _DATA_KEYWORDS:
            out[key] = value
        else:
            out[key] = normalise_schema(value)
    if "enum" in out and len(out["enum"]) == 1 and "const" not in out:
        out["const"] = out.pop("enum")[0]
    if not required and out.get("default", "") is None:
        # a generated model reads an absent optional property as None and never writes it
        # (outputs exclude None); whether null itself is accepted is in the rest of the schema
        del out["default"]
    return out


def _canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


def _paths(a: Any, b: Any, at: str = "") -> list[str]:
    """JSON paths where two normalised schemas differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{at}/{key}")
            else:
                out.extend(_paths(a[key], b[key], f"{at}/{key}"))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in _paths(x, y, f"{at}/{i}")
        ]
    return [] if a == b else [at or "/"]


def _name_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@dataclass(frozen=True)
class _Payload:
    name: str  # catalog message id, or the schema title FastStream shows
    schema: Any  # normalised

    @property
    def canonical(self) -> str:
        return _canonical(self.schema)


# --- check 1: FastStream's AsyncAPI document ------------------------------------------------


def _catalog_endpoints(docs: Mapping[str, dict[str, Any]]) -> list[tuple[str, str, list[_Payload]]]:
    """(action, address, payloads) per service, channel and action of the catalog export."""
    out: list[tuple[str, str, list[_Payload]]] = []
    for doc in docs.values():
        grouped: dict[tuple[str, str], dict[str, _Payload]] = {}
        for op in doc.get("operations", {}).values():
            channel = _deref(doc, op["channel"]["$ref"])
            key = (op["action"], channel["address"])
            for message_ref in op.get("messages", []):
                message = _deref(doc, _deref(doc, message_ref["$ref"])["$ref"])
                schema = normalise_schema(_inline(doc, message.get("payload", {})))
                name = message.get("name", "?")
                grouped.setdefault(key, {})[name] = _Payload(name, schema)
        for (action, address), payloads in grouped.items():
            out.append((action, address, list(payloads.values())))
    return out


def _faststream_endpoints(doc: Mapping[str, Any]) -> list[tuple[str, str, list[_Payload]]]:
    out: list[tuple[str, str, list[_Payload]]] = []
    for op in doc.get("operations", {}).values():
        channel = _deref(doc, op["channel"]["$ref"])
        address = channel.get("address") or ""
        if address.startswith(RUNTIME_PREFIXES):
            continue
        address = address.removeprefix(RPC_PREFIX)
        payloads: list[_Payload] = []
        for message_ref in op.get("messages", []):
            message = _deref(doc, message_ref["$ref"])
            if "$ref" in message:
                message = _deref(doc, message["$ref"])
            payload = message.get("payload", {})
            if isinstance(payload, dict) and "$ref" in payload:
                payload = _deref(doc, payload["$ref"])
            alternatives = payload.get("oneOf") if isinstance(payload, dict) else None
            for alt in alternatives if isinstance(alternatives, list) else [payload]:
                resolved = _inline(doc, alt)
                title = resolved.get("title", "?") if isinstance(resolved, dict) else "?"
                payloads.append(_Payload(str(title), normalise_schema(resolved)))
        out.append((op.get("action", "?"), address, payloads))
    return out


def check_asyncapi(
    host: str, expected: Mapping[str, dict[str, Any]], actual: Mapping[str, Any]
) -> list[Difference]:
    """Differences between the catalog export of `host`'s services and FastStream's document."""
    want = _catalog_endpoints(expected)
    have = _faststream_endpoints(actual)
    diffs: list[Difference] = []
    by_address: dict[tuple[str, str], tuple[list[list[_Payload]], list[list[_Payload]]]] = {}
    for action, address, payloads in want:
        by_address.setdefault((action, address), ([], []))[0].append(payloads)
    for action, address, payloads in have:
        by_address.setdefault((action, address), ([], []))[1].append(payloads)
    for (action, address), (wanted, had) in sorted(by_address.items()):
        where = f"{action} {address}"
        if not had:
            names = ", ".join(sorted(p.name for group in wanted for p in group))
            diffs.append(
                Difference("asyncapi", host, where, f"in the catalog ({names}), not in FastStream")
            )
            continue
        if not wanted:
            names = ", ".join(sorted(p.name for group in had for p in group))
            diffs.append(
                Difference("asyncapi", host, where, f"in FastStream ({names}), not in the catalog")
            )
            continue
        if len(wanted) != len(had):
            diffs.append(
                Difference(
                    "asyncapi",
                    host,
                    where,
                    f"{len(wanted)} endpoint(s) in the catalog, {len(had)} in FastStream",
                )
            )
        want_count = Counter(p.canonical for group in wanted for p in group)
        have_count = Counter(p.canonical for group in had for p in group)
        missing = [
            p
            for group in wanted
            for p in group
            if want_count[p.canonical] > have_count[p.canonical]
        ]
        extra = [
            p for group in had for p in group if have_count[p.canonical] > want_count[p.canonical]
        ]
        diffs.extend(_payload_differences(host, where, _unique(missing), _unique(extra)))
    return diffs


def _unique(payloads: Iterable[_Payload]) -> list[_Payload]:
    seen: dict[str, _Payload] = {}
    for p in payloads:
        seen.setdefault(p.canonical, p)
    return list(seen.values())


def _payload_differences(
    host: str, where: str, missing: list[_Payload], extra: list[_Payload]
) -> list[Difference]:
    diffs: list[Difference] = []
    unpaired = list(extra)
    for want in missing:
        twin = next((p for p in unpaired if _name_key(p.name) == _name_key(want.name)), None)
        if twin is None:
            diffs.append(
                Difference(
                    "asyncapi",
                    host,
                    where,
                    f"message {want.name}: no FastStream payload has its schema",
                    (want.name, ()),
                )
            )
            continue
        unpaired.remove(twin)
        paths = tuple(_paths(want.schema, twin.schema))
        shown = ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else "")
        diffs.append(
            Difference(
                "asyncapi",
                host,
                where,
                f"message {want.name}: payload schema differs from {twin.name} at {shown}",
                (want.name, paths),
            )
        )
    for extra_payload in unpaired:
        diffs.append(
            Difference(
                "asyncapi",
                host,
                where,
                f"FastStream payload {extra_payload.name} matches no catalog message",
            )
        )
    return diffs


def faststream_document(app: SystemApp) -> dict[str, Any]:
    """FastStream's AsyncAPI 3.0 document of a started app's broker, as JSON data."""
    from faststream.specification import AsyncAPI

    transport = app.transport
    if transport is None:
        raise RuntimeError(f"{app.id} has no broker connection")
    # services that only send have no consumer to document them when subscribing
    transport.document(binding.spec for binding in app.host.services)
    spec = AsyncAPI(transport.broker, title=app.id, version="1.0.0", schema_version="3.0.0")
    document: dict[str, Any] = json.loads(spec.to_specification().to_json())
    return document


# --- check 2: introspection -----------------------------------------------------------------


def _expected_uses(
    docs: Mapping[str, dict[str, Any]],
) -> dict[str, dict[str, set[tuple[str, ...]]]]:
    """service -> {"subscribes": {(subject, kind)}, "publishes": {(address, message, version)},
    "webhooks": {path}} as the catalog says."""
    out: dict[str, dict[str, set[tuple[str, ...]]]] = {}
    for service_id, doc in docs.items():
        uses: dict[str, set[tuple[str, ...]]] = {
            "subscribes": set(),
            "publishes": set(),
            "webhooks": set(),
        }
        for op in doc.get("operations", {}).values():
            address = _deref(doc, op["channel"]["$ref"])["address"]
            if op["action"] == "receive":
                uses["subscribes"].add((address, "requests" if "reply" in op else "events"))
            else:
                for message_ref in op.get("messages", []):
                    message = _deref(doc, _deref(doc, message_ref["$ref"])["$ref"])
                    meta = message.get("x-eventcatalog-message", {})
                    uses["publishes"].add((address, meta.get("id", "?"), meta.get("version", "?")))
        for http in doc.get("x-http-channels", []):
            if http["action"] == "receive" and http.get("webhook"):
                path = http["address"] if http["address"].startswith("/") else "/" + http["address"]
                uses["webhooks"].add((path,))
            elif http["action"] == "send" and not (
                http["protocol"] == "http" and http.get("httpOperation")
            ):
                uses["publishes"].add((http["address"], http["message"], http["version"]))
        out[service_id] = uses
    return out


def _actual_uses(
    introspection: Mapping[str, Any], publishers: Sequence[Any] | None
) -> tuple[dict[str, dict[str, set[tuple[str, ...]]]], list[str]]:
    out: dict[str, dict[str, set[tuple[str, ...]]]] = {}
    problems: list[str] = []
    for service in introspection.get("services", []):
        sid = str(service.get("id"))
        uses: dict[str, set[tuple[str, ...]]] = {
            "subscribes": set(),
            "publishes": set(),
            "webhooks": set(),
        }
        for sub in service.get("subscribes", []):
            subject = str(sub.get("subject"))
            if subject.startswith(RUNTIME_PREFIXES):
                continue
            uses["subscribes"].add((subject, str(sub.get("kind"))))
            if not sub.get("running"):
                problems.append(f"{sid}: subscription to {subject} is not running")
        for pub in service.get("publishes", []):
            if publishers is not None and pub.get("protocol") not in ("http", "https"):
                continue  # broker sends are taken from the live FastStream publishers below
            uses["publishes"].add(
                (str(pub.get("address")), str(pub.get("message")), str(pub.get("version")))
            )
        for path in service.get("webhooks", []):
            uses["webhooks"].add((str(path),))
        out[sid] = uses
    for info in publishers or ():
        uses = out.setdefault(
            info.service, {"subscribes": set(), "publishes": set(), "webhooks": set()}
        )
        if not info.registered:
            problems.append(f"{info.service}: publisher of {info.subject} is no longer registered")
        for message_id, version in info.messages:
            uses["publishes"].add((info.subject, message_id, version))
    return out, problems


def check_introspection(
    host: str,
    expected: Mapping[str, dict[str, Any]],
    introspection: Mapping[str, Any],
    publishers: Sequence[Any] | None = None,
) -> list[Difference]:
    """Differences between what `host` reports doing and what the catalog says it does.

    `introspection` is the ``/_introspection`` JSON; `publishers` the transport's live
    publishers (in-process only; remotely the introspection's declared sends are used)."""
    want = _expected_uses(expected)
    have, problems = _actual_uses(introspection, publishers)
    diffs = [Difference("introspection", host, "runtime", p) for p in problems]
    for sid in sorted(set(want) | set(have)):
        if sid not in have:
            diffs.append(Difference("introspection", host, sid, "in the catalog, not hosted"))
            continue
        if sid not in want:
            diffs.append(
                Difference("introspection", host, sid, "hosted, but the catalog puts it elsewhere")
            )
            continue
        for what, does, lacks in (
            ("subscribes", "subscribes to", "subscribe to"),
            ("publishes", "publishes", "publish"),
            ("webhooks", "accepts webhooks on", "accept webhooks on"),
        ):
            for item in sorted(have[sid][what] - want[sid][what]):
                text = f"{does} {' '.join(item)}, which the catalog does not list"
                diffs.append(Difference("introspection", host, sid, text))
            for item in sorted(want[sid][what] - have[sid][what]):
                text = f"does not {lacks} {' '.join(item)}, which the catalog lists"
                diffs.append(Difference("introspection", host, sid, text))
    return diffs


# --- running the checks ---------------------------------------------------------------------


def check_app(app: SystemApp, documents: Mapping[str, dict[str, Any]]) -> HostReport:
    """Both checks on a started in-process host."""
    from acme.runtime.http import introspect

    report = HostReport(app.id)
    expected = hosted_documents(documents, app.id)
    report.differences += check_asyncapi(app.id, expected, faststream_document(app))
    transport = app.transport
    publishers = transport.publishers() if transport is not None else []
    report.differences += check_introspection(app.id, expected, introspect(app), publishers)
    return report


async def check_in_process(
    host: str, documents: Mapping[str, dict[str, Any]], settings: Settings
) -> HostReport:
    """Start `host` with its implementation on `settings`' broker and stores, check, stop.

    A host without an implementation package (or without ``create(app)``) is skipped."""
    from acme.runtime.app import SystemApp
    from acme.runtime.errors import ConfigurationError
    from acme.runtime.process import load_implementation
    from acme.runtime.registry import load_host

    report = HostReport(host)
    try:
        module = load_implementation(host, settings.implementation_packages)
    except ConfigurationError as exc:
        report.skipped["all"] = f"not implemented yet: {exc}"
        return report
    app = SystemApp(load_host(host, settings.catalog_module), settings)
    created = module.create(app)
    if inspect.isawaitable(created):
        await created
    await app.start()
    try:
        checked = check_app(app, documents)
    finally:
        await app.stop()
    report.differences += checked.differences
    return report


async def check_remote(
    host: str,
    base_url: str,
    documents: Mapping[str, dict[str, Any]],
    *,
    timeout: float = 10.0,
    transport: Any = None,
) -> HostReport:
    """Both checks on an `acme up` process at `base_url`. FastStream's document is read from
    ``/_asyncapi`` when the process serves it; otherwise that check is reported as skipped.
    `transport` (an httpx transport) lets tests talk to an in-process app."""
    import httpx

    report = HostReport(host)
    expected = hosted_documents(documents, host)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport) as client:
        response = await client.get("/_introspection")
        response.raise_for_status()
        report.differences += check_introspection(host, expected, response.json())
        spec = await client.get("/_asyncapi")
        if spec.status_code == 404:
            report.skipped["asyncapi"] = "the process does not serve /_asyncapi"
        else:
            spec.raise_for_status()
            report.differences += check_asyncapi(host, expected, spec.json())
    return report


# --- whole platforms ------------------------------------------------------------------------


async def check_platform_in_process(
    catalog_dir: Path, settings: Settings, hosts: Sequence[str] | None = None
) -> list[HostReport]:
    """Start each host of the generated registry in turn (on ACME_BROKER_URL, else on an
    embedded NATS; stores in a temporary folder unless ACME_DATABASE_URL is set) and check it."""
    import tempfile

    from acme.runtime.embedded_nats import EmbeddedNats
    from acme.runtime.registry import list_hosts

    documents = catalog_documents(catalog_dir)
    known = list_hosts(settings.catalog_module)
    chosen = list(hosts) if hosts else known
    unknown = [h for h in chosen if h not in known]
    if unknown:
        raise ValueError(
            f"unknown host(s) {', '.join(unknown)}; the registry has: {', '.join(known)}"
        )
    reports: list[HostReport] = []
    with tempfile.TemporaryDirectory(prefix="acme-conformance-") as tmp:
        folder = Path(tmp)
        nats: EmbeddedNats | None = None
        broker_url = settings.broker_url
        if not broker_url:
            nats = EmbeddedNats(folder / "nats")
            nats.start()
            broker_url = nats.url
        try:
            for host in chosen:
                host_settings = settings.model_copy(
                    update={"data_dir": folder / host, "broker_url": broker_url}
                )
                try:
                    reports.append(await check_in_process(host, documents, host_settings))
                except Exception as exc:  # one broken host must not hide the others' results
                    reports.append(HostReport(host, error=f"{type(exc).__name__}: {exc}"))
        finally:
            if nats is not None:
                nats.stop()
    return reports


async def check_platform_running(
    catalog_dir: Path, state: Mapping[str, Any], hosts: Sequence[str] | None = None
) -> list[HostReport]:
    """Check every process of a running `acme up` (its state file's `processes`)."""
    documents = catalog_documents(catalog_dir)
    processes: Mapping[str, Any] = state.get("processes") or {}
    catalog_hosts = {
        (doc.get("x-eventcatalog", {}).get("system") or doc.get("x-eventcatalog", {}).get("domain"))
        for doc in documents.values()
    }
    chosen = list(hosts) if hosts else sorted(processes)
    reports: list[HostReport] = []
    for host in chosen:
        process = processes.get(host)
        if process is None:
            reports.append(HostReport(host, error="not run by this `acme up`"))
            continue
        if host not in catalog_hosts:
            reports.append(HostReport(host, skipped={"all": "not a catalog host"}))
            continue
        url = process.get("url")
        if process.get("state") != "ready" or not url:
            reports.append(HostReport(host, error=f"not ready ({process.get('state')})"))
            continue
        try:
            reports.append(await check_remote(host, str(url), documents))
        except Exception as exc:  # unreachable, bad JSON: say so and go on
            reports.append(HostReport(host, error=f"{type(exc).__name__}: {exc}"))
    return reports
