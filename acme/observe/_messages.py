"""The records a `TraceRecorder` keeps: messages on the wire and deliveries to consumers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from acme.runtime.wire import DEAD_LETTER_ERROR, DEAD_LETTER_REASON, DEAD_LETTER_SERVICE

__all__ = [
    "DeliveryRecord",
    "GroupBy",
    "MessageKind",
    "ObserveError",
    "RecordedMessage",
    "group_messages",
]

MessageKind = Literal["publish", "request", "reply", "deadletter", "replay"]
GroupBy = Literal["correlation", "trace"]

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


class ObserveError(RuntimeError):
    """The recorder cannot attach or was used wrongly; the message says what and where."""


@dataclass(frozen=True)
class RecordedMessage:
    """One message on the wire, with what the catalog says about its ends.

    `senders` are the services documented to send this type on this subject, narrowed by
    the causing message when it was recorded (the sender must receive the cause); more
    than one means the catalog leaves it ambiguous. `receivers` likewise, from the
    catalog. `documented` is False when no service is documented to send this type on
    this subject (or the type is unknown to the catalog).
    """

    at: float  # seconds since the epoch, when the recorder saw the message
    subject: str
    kind: MessageKind
    message_type: str
    version: str
    message_id: str
    correlation_id: str
    causation_id: str | None
    traceparent: str | None
    senders: tuple[str, ...]
    receivers: tuple[str, ...]
    size: int  # body bytes
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes | None = field(default=None, repr=False)
    documented: bool = True

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)

    @property
    def trace_id(self) -> str | None:
        """The W3C trace id of `traceparent`, or None when it is missing or malformed."""
        match = _TRACEPARENT.match((self.traceparent or "").strip().lower())
        return match.group(1) if match else None

    @property
    def span_id(self) -> str | None:
        match = _TRACEPARENT.match((self.traceparent or "").strip().lower())
        return match.group(2) if match else None

    @property
    def sender(self) -> str:
        """The sender for display: the service, ``a | b`` when ambiguous, ``?`` unknown."""
        return " | ".join(self.senders) if self.senders else "?"

    @property
    def ambiguous(self) -> bool:
        return len(self.senders) > 1

    @property
    def dead_letter_service(self) -> str | None:
        return self.headers.get(DEAD_LETTER_SERVICE)

    @property
    def dead_letter_reason(self) -> str | None:
        return self.headers.get(DEAD_LETTER_REASON)

    @property
    def dead_letter_error(self) -> str | None:
        return self.headers.get(DEAD_LETTER_ERROR)


@dataclass
class DeliveryRecord:
    """A JetStream delivery of a message to one consuming service, and how it was settled."""

    at: float
    subject: str
    message_type: str
    message_id: str
    correlation_id: str
    service: str  # the consumer group: the receiving service's id
    consumer: str
    attempt: int | None  # JetStream's delivery count (1 = first delivery)
    settled_at: float | None = None
    outcome: str | None = None  # ack | nak | term, None while the handler runs

    @property
    def handler_seconds(self) -> float | None:
        """Delivery to acknowledgement: the handler, its transaction and the ack."""
        return None if self.settled_at is None else self.settled_at - self.at


def message_key(message: RecordedMessage, by: GroupBy) -> str | None:
    """The correlation id, or the W3C trace id, a message is grouped by."""
    return message.correlation_id if by == "correlation" else message.trace_id


def group_messages(
    messages: Iterable[RecordedMessage], by: GroupBy = "correlation"
) -> dict[str, list[RecordedMessage]]:
    """Messages grouped by correlation id or trace id, in recording order."""
    groups: dict[str, list[RecordedMessage]] = {}
    for message in messages:
        key = message_key(message, by)
        if key:
            groups.setdefault(key, []).append(message)
    return groups
