"""`TraceRecorder`: every message of a running platform, as the broker saw it.

On NATS one core subscription on ``>`` sees everything that crosses the server:

- a publish on a catalog subject (the outbox relay's JetStream publish) -> a message;
- a request on ``_rpc.<subject>`` and its reply on the requester's ``_INBOX`` -> two messages;
- a copy on ``deadletter.<service>`` -> a dead letter (with the runtime's reason and error);
- a JetStream delivery to a consumer (reply subject ``$JS.ACK...``) -> a `DeliveryRecord`
  naming the consuming service (the durable is ``<service>__<subject>``), closed by the
  consumer's acknowledgement: the measured handler time.

Other brokers have no such wiretap: `record()` takes messages from any source (a test, a
RabbitMQ firehose) with the same headers, so everything downstream works unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from acme.observe._catalog import CatalogIndex, as_index
from acme.observe._messages import (
    DeliveryRecord,
    GroupBy,
    MessageKind,
    ObserveError,
    RecordedMessage,
    group_messages,
)
from acme.observe._trace import Trace
from acme.runtime.wire import (
    CAUSATION_ID,
    CORRELATION_ID,
    DEAD_LETTER_SERVICE,
    MESSAGE_ID,
    MESSAGE_TYPE,
    MESSAGE_VERSION,
    TRACEPARENT,
)
from generator import Catalog
from generator.analyst import CatalogExplorer

__all__ = ["TraceRecorder", "broker_url_from_state"]

# Prefixes the runtime uses (acme.runtime.transport.base.RPC_PREFIX, acme.runtime.deadletter).
RPC_PREFIX = "_rpc."
DEADLETTER_PREFIX = "deadletter."
REPLAY_PREFIX = "replay."
INBOX_PREFIX = "_INBOX."
JS_ACK_PREFIX = "$JS.ACK."
NATS_SCHEMES = ("nats", "tls", "ws", "wss")
SUPPORTED = (
    "live capture supports NATS brokers (the embedded one, or ACME_BROKER_URL nats://...); "
    "for RabbitMQ, Redis or Kafka feed captured messages to TraceRecorder.record()"
)


def _ack_parts(subject: str) -> tuple[str, int | None] | None:
    """(consumer, delivery count) of a ``$JS.ACK`` subject (both token layouts)."""
    tokens = subject.split(".")
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        consumer, delivered = tokens[3], tokens[4]
    elif len(tokens) >= 11:  # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>...
        consumer, delivered = tokens[5], tokens[6]
    else:
        return None
    return consumer, int(delivered) if delivered.isdigit() else None


def _ack_outcome(body: bytes) -> str | None:
    text = body.strip()
    if text in (b"", b"+ACK") or text.startswith(b"+NXT"):
        return "ack"
    if text.startswith(b"-NAK"):
        return "nak"
    if text.startswith(b"+TERM"):
        return "term"
    return None  # +WPI (still working) settles nothing


def _kind_of(subject: str) -> MessageKind:
    if subject.startswith(RPC_PREFIX):
        return "request"
    if subject.startswith(INBOX_PREFIX):
        return "reply"
    if subject.startswith(DEADLETTER_PREFIX):
        return "deadletter"
    if subject.startswith(REPLAY_PREFIX):
        return "replay"
    return "publish"


class TraceRecorder:
    """Records every message of a running platform; groups them into `Trace` objects.

        recorder = TraceRecorder()                       # the repository's catalog
        await recorder.attach_platform(data_dir)         # or: await recorder.attach(url)
        ...                                              # run something
        trace = recorder.trace(correlation_id)
        trace.sequence_diagram()
        await recorder.close()

    Args:
        catalog: where senders and receivers come from (see `CatalogIndex`).
        keep_bodies: keep message bodies (for `find(where=...)`); off by default.
        max_messages: older messages are dropped beyond this many (a long load run).
    """

    def __init__(
        self,
        catalog: CatalogIndex | CatalogExplorer | Catalog | str | Path | None = None,
        *,
        keep_bodies: bool = False,
        max_messages: int = 200_000,
    ) -> None:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, not {max_messages}")
        self.catalog = as_index(catalog)
        self.keep_bodies = keep_bodies
        self.max_messages = max_messages
        self.messages: list[RecordedMessage] = []
        self.deliveries: list[DeliveryRecord] = []
        self.ignored = 0  # broker-internal traffic and messages without runtime headers
        self.duplicates = 0  # the same message published twice (an outbox relay retry)
        self.errors = 0  # messages the recorder could not read (see last_error)
        self.last_error: str | None = None
        self.started_at = time.time()
        self.url: str | None = None
        self._by_id: dict[str, RecordedMessage] = {}
        self._seen: set[tuple[str, str, str]] = set()
        self._requests_by_inbox: dict[str, RecordedMessage] = {}
        self._pending_acks: dict[str, DeliveryRecord] = {}
        self._arrived = asyncio.Event()
        self._nc: Any = None

    def __repr__(self) -> str:
        where = f" on {self.url}" if self.url else ""
        return (
            f"<TraceRecorder{where}: {len(self.messages)} messages, "
            f"{len(self.deliveries)} deliveries, {len(self.traces())} traces>"
        )

    # --- attaching --------------------------------------------------------------------

    async def attach(self, url: str, *, name: str = "acme-observe") -> TraceRecorder:
        """Subscribe to everything on the NATS server at `url` (core ``>`` subscription)."""
        if self._nc is not None:
            raise ObserveError(f"this recorder is already attached to {self.url}")
        scheme = urlsplit(url).scheme.lower() if "://" in url else ""
        if scheme not in NATS_SCHEMES:
            raise ObserveError(f"cannot attach to broker {url!r}: {SUPPORTED}")
        import nats  # the runtime's dependency; imported late so record() needs no broker

        try:
            self._nc = await nats.connect(
                url,
                name=name,
                connect_timeout=5,
                # A wrong URL fails in about a second instead of the client's default minute.
                max_reconnect_attempts=3,
                reconnect_time_wait=0.5,
            )
        except Exception as exc:
            raise ObserveError(
                f"cannot connect to NATS at {url}: {type(exc).__name__}: {exc}"
            ) from exc
        await self._nc.subscribe(">", cb=self._on_nats)
        await self._nc.flush()  # the subscription is live before attach() returns
        self.url = url
        self.started_at = time.time()
        return self

    async def attach_platform(self, platform: Any) -> TraceRecorder:
        """Attach to the broker of a running platform: a `PlatformRunner` (in-process, as in
        the notebooks) or the data directory of `acme up` (its ``supervisor.json``)."""
        url = getattr(platform, "broker_url", None)
        if url is None and not isinstance(platform, str | Path):
            raise ObserveError(
                f"attach_platform: expected a PlatformRunner or a data directory, "
                f"got {type(platform).__name__}; has the runner been started?"
            )
        if url is None:
            url = broker_url_from_state(Path(platform))
        return await self.attach(str(url))

    async def close(self) -> None:
        """Stop recording (what was recorded stays)."""
        nc, self._nc = self._nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.drain()

    async def __aenter__(self) -> TraceRecorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def attached(self) -> bool:
        return self._nc is not None and bool(getattr(self._nc, "is_connected", False))

    async def _on_nats(self, msg: Any) -> None:
        try:
            self.record(
                msg.subject, dict(msg.headers or {}), msg.data or b"", reply=msg.reply or None
            )
        except Exception as exc:  # a malformed message must never stop the recording
            self.errors += 1
            self.last_error = f"{msg.subject}: {type(exc).__name__}: {exc}"

    # --- recording --------------------------------------------------------------------

    def record(
        self,
        subject: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        at: float | None = None,
        reply: str | None = None,
    ) -> RecordedMessage | None:
        """Record one message as the broker carried it; returns it, or None for traffic that
        is not a runtime message (broker internals, acks, deliveries, duplicates)."""
        at = time.time() if at is None else at
        if subject.startswith(JS_ACK_PREFIX):
            self._settle(subject, body, at)
            return None
        if reply and reply.startswith(JS_ACK_PREFIX):
            self._delivered(subject, reply, headers, at)
            return None
        message_type = headers.get(MESSAGE_TYPE)
        message_id = headers.get(MESSAGE_ID)
        if subject.startswith("$") or not message_type or not message_id:
            self.ignored += 1
            return None
        kind = _kind_of(subject)
        request = self._requests_by_inbox.pop(subject, None)
        if request is not None:
            kind = "reply"
        key = (kind, message_id, subject)
        if kind in ("publish", "request"):
            # An outbox relay may publish a row twice (JetStream drops the copy; so do we).
            # Dead letters and replays are each a new event, even for the same message.
            if key in self._seen:
                self.duplicates += 1
                return None
            self._seen.add(key)
        message = self._build(subject, kind, headers, body, at, request)
        if kind == "request" and reply:
            self._requests_by_inbox[reply] = message
        if kind in ("publish", "request", "replay"):
            self._by_id.setdefault(message_id, message)
        self.messages.append(message)
        self._trim()
        self._arrived.set()
        return message

    def _build(
        self,
        subject: str,
        kind: MessageKind,
        headers: Mapping[str, str],
        body: bytes,
        at: float,
        request: RecordedMessage | None,
    ) -> RecordedMessage:
        message_type = headers[MESSAGE_TYPE]
        catalog = self.catalog
        documented = True
        if kind == "reply":
            # The answering service replies to whoever asked.
            senders = request.receivers if request else catalog.receivers_of(message_type)
            receivers = request.senders if request else catalog.senders_of(message_type)
        elif kind == "deadletter":
            service = headers.get(DEAD_LETTER_SERVICE) or subject[len(DEADLETTER_PREFIX) :]
            senders, receivers = (service,), ()
        elif kind == "replay":
            service = subject[len(REPLAY_PREFIX) :]
            senders, receivers = (), (service,)
        else:
            address = subject[len(RPC_PREFIX) :] if kind == "request" else subject
            senders = catalog.senders(message_type, address)
            receivers = catalog.receivers(message_type, address)
            documented = catalog.subject_documented(message_type, address)
            cause = self._by_id.get(headers.get(CAUSATION_ID) or "")
            if cause is not None and len(senders) > 1:
                # Whoever sent this reacted to the cause, so it must receive the cause.
                narrowed = tuple(s for s in senders if s in cause.receivers)
                senders = narrowed or senders
        return RecordedMessage(
            at=at,
            subject=subject,
            kind=kind,
            message_type=message_type,
            version=headers.get(MESSAGE_VERSION, ""),
            message_id=headers[MESSAGE_ID],
            correlation_id=headers.get(CORRELATION_ID) or headers[MESSAGE_ID],
            causation_id=headers.get(CAUSATION_ID) or None,
            traceparent=headers.get(TRACEPARENT) or None,
            senders=senders,
            receivers=receivers,
            size=len(body),
            headers=dict(headers),
            body=bytes(body) if self.keep_bodies else None,
            documented=documented and catalog.knows_message(message_type),
        )

    def _delivered(self, subject: str, ack: str, headers: Mapping[str, str], at: float) -> None:
        parts = _ack_parts(ack)
        message_type, message_id = headers.get(MESSAGE_TYPE), headers.get(MESSAGE_ID)
        if parts is None or not message_type or not message_id:
            self.ignored += 1
            return
        consumer, attempt = parts
        # Durables are named `<service>__<subject>` (acme.runtime.transport.nats.durable_name).
        service = consumer.split("__", 1)[0]
        delivery = DeliveryRecord(
            at=at,
            subject=subject,
            message_type=message_type,
            message_id=message_id,
            correlation_id=headers.get(CORRELATION_ID) or message_id,
            service=service,
            consumer=consumer,
            attempt=attempt,
        )
        self.deliveries.append(delivery)
        self._pending_acks[ack] = delivery
        self._arrived.set()

    def _settle(self, subject: str, body: bytes, at: float) -> None:
        outcome = _ack_outcome(body)
        if outcome is None:
            return
        delivery = self._pending_acks.pop(subject, None)
        if delivery is not None:
            delivery.settled_at, delivery.outcome = at, outcome
            self._arrived.set()

    def _trim(self) -> None:
        if len(self.messages) <= self.max_messages:
            return
        drop = max(1, self.max_messages // 10)
        for old in self.messages[:drop]:
            if self._by_id.get(old.message_id) is old:
                del self._by_id[old.message_id]
            self._seen.discard((old.kind, old.message_id, old.subject))
        del self.messages[:drop]
        cutoff = self.messages[0].at
        self.deliveries = [d for d in self.deliveries if d.at >= cutoff]

    def clear(self) -> None:
        """Forget what was recorded so far (keep recording)."""
        self.messages.clear()
        self.deliveries.clear()
        self._by_id.clear()
        self._seen.clear()
        self._requests_by_inbox.clear()
        self._pending_acks.clear()
        self.ignored = self.duplicates = self.errors = 0
        self.last_error = None
        self.started_at = time.time()

    # --- reading ----------------------------------------------------------------------

    def find(
        self,
        message_type: str | None = None,
        *,
        correlation_id: str | None = None,
        where: Callable[[RecordedMessage], bool] | None = None,
    ) -> list[RecordedMessage]:
        """Recorded messages of a type and/or correlation id that satisfy `where`."""
        return [
            m
            for m in self.messages
            if (message_type is None or m.message_type == message_type)
            and (correlation_id is None or m.correlation_id == correlation_id)
            and (where is None or where(m))
        ]

    async def wait_for(
        self,
        message_type: str,
        *,
        correlation_id: str | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[RecordedMessage]:
        """Wait until `count` messages of `message_type` (in that correlation) were recorded."""
        try:
            async with asyncio.timeout(timeout):
                while len(found := self.find(message_type, correlation_id=correlation_id)) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            seen = len(self.find(message_type, correlation_id=correlation_id))
            where = f" in correlation {correlation_id}" if correlation_id else ""
            raise TimeoutError(
                f"{seen} of {count} {message_type} message(s){where} after {timeout:g}s"
            ) from None
        return found

    async def settle(self, quiet: float = 0.5, *, timeout: float = 10.0) -> None:
        """Wait until nothing new arrived for `quiet` seconds (at most `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), quiet)
            except TimeoutError:
                return

    def trace(
        self,
        key: str,
        *,
        by: GroupBy = "correlation",
        join_on: Sequence[str] = (),
        max_groups: int = 20,
    ) -> Trace:
        """The messages of one correlation id (or W3C trace id with ``by="trace"``).

        `join_on` names body fields (``("checkoutId", "orderId")``) that identify one
        business transaction: other groups whose messages carry one of the same values are
        joined in, transitively (at most `max_groups` groups). That follows a flow across a
        hop that starts a new correlation, like a payment provider's webhook. Needs
        ``keep_bodies=True``.
        """
        if join_on and not self.keep_bodies:
            raise ObserveError(
                "trace(join_on=...) reads message bodies: record with keep_bodies=True"
            )
        groups = group_messages(self.messages, by)
        if key not in groups:
            known = list(groups)[-5:]
            hint = f"; recent ones: {', '.join(known)}" if known else "; nothing recorded yet"
            raise KeyError(f"no messages with {by} id {key!r}{hint}")
        chosen = [key]
        if join_on:
            chosen = _joined(groups, key, tuple(join_on), max_groups)
        messages = [m for k in chosen for m in groups[k]]
        ids = {m.message_id for m in messages}
        deliveries = [d for d in self.deliveries if d.message_id in ids]
        return Trace(key, messages, deliveries, by=by, catalog=self.catalog)

    def traces(self, *, by: GroupBy = "correlation") -> list[Trace]:
        """Every trace recorded, oldest first."""
        groups = group_messages(self.messages, by)
        deliveries: dict[str, list[DeliveryRecord]] = {}
        for delivery in self.deliveries:
            deliveries.setdefault(delivery.message_id, []).append(delivery)
        return [
            Trace(
                key,
                msgs,
                [d for m in msgs for d in deliveries.get(m.message_id, ())],
                by=by,
                catalog=self.catalog,
            )
            for key, msgs in groups.items()
        ]


def broker_url_from_state(data_dir: Path) -> str:
    """The broker URL of the platform whose supervisor state lives in `data_dir`."""
    from acme.runtime.supervisor import STATE_FILE, PlatformError, read_state

    try:
        state = read_state(data_dir)
    except PlatformError as exc:
        raise ObserveError(str(exc)) from exc
    if state is None:
        raise ObserveError(
            f"no {STATE_FILE} in {data_dir}: is the platform running from there "
            "(acme up with ACME_DATA_DIR, or a started PlatformRunner)?"
        )
    if not state.get("running"):
        raise ObserveError(
            f"{data_dir / STATE_FILE} is left from a supervisor (pid {state.get('pid')}) "
            "that no longer runs: start the platform again"
        )
    url = state.get("broker")
    if not isinstance(url, str) or not url:
        raise ObserveError(f"{data_dir / STATE_FILE} names no broker")
    if "***" in url:
        raise ObserveError(
            f"{data_dir / STATE_FILE} hides the broker password ({url}): "
            "pass the full URL to TraceRecorder.attach()"
        )
    return url


def _fields(message: RecordedMessage, names: tuple[str, ...]) -> set[tuple[str, str]]:
    """(field, value) pairs of the named top-level fields of a JSON body."""
    if not message.body:
        return set()
    try:
        body = json.loads(message.body)
    except ValueError:
        return set()
    if not isinstance(body, dict):
        return set()
    return {(name, str(body[name])) for name in names if body.get(name) not in (None, "")}


def _joined(
    groups: Mapping[str, list[RecordedMessage]], key: str, names: tuple[str, ...], limit: int
) -> list[str]:
    """`key` plus every group that shares a (field, value) with the joined ones, transitively."""
    values = {k: set().union(*(_fields(m, names) for m in msgs)) for k, msgs in groups.items()}
    chosen = [key]
    wanted = set(values[key])
    changed = True
    while changed and len(chosen) < limit:
        changed = False
        for other, found in values.items():
            if other not in chosen and found & wanted:
                chosen.append(other)
                wanted |= found
                changed = True
                if len(chosen) >= limit:
                    break
    return chosen
