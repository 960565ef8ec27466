"""Types shared by generated code and the runtime that hosts it.

Generated modules import only this module (plus pydantic and fastapi); they never import
the implementation. The runtime implements `Outbox` and `Authorizer`, and drives handlers
through the `ServiceSpec` declared by each generated service module. Keeping the seam here
means a new broker or store is a runtime change, never a regeneration.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_type_hints

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

__all__ = [
    "ApiError",
    "Authorizer",
    "ChannelBinding",
    "FromString",
    "HandlerContractError",
    "Incoming",
    "JsonBody",
    "MessageContext",
    "MessageSpec",
    "NotNull",
    "OperationSpec",
    "Outbox",
    "Outgoing",
    "RequestContext",
    "Route",
    "ServiceSpec",
    "UniqueItems",
    "check_handlers",
]

MessageKind = Literal["event", "command", "query"]


@dataclass(frozen=True)
class MessageSpec:
    """A catalog message as the runtime needs it: identity, payload model, reply model."""

    id: str
    version: str
    kind: MessageKind
    name: str
    model: type[BaseModel]
    # Request/response exchanges: `model` is the request, `reply_model` the response.
    reply_model: type[BaseModel] | None = None
    source: str = ""  # catalog file the message came from

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])


@dataclass(frozen=True)
class ChannelBinding:
    """Where a message travels, resolved from the catalog's channels.

    `address` is the channel address with parameters filled in (a broker subject or an
    HTTP path). For routed channels (A routes to B routes to C) it is the address of the
    channel the sender publishes to, so that producer and consumer meet on one subject.
    """

    channel_id: str | None
    address: str
    protocol: str  # first protocol of the channel, e.g. "nats", "kafka", "http", "https"
    delivery_guarantee: str | None = None

    @property
    def is_broker(self) -> bool:
        return self.protocol not in {"http", "https"}


@dataclass(frozen=True)
class Outgoing:
    """A message a service sends, on one channel."""

    message: MessageSpec
    channel: ChannelBinding
    method: str  # publisher method name


@dataclass(frozen=True)
class Incoming:
    """A message a service receives, on one channel, and the handler method that takes it."""

    message: MessageSpec
    channel: ChannelBinding
    handler: str  # handler contract method name


@dataclass(frozen=True)
class OperationSpec:
    """One HTTP operation of a service's OpenAPI document."""

    operation_id: str
    method: str
    path: str
    summary: str = ""
    message_id: str | None = None  # catalog message this operation carries, if any
    security: tuple[str, ...] = ()  # security scheme names; empty = public
    roles: tuple[str, ...] = ()  # from the operation's x-roles extension
    status_codes: tuple[int, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the catalog says about one service, for hosting and introspection."""

    id: str
    name: str
    version: str
    system: str | None
    domain: str | None
    sends: tuple[Outgoing, ...] = ()
    receives: tuple[Incoming, ...] = ()
    operations: tuple[OperationSpec, ...] = ()
    writes_to: tuple[str, ...] = ()
    reads_from: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class MessageContext:
    """Delivery metadata handed to every message handler alongside the typed payload."""

    message_id: str
    message_type: str
    message_version: str
    correlation_id: str
    causation_id: str | None = None
    delivery_attempt: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestContext:
    """Who is calling an HTTP operation, and the ids that tie it to what follows."""

    operation: OperationSpec
    subject: str | None = None  # authenticated principal (customer id or staff id)
    roles: frozenset[str] = frozenset()
    correlation_id: str = ""
    idempotency_key: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class ApiError(Exception):
    """Raised by HTTP handlers; the runtime turns it into a problem response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Outbox(Protocol):
    """Where publishers put outgoing messages; the runtime commits them with the state change."""

    async def put(self, outgoing: Outgoing, payload: BaseModel, *, key: str | None = None) -> str:
        """Stage `payload` for delivery; returns the message id. `key` makes it idempotent."""
        ...

    async def request(self, outgoing: Outgoing, payload: BaseModel) -> BaseModel:
        """Send a request and wait for the reply (request/response exchanges only)."""
        ...


class Authorizer(Protocol):
    """Builds the FastAPI dependency that authenticates and authorises one operation."""

    def dependency(self, operation: OperationSpec) -> Callable[..., Awaitable[RequestContext]]: ...


@dataclass(frozen=True)
class Route:
    """An incoming message bound to the handler method that implements it."""

    incoming: Incoming
    handler: Callable[..., Awaitable[Any]]


# --- Field markers of generated models ------------------------------------------------------
# The generator's class template puts these in a field's `Annotated[...]` where a JSON Schema
# rule has no Pydantic type of its own. Each one validates and also writes the rule back into
# the model's JSON Schema, so the published schema says what the model enforces.

_NULL_SCHEMA: dict[str, Any] = {"type": "null"}
# Set while a request body is validated (see `JsonBody`).
_REQUEST_BODY: ContextVar[bool] = ContextVar("generator_contracts_request_body", default=False)


class JsonBody:
    """A request body parameter of a generated router: its data came from JSON.

    FastAPI parses a body with ``json.loads`` and validates the result in Pydantic's Python
    mode, as it would a dict built in code; this marker tells `NotNull` that this one is data
    from outside. (A broker message is validated with ``model_validate_json``: JSON mode.)
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_wrap_validator_function(_as_request_body, handler(source))

    def __repr__(self) -> str:
        return "JsonBody()"


def _as_request_body(value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
    token = _REQUEST_BODY.set(True)
    try:
        return handler(value)
    finally:
        _REQUEST_BODY.reset(token)


class NotNull:
    """An optional property whose schema does not admit null.

    Left out, the field holds its default (None). Sent as null in JSON (a request body, a
    broker message, ``model_validate_json``) it is an error naming the field. In Python the
    type stays ``X | None`` and None means "absent": code may build a model with
    ``field=None`` or from a dict holding None, and outputs leave None out, so the JSON written
    is the same as without the property.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = handler(source)
        return core_schema.with_info_before_validator_function(_refuse_null, schema)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return _without_null(handler(schema))

    def __repr__(self) -> str:
        return "NotNull()"


def _refuse_null(value: Any, info: core_schema.ValidationInfo) -> Any:
    if value is None and (info.mode == "json" or _REQUEST_BODY.get()):
        raise PydanticCustomError(
            "null_not_allowed", "Input should not be null (leave the property out instead)"
        )
    return value


def _without_null(schema: JsonSchemaValue) -> JsonSchemaValue:
    options = schema.get("anyOf")
    if not isinstance(options, list) or _NULL_SCHEMA not in options:
        return schema
    rest = [option for option in options if option != _NULL_SCHEMA]
    others = {key: value for key, value in schema.items() if key != "anyOf"}
    if len(rest) == 1:
        return {**rest[0], **others}
    return {"anyOf": rest, **others}


class UniqueItems:
    """An array property with ``uniqueItems: true``: a repeated item is an error naming both
    positions. The value stays a list, in the order given (a set would not keep it)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = handler(source)
        return core_schema.no_info_after_validator_function(_refuse_repeats, schema)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return _mark_unique(handler(schema))

    def __repr__(self) -> str:
        return "UniqueItems()"


def _refuse_repeats(items: Any) -> Any:
    if not isinstance(items, list):
        return items  # None where the property is optional
    hashed: dict[Any, int] = {}  # item (as JSON compares it) -> first position
    unhashed: list[tuple[Any, int]] = []  # dicts and lists: compared one by one
    for position, item in enumerate(items):
        key = (type(item) is bool, item)  # JSON: true is not 1
        try:
            first = hashed.setdefault(key, position)
        except TypeError:
            first = next((at for other, at in unhashed if other == item), position)
            if first == position:
                unhashed.append((item, position))
        if first != position:
            raise PydanticCustomError(
                "unique_items",
                "Items should be unique; item {position} repeats item {first}",
                {"position": position, "first": first},
            )
    return items


def _mark_unique(schema: JsonSchemaValue) -> JsonSchemaValue:
    if schema.get("type") == "array":
        return {**schema, "uniqueItems": True}
    options = schema.get("anyOf")
    if isinstance(options, list):
        marked = [_mark_unique(option) for option in options]
        return {**schema, "anyOf": marked}
    return schema


class FromString:
    """A date, time or date-time property: a string in JSON, never a number.

    Pydantic's date and time types also take a number as a Unix timestamp; JSON Schema's
    formats apply to strings only. Python code may still pass `datetime` or `date` objects.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(_refuse_numbers, handler(source))

    def __repr__(self) -> str:
        return "FromString()"


def _refuse_numbers(value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, int | float) for item in items):  # bool is an int too
        raise PydanticCustomError(
            "string_type", "Input should be a string (a date or time is never a number in JSON)"
        )
    return value


