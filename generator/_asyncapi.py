"""AsyncAPI 3.0 documents of the catalog's services: what each one sends and receives.

One document per service, built from the catalog model only (the generated code plays no part,
so the running code can be checked against it):

- ``channels``: one per channel the service uses on a broker, keyed by the channel id (or
  ``<channel id>.<parameter values>`` when the service reaches one channel at several filled-in
  addresses), with the address the runtime uses: parameters filled, routed receives re-addressed
  to where the senders publish (`CatalogView` answers both, as for the generated code);
- ``operations``: ``send`` / ``receive`` per (channel, message) of the service's sends and
  receives on broker channels; exchanges (request + response schemas) carry a ``reply``;
- ``components.messages``: ``contentType`` application/json, the runtime's headers, and the
  message's JSON Schema as payload, inline with every ``$ref`` resolved (the request half for
  exchanges, the response half in a ``.reply`` message);
- HTTP and HTTPS uses (gateway requests, webhooks, calls to a payment API) are not broker
  channels: they are listed under ``x-http-channels`` (``webhook``: an external sender's signed
  callback; ``httpOperation``: the message is an HTTP API operation, not a message).

Output is deterministic: `dumps` sorts keys. `check_document` is the structural validation the
tests and the command run (required keys, keys' syntax, every ``$ref`` resolves).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

from generator._model import Catalog, Message, Service
from generator._render._errors import RenderError
from generator._render._schemas import Reader, read_from
from generator._render._view import Binding, CatalogView, Use

__all__ = [
    "ASYNCAPI_VERSION",
    "CONTENT_TYPE",
    "HEADER_NAMES",
    "AsyncApiError",
    "check_document",
    "dumps",
    "export",
    "headers_schema",
    "service_document",
]

ASYNCAPI_VERSION = "3.0.0"
CONTENT_TYPE = "application/json"
#: Headers the runtime sets on every broker message (acme.runtime.wire), in wire order.
HEADER_NAMES = ("message-id", "message-type", "message-version", "correlation-id", "traceparent")

# AsyncAPI 3.0: keys of channels, operations and components match this.
_KEY = re.compile(r"^[A-Za-z0-9.\-_]+$")
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9.\-_]+")
# Keys whose values are data, never schemas: a "$ref" inside them is not a reference.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples", "example"})
# Keywords that only annotate: merged over a referenced schema instead of wrapping it in allOf.
_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "default", "$comment", "deprecated", "readOnly"}
)
_DEF_KEYS = ("$defs", "definitions")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class AsyncApiError(Exception):
    """The catalog cannot be exported; the message names what and where."""


# --- $ref resolution ------------------------------------------------------------------------


def _pointer(document: Any, fragment: str, where: str) -> Any:
    node = document
    if fragment in ("", "/"):
        return node
    if not fragment.startswith("/"):
        raise AsyncApiError(f"{where}: $ref fragment {fragment!r} is not a JSON pointer")
    for raw in fragment[1:].split("/"):
        token = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise AsyncApiError(f"{where}: $ref target #{fragment} does not exist")
    return node


def _normalised(path: str, where: str) -> str:
    parts: list[str] = []
    for part in PurePosixPath(path).parts:
        if part == "..":
            if not parts:
                raise AsyncApiError(f"{where}: $ref climbs above the catalog root")
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


def inline_refs(schema: Any, path: str, read: Reader) -> Any:
    """A copy of `schema` (read from catalog file `path`) with every ``$ref`` replaced by its
    target, across files; ``$defs`` left unreferenced are dropped. Recursive references cannot
    be inlined and raise `AsyncApiError`."""
    documents: dict[str, Any] = {path: schema}

    def load(file: str, where: str) -> Any:
        if file not in documents:
            try:
                documents[file] = read(file)
            except RenderError as exc:
                raise AsyncApiError(f"{where}: {exc}") from None
        return documents[file]

    def follow(ref: str, file: str, stack: frozenset[tuple[str, str]]) -> tuple[Any, str, str]:
        where = f"{path}: $ref {ref!r}"
        if "://" in ref or ref.startswith("urn:"):
            raise AsyncApiError(f"{where}: remote references are not supported; bundle the schema")
        target, _, fragment = ref.partition("#")
        if target:
            folder = str(PurePosixPath(file).parent)
            target = _normalised(str(PurePosixPath(folder) / target), where)
        else:
            target = file
        if (target, fragment) in stack:
            raise AsyncApiError(f"{where}: recursive schema; it cannot be inlined")
        return _pointer(load(target, where), fragment, where), target, fragment

    def resolve(node: Any, file: str, stack: frozenset[tuple[str, str]]) -> Any:
        if isinstance(node, list):
            return [resolve(item, file, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            target, target_file, fragment = follow(ref, file, stack)
            resolved = resolve(target, target_file, stack | {(target_file, fragment)})
            if isinstance(resolved, dict):
                resolved = {k: v for k, v in resolved.items() if k not in _DEF_KEYS}
            siblings = {
                k: v if k in _DATA_KEYWORDS else resolve(v, file, stack)
                for k, v in node.items()
                if k != "$ref"
            }
            if not siblings:
                return resolved
            if isinstance(resolved, dict) and set(siblings) <= _ANNOTATIONS:
                return {**resolved, **siblings}
            return {"allOf": [resolved, siblings]}
        return {
            key: value if key in _DATA_KEYWORDS else resolve(value, file, stack)
            for key, value in node.items()
        }

    result = resolve(copy.deepcopy(schema), path, frozenset())
    if isinstance(result, dict):
        for key in _DEF_KEYS:
            result.pop(key, None)
    return result


# --- documents ------------------------------------------------------------------------------


def headers_schema(message_id: str, version: str) -> dict[str, Any]:
    """The headers the runtime puts on every message of `message_id` (acme.runtime.wire)."""
    return {
        "type": "object",
        "required": list(HEADER_NAMES),
        "properties": {
            "message-id": {
                "type": "string",
                "format": "uuid",
                "description": "Unique id of this message; consumers deduplicate by it.",
            },
            "message-type": {
                "type": "string",
                "const": message_id,
                "description": "Catalog id of the message; consumers dispatch on it.",
            },
            "message-version": {
                "type": "string",
                "const": version,
                "description": "Catalog version of the payload schema.",
            },
            "correlation-id": {
                "type": "string",
                "description": "Id shared by every message caused by the same request.",
            },
            "causation-id": {
                "type": "string",
                "description": "message-id of the message whose handling sent this one.",
            },
            "traceparent": {
                "type": "string",
                "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                "description": "W3C Trace Context of this hop.",
            },
            "content-type": {"type": "string", "const": CONTENT_TYPE},
        },
    }


def _key(text: str) -> str:
    return _UNSAFE_KEY_CHARS.sub("_", text).strip("_") or "_"


@dataclass(frozen=True)
class _Entry:
    action: str  # "send" or "receive"
    use: Use

    @property
    def binding(self) -> Binding:
        return self.use.binding


class _Builder:
    def __init__(self, view: CatalogView, service: Service, read: Reader) -> None:
        self.view = view
        self.service = service
        self.read = read
        self.channels: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.http: list[dict[str, Any]] = []
        self._channel_keys: dict[tuple[str | None, str], str] = {}
        self._message_keys: dict[tuple[str, str], str] = {}

    # -- keys ------------------------------------------------------------------------------
    def plan_keys(self, entries: list[_Entry]) -> None:
        """Channel keys: the channel id, unless the service reaches it at several addresses."""
        addresses: dict[str | None, set[str]] = {}
        for entry in entries:
            addresses.setdefault(entry.binding.channel_id, set()).add(entry.binding.address)
        taken: set[str] = set()
        for entry in sorted(entries, key=lambda e: (e.binding.channel_id or "", e.binding.address)):
            binding = entry.binding
            ident = (binding.channel_id, binding.address)
            if ident in self._channel_keys:
                continue
            if binding.channel_id is None:
                base = _key(binding.address)
            elif len(addresses[binding.channel_id]) == 1:
                base = _key(binding.channel_id)
            else:
                values = [v for _, v in self._parameters(entry)]
                suffix = "-".join(values) if values else binding.address
                base = _key(f"{binding.channel_id}.{suffix}")
            key, n = base, 2
            while key in taken:
                key, n = f"{base}-{n}", n + 1
            taken.add(key)
            self._channel_keys[ident] = key
        versions: dict[str, set[str]] = {}
        for entry in entries:
            versions.setdefault(entry.use.message.id, set()).add(entry.use.message.version)
        for entry in entries:
            message = entry.use.message
            several = len(versions[message.id]) > 1
            key = _key(f"{message.id}.v{message.version}" if several else message.id)
            self._message_keys[(message.id, message.version)] = key

    def _parameters(self, entry: _Entry) -> list[tuple[str, str]]:
        """The filled-in parameter values of a use, in the channel's parameter order."""
        channel = entry.binding.channel
        if channel is None or not channel.address:
            return []
        pieces = _PLACEHOLDER.split(channel.address)  # literal, name, literal, name, ...
        names = pieces[1::2]
        pattern = "".join(
            re.escape(piece) if i % 2 == 0 else f"(?P<p{i // 2}>.+?)"
            for i, piece in enumerate(pieces)
        )
        match = re.fullmatch(pattern, entry.binding.address)
        if match is None:
            return []
        return [(name, match.group(f"p{i}")) for i, name in enumerate(names)]

    # -- payloads --------------------------------------------------------------------------
    def payloads(self, message: Message) -> tuple[Any, Any]:
        """(payload, reply payload) JSON Schemas, refs inlined; None when there is no JSON
        Schema (an Avro or Protobuf schema, or none at all)."""
        if message.schema is None:
            return None, None
        path = message.schema_path or message.source.path
        resolved = inline_refs(message.schema, path, self.read)
        if not message.is_exchange or not isinstance(resolved, dict):
            return resolved, None
        properties = resolved.get("properties", {})
        return properties.get("request"), properties.get("response")

    def message_key(self, message: Message) -> str:
        return self._message_keys[(message.id, message.version)]

    def add_message(self, message: Message) -> tuple[str, str | None]:
        key = self.message_key(message)
        reply_key = f"{key}.reply" if message.is_exchange else None
        if key in self.messages:
            return key, reply_key
        payload, reply = self.payloads(message)
        info: dict[str, Any] = {
            "id": message.id,
            "version": message.version,
            "kind": message.kind,
            "source": self.view.source_path(message.source.path),
        }
        entry: dict[str, Any] = {
            "name": message.id,
            "title": message.name,
            "contentType": CONTENT_TYPE,
            "headers": headers_schema(message.id, message.version),
            "x-eventcatalog-message": info,
        }
        if message.summary:
            entry["summary"] = message.summary
        if payload is not None:
            entry["payload"] = payload
        else:
            info["schema"] = (
                self.view.source_path(message.schema_path) if message.schema_path else None
            )
            entry["description"] = "The catalog gives no JSON Schema for this message."
        self.messages[key] = entry
        if reply_key is not None:
            self.messages[reply_key] = {
                "name": f"{message.id}.reply",
                "title": f"{message.name} (reply)",
                "contentType": CONTENT_TYPE,
                "headers": headers_schema(message.id, message.version),
                "payload": reply if reply is not None else {},
                "x-eventcatalog-message": {**info, "reply": True},
            }
        return key, reply_key

    # -- channels and operations -----------------------------------------------------------
    def add(self, entry: _Entry) -> None:
        use, binding = entry.use, entry.binding
        if not binding.is_broker:
            self.http.append(
                {
                    "action": entry.action,
                    "channel": binding.channel_id,
                    "address": binding.address,
                    "protocol": binding.protocol,
                    "message": use.message.id,
                    "version": use.message.version,
                    "webhook": entry.action == "receive" and self.view.is_webhook(use),
                    # a request to an HTTP API (served by an OpenAPI document, not a message)
                    "httpOperation": use.message.operation is not None,
                }
            )
            return
        channel_key = self._channel_keys[(binding.channel_id, binding.address)]
        message_key, reply_key = self.add_message(use.message)
        channel = self.channels.setdefault(channel_key, self._channel(entry))
        channel["messages"][message_key] = {"$ref": f"#/components/messages/{message_key}"}
        operation: dict[str, Any] = {
            "action": entry.action,
            "channel": {"$ref": f"#/channels/{channel_key}"},
            "messages": [{"$ref": f"#/channels/{channel_key}/messages/{message_key}"}],
            "summary": f"{'Sends' if entry.action == 'send' else 'Receives'} "
            f"{use.message.name} {use.message.version} on {binding.address}.",
            "x-eventcatalog-use": use.source,
        }
        if reply_key is not None:
            reply_channel = f"{channel_key}.reply"
            self.channels.setdefault(
                reply_channel,
                {
                    "address": None,  # the requester's private reply subject
                    "description": f"Replies to requests sent on {binding.address}.",
                    "messages": {},
                },
            )["messages"][reply_key] = {"$ref": f"#/components/messages/{reply_key}"}
            operation["reply"] = {
                "channel": {"$ref": f"#/channels/{reply_channel}"},
                "messages": [{"$ref": f"#/channels/{reply_channel}/messages/{reply_key}"}],
            }
        key = _key(f"{entry.action}.{channel_key}.{message_key}")
        self.operations[key] = operation

    def _channel(self, entry: _Entry) -> dict[str, Any]:
        binding = entry.binding
        channel = binding.channel
        out: dict[str, Any] = {"address": binding.address, "messages": {}}
        info: dict[str, Any] = {"protocol": binding.protocol}
        if channel is not None:
            out["title"] = channel.name
            if channel.summary:
                out["summary"] = channel.summary
            info.update(
                {
                    "id": channel.id,
                    "version": channel.version,
                    "address": channel.address or channel.id,
                    "parameters": dict(self._parameters(entry)),
                    "source": self.view.source_path(channel.source.path),
                }
            )
        else:
            info["id"] = None  # no channel in the catalog: the runtime's default subject
        if binding.delivery_guarantee:
            info["deliveryGuarantee"] = binding.delivery_guarantee
        out["x-eventcatalog-channel"] = info
        return out


