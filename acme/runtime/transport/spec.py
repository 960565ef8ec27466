"""What the transport tells FastStream about each subject, for FastStream's own AsyncAPI document.

The runtime's handlers take the raw body (the consumer validates it itself, so that bad input
becomes a dead letter), which leaves FastStream nothing to describe. This module derives, from
the `ServiceSpec`s a process hosts, what each subscriber receives and each publisher sends, and
turns it into the annotation FastStream documents a handler parameter by:
``Annotated[Any, Field(title=...), WithJsonSchema(schema)]``. Validation of `Any` lets the bytes
through untouched, so the hot path does not change; only the JSON Schema FastStream reads does.

Payload schemas are the payload models' own JSON Schemas (by alias, references inlined: pydantic
refuses references it did not make). Several message types on one subject become a ``oneOf``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from generator.contracts import Incoming, Outgoing, ServiceSpec

__all__ = [
    "Endpoint",
    "SubscriptionKind",
    "inline_local_refs",
    "model_schema",
    "payload_annotation",
    "publications",
    "subscription",
]

SubscriptionKind = Literal["events", "requests"]


@dataclass(frozen=True)
class Endpoint:
    """One subject a service consumes or publishes, as FastStream should document it."""

    service: str
    subject: str  # the catalog address (requests travel on RPC_PREFIX + subject)
    kind: SubscriptionKind
    messages: tuple[tuple[str, str], ...]  # (message id, version), in catalog order
    models: tuple[type[BaseModel], ...]

    @property
    def description(self) -> str:
        listed = ", ".join(f"{m} {v}" for m, v in self.messages)
        return f"{self.service}: {listed}" if listed else self.service

    def annotation(self, title: str) -> Any:
        """The handler parameter (or publisher schema) type FastStream documents."""
        return payload_annotation(self.models, title)


def inline_local_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its ``#/$defs/...`` references replaced by their targets.

    Raises:
        ValueError: for a recursive model, which cannot be written without references.
    """
    defs = schema.get("$defs", {})

    def resolve(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:
                raise ValueError(f"recursive model {name} cannot be described without $ref")
            target = resolve(defs[name], seen | {name})
            siblings = {k: resolve(v, seen) for k, v in node.items() if k != "$ref"}
            return {**target, **siblings}
        return {k: resolve(v, seen) for k, v in node.items() if k != "$defs"}

    resolved: dict[str, Any] = resolve(schema, frozenset())
    return resolved


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The wire JSON Schema of a payload model: field aliases, nothing referenced."""
    return inline_local_refs(model.model_json_schema(by_alias=True))


def payload_annotation(models: Sequence[type[BaseModel]], title: str) -> Any:
    """``Annotated[Any, ...]`` whose JSON Schema is the model's, or a oneOf of several."""
    if not models:
        return Any
    if len(models) == 1:
        schema = model_schema(models[0])
    else:
        schema = {"oneOf": [model_schema(m) for m in models]}
    return Annotated[Any, Field(title=title), WithJsonSchema(schema)]


def _unique_models(items: Iterable[Incoming | Outgoing]) -> tuple[type[BaseModel], ...]:
    models: dict[type[BaseModel], None] = {}
    for item in items:
        models[item.message.model] = None
    return tuple(models)


def subscription(
    specs: Iterable[ServiceSpec], group: str, subject: str, kind: SubscriptionKind
) -> Endpoint | None:
    """What service `group` receives on `subject` per its spec; None when the spec does not
    name that subject (the runtime's own subjects, such as dead-letter replays)."""
    for spec in specs:
        if spec.id != group:
            continue
        incomings = [
            i
            for i in spec.receives
            if i.channel.is_broker
            and i.channel.address == subject
            and (i.message.reply_model is not None) == (kind == "requests")
        ]
        if not incomings:
            return None
        return Endpoint(
            service=spec.id,
            subject=subject,
            kind=kind,
            messages=tuple(dict.fromkeys((i.message.id, i.message.version) for i in incomings)),
            models=_unique_models(incomings),
        )
    return None


def publications(spec: ServiceSpec) -> list[Endpoint]:
    """One endpoint per broker subject `spec` sends on (exchanges are requests)."""
    grouped: dict[tuple[str, SubscriptionKind], list[Outgoing]] = {}
    for outgoing in spec.sends:
        if not outgoing.channel.is_broker:
            continue  # https sends go to a channel adapter, never to the broker
        kind: SubscriptionKind = "requests" if outgoing.message.reply_model else "events"
        grouped.setdefault((outgoing.channel.address, kind), []).append(outgoing)
    return [
        Endpoint(
            service=spec.id,
            subject=subject,
            kind=kind,
            messages=tuple(dict.fromkeys((o.message.id, o.message.version) for o in items)),
            models=_unique_models(items),
        )
        for (subject, kind), items in grouped.items()
    ]