class HandlerContractError(TypeError):
    """A handler object does not implement its generated contract (the catalog changed)."""


def check_handlers(contract: type, handlers: object, *, service: ServiceSpec | None = None) -> None:
    """Fail fast, naming the catalog change, when `handlers` does not fit `contract`.

    Type checkers catch the same mismatch statically; this is the start-up guard for code
    that is run without one.
    """
    problems: list[str] = []
    expected_hints: dict[str, dict[str, Any]] = {}
    for name, member in inspect.getmembers(contract, inspect.isfunction):
        if name.startswith("_"):
            continue
        expected_hints[name] = get_type_hints(member)
    where = f" (catalog: {service.source})" if service and service.source else ""
    for name, hints in sorted(expected_hints.items()):
        impl = getattr(handlers, name, None)
        if impl is None:
            problems.append(f"missing method {name}(){_origin(service, name)}")
            continue
        if not inspect.iscoroutinefunction(impl):
            problems.append(f"{name}() must be 'async def'")
            continue
        try:
            actual = get_type_hints(impl)
        except Exception:  # unresolvable annotations: leave it to the type checker
            continue
        for param, expected in hints.items():
            if param == "return":
                continue
            got = actual.get(param)
            if got is not None and got is not expected and _is_model(expected) and _is_model(got):
                problems.append(
                    f"{name}() takes {param}: {got.__name__}, contract says {expected.__name__}"
                    f"{_origin(service, name)}"
                )
    if problems:
        owner = type(handlers).__name__
        raise HandlerContractError(
            f"{owner} does not implement {contract.__name__}{where}: " + "; ".join(problems)
        )


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _origin(service: ServiceSpec | None, method: str) -> str:
    if service is None:
        return ""
    for incoming in service.receives:
        if incoming.handler == method:
            m = incoming.message
            return f" — catalog says {service.id} receives {m.id} {m.version}"
    for op in service.operations:
        if op.operation_id and method.endswith(_snake(op.operation_id)):
            return f" — catalog says {service.id} serves {op.method} {op.path}"
    return ""


def _snake(name: str) -> str:
    out: list[str] = []
    for ch in name:
        if ch.isupper() and out:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