def service_document(
    view: CatalogView, service: Service, read: Reader | None = None
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one service (a plain JSON-able dict)."""
    read = read or read_from(view.catalog.root, view.catalog.files)
    builder = _Builder(view, service, read)
    entries = [_Entry("send", u) for u in view.sends(service)]
    entries += [_Entry("receive", u) for u in view.receives(service)]
    builder.plan_keys([e for e in entries if e.binding.is_broker])
    for entry in entries:
        builder.add(entry)
    system = view.system_of(service)
    domain = view.domain_of(service)
    info: dict[str, Any] = {"title": service.name, "version": service.version}
    if service.summary:
        info["description"] = service.summary
    if service.owners:
        info["x-owners"] = list(service.owners)
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": info,
        "defaultContentType": CONTENT_TYPE,
        "channels": builder.channels,
        "operations": builder.operations,
        "components": {"messages": builder.messages},
        "x-eventcatalog": {
            "service": service.id,
            "system": system.id if system else None,
            "domain": domain.id if domain else None,
            "source": view.source_path(service.source.path),
        },
    }
    if builder.http:
        document["x-http-channels"] = sorted(
            builder.http, key=lambda h: (h["action"], h["address"], h["message"])
        )
    return document


def export(catalog: Catalog, service_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Service id -> AsyncAPI document, for the latest version of every (or each named) service.

    Raises:
        AsyncApiError: an unknown service id, or a schema that cannot be inlined.
    """
    view = CatalogView(catalog)
    read = read_from(catalog.root, catalog.files)
    services = {s.id: s for s in view.services}
    wanted = sorted(services) if service_ids is None else list(service_ids)
    unknown = [s for s in wanted if s not in services]
    if unknown:
        raise AsyncApiError(
            f"unknown service(s) {', '.join(unknown)}; "
            f"the catalog has: {', '.join(sorted(services))}"
        )
    return {sid: service_document(view, services[sid], read) for sid in wanted}


def dumps(document: Mapping[str, Any]) -> str:
    """Deterministic JSON text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- structural validation ------------------------------------------------------------------


def _resolve_local(document: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        raise LookupError(f"{ref!r} is not a local reference")
    try:
        return _pointer(document, ref[1:], "")
    except AsyncApiError:
        raise LookupError(f"{ref!r} does not resolve") from None


def _refs(node: Any, at: str, found: Callable[[str, str], None]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found(at, ref)
        for key, value in node.items():
            if key not in _DATA_KEYWORDS:
                _refs(value, f"{at}/{key}", found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _refs(value, f"{at}/{index}", found)


def check_document(document: Any) -> list[str]:
    """Structural problems of an AsyncAPI 3.0 document (empty when it is sound).

    Checks what a validator would check first: required fields and their types, the syntax
    of component keys, operation actions, that every ``$ref`` resolves, that an operation's
    messages belong to its channel, and that payloads and headers are schemas.
    """
    problems: list[str] = []
    if not isinstance(document, dict):
        return ["the document is not a JSON object"]
    if document.get("asyncapi") != ASYNCAPI_VERSION:
        problems.append(
            f"asyncapi: expected {ASYNCAPI_VERSION!r}, got {document.get('asyncapi')!r}"
        )
    info = document.get("info")
    if not isinstance(info, dict):
        problems.append("info: missing")
    else:
        for key in ("title", "version"):
            if not isinstance(info.get(key), str) or not info.get(key):
                problems.append(f"info.{key}: missing or not a string")
    channels = document.get("channels", {})
    operations = document.get("operations", {})
    components = document.get("components", {})
    for name, value in (("channels", channels), ("operations", operations)):
        if not isinstance(value, dict):
            problems.append(f"{name}: not an object")
    if not isinstance(components, dict):
        problems.append("components: not an object")
        components = {}
    if problems:
        return problems

    messages = components.get("messages", {})
    for section, entries in (
        ("channels", channels),
        ("operations", operations),
        ("components.messages", messages),
    ):
        for key in entries:
            if not _KEY.match(key):
                problems.append(f"{section}: key {key!r} has characters AsyncAPI does not allow")

    for key, channel in channels.items():
        where = f"channels.{key}"
        if not isinstance(channel, dict):
            problems.append(f"{where}: not an object")
            continue
        address = channel.get("address")
        if address is not None and not isinstance(address, str):
            problems.append(f"{where}.address: must be a string or null")
        if (
            isinstance(address, str)
            and re.search(r"\{[^{}]*\}", address)
            and not channel.get("parameters")
        ):
            problems.append(f"{where}.address: {address!r} has unfilled parameters")
        if not isinstance(channel.get("messages", {}), dict):
            problems.append(f"{where}.messages: not an object")

    for key, operation in operations.items():
        where = f"operations.{key}"
        if not isinstance(operation, dict):
            problems.append(f"{where}: not an object")
            continue
        if operation.get("action") not in ("send", "receive"):
            problems.append(f"{where}.action: must be 'send' or 'receive'")
        channel_ref = (operation.get("channel") or {}).get("$ref")
        if not isinstance(channel_ref, str) or not channel_ref.startswith("#/channels/"):
            problems.append(f"{where}.channel: must be a $ref to #/channels/...")
            continue
        for index, message in enumerate(operation.get("messages", [])):
            ref = message.get("$ref") if isinstance(message, dict) else None
            if not isinstance(ref, str) or not ref.startswith(channel_ref + "/messages/"):
                problems.append(
                    f"{where}.messages[{index}]: must reference a message of {channel_ref}"
                )
        reply = operation.get("reply")
        if reply is not None:
            reply_channel = (reply.get("channel") or {}).get("$ref", "")
            for index, message in enumerate(reply.get("messages", [])):
                ref = message.get("$ref") if isinstance(message, dict) else None
                if not isinstance(ref, str) or not ref.startswith(reply_channel + "/messages/"):
                    problems.append(
                        f"{where}.reply.messages[{index}]: must reference a message of "
                        f"{reply_channel or 'the reply channel'}"
                    )

    for key, message in messages.items():
        where = f"components.messages.{key}"
        if not isinstance(message, dict):
            problems.append(f"{where}: not an object")
            continue
        for part in ("payload", "headers"):
            if part in message and not isinstance(message[part], dict | bool):
                problems.append(f"{where}.{part}: not a schema")
        headers = message.get("headers")
        if isinstance(headers, dict) and headers.get("type") not in (None, "object"):
            problems.append(f"{where}.headers: must be an object schema")

    def check_ref(at: str, ref: str) -> None:
        try:
            _resolve_local(document, ref)
        except LookupError as exc:
            problems.append(f"{at or '/'}: $ref {exc}")

    _refs(document, "", check_ref)
    return problems
