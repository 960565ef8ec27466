"""The path of every incoming message, whatever brought it (broker, replay, webhook):

validate (type, id, major version, JSON, schema) -> poison goes straight to dead letter;
open a transaction -> insert the inbox row (duplicate: stop) -> run the handler -> commit;
a failing handler is retried with exponential back-off, then dead-lettered. The broker
message is acknowledged only after the commit or the dead letter is stored.
"""

from __future__ import annotations

import enum
import logging
import random
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from acme.runtime import inbox
from acme.runtime.errors import PermanentFailure
from acme.runtime.transport import Delivery, Reply
from acme.runtime.wire import (
    CAUSATION_ID,
    CORRELATION_ID,
    MESSAGE_ID,
    MESSAGE_TYPE,
    MESSAGE_VERSION,
    REPLY_ERROR,
    TRACEPARENT,
    dump_payload,
    message_headers,
)
from generator.contracts import Incoming, MessageContext

if TYPE_CHECKING:
    from acme.runtime.app import SystemApp
    from acme.runtime.registry import ServiceBinding

__all__ = ["Outcome", "ServiceConsumer"]


class Outcome(enum.Enum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"  # inbox row already there: acked, no second effect
    IGNORED = "ignored"  # a message type this service does not receive
    DEAD = "dead"  # stored as dead letter, acked
    RETRY_LATER = "retry-later"  # shutting down mid-retry: not acked, redelivered later


class _Poison(Exception):
    """The message can never be processed as sent (bad envelope, JSON, schema, version)."""


class ServiceConsumer:
    """Runs one service's handlers for messages from any source."""

    def __init__(self, app: SystemApp, binding: ServiceBinding, handlers: object) -> None:
        self.app = app
        self.binding = binding
        self.service_id = binding.id
        self.handlers = handlers
        self.logger = logging.getLogger(f"acme.consumer.{binding.id}")
        self.by_type: dict[str, Incoming] = {}
        for incoming in binding.spec.receives:
            if incoming.message.id in self.by_type:
                # Dispatch is by message type; a second channel for it reuses the first handler.
                self.logger.warning(
                    "%s receives %s on several channels; %s() handles all of them",
                    binding.id,
                    incoming.message.id,
                    self.by_type[incoming.message.id].handler,
                )
                continue
            self.by_type[incoming.message.id] = incoming
        self.counts: dict[Outcome, int] = dict.fromkeys(Outcome, 0)

    # -- entry points ------------------------------------------------------------------
    async def on_delivery(self, delivery: Delivery) -> None:
        """Broker callback: process, then settle the delivery according to the outcome."""
        outcome = await self.process(
            delivery.subject, delivery.body, delivery.headers, delivery.delivery_count
        )
        if outcome is Outcome.RETRY_LATER:
            await delivery.nack()
        else:
            await delivery.ack()

    async def process(
        self,
        subject: str,
        body: bytes,
        headers: Mapping[str, str],
        delivery_count: int | None = None,
    ) -> Outcome:
        message_type = headers.get(MESSAGE_TYPE)
        if message_type and message_type not in self.by_type:
            self.logger.debug(
                "ignoring %s on %s: not received by %s", message_type, subject, self.service_id
            )
            return self._count(Outcome.IGNORED)
        try:
            incoming, payload = self._decode(body, headers)
        except _Poison as exc:
            return await self._dead(subject, headers, body, "invalid", str(exc), attempts=0)
        max_attempts = self.app.settings.max_attempts
        if delivery_count is not None and delivery_count > max_attempts:
            # Redelivered over and over without an ack: the process dies while handling it.
            return await self._dead(
                subject,
                headers,
                body,
                "failed",
                f"delivered {delivery_count} times without completing (the process handling it "
                "stopped each time)",
                attempts=delivery_count - 1,
            )
        return await self._run(incoming, payload, dict(headers), subject, body)

    async def deliver_decoded(
        self,
        incoming: Incoming,
        payload: BaseModel,
        message_id: str,
        headers: Mapping[str, str] | None,
        subject: str,
    ) -> Outcome:
        """Webhook path: the decoder already authenticated and parsed the message."""
        message = incoming.message
        full = {
            MESSAGE_ID: message_id,
            MESSAGE_TYPE: message.id,
            MESSAGE_VERSION: message.version,
            **(dict(headers) if headers else {}),
        }
        full.setdefault(CORRELATION_ID, message_id)
        try:
            if not isinstance(payload, message.model):
                payload = message.model.model_validate(payload)
        except ValidationError as exc:
            body = _best_effort_body(payload)
            return await self._dead(subject, full, body, "invalid", _validation_text(exc), 0)
        return await self._run(incoming, payload, full, subject, dump_payload(payload))

    async def on_request(self, delivery: Delivery) -> Reply:
        """Request/reply: the handler's return value is the reply (no inbox, no retries:
        the requester owns the timeout and any retry)."""
        headers = delivery.headers
        try:
            incoming, payload = self._decode(delivery.body, headers)
        except _Poison as exc:
            return Reply(b"", {REPLY_ERROR: f"invalid request: {exc}"})
        message = incoming.message
        context = self._context(headers, attempt=1)
        handler = getattr(self.handlers, incoming.handler)
        try:
            async with self.app.transaction(
                self.service_id,
                correlation_id=context.correlation_id,
                causation_id=context.message_id,
                traceparent=headers.get(TRACEPARENT),
                context=context,
                # Replies are mostly reads; a requester in this process may hold the store's
                # write lock while it waits for this very reply.
                write_lock=False,
            ):
                result = await handler(payload, context)
        except Exception as exc:
            self.logger.exception("%s failed answering %s", self.service_id, message.id)
            return Reply(b"", {REPLY_ERROR: f"{type(exc).__name__}: {exc}"})
        reply_model = message.reply_model
        if reply_model is None or not isinstance(result, reply_model):
            expected = reply_model.__name__ if reply_model else "a reply model"
            return Reply(
                b"",
                {
                    REPLY_ERROR: f"{incoming.handler}() returned {type(result).__name__}, "
                    f"expected {expected}"
                },
            )
        reply_headers = message_headers(
            message_id=str(uuid.uuid4()),
            message_type=message.id,
            message_version=message.version,
            correlation_id=context.correlation_id,
            causation_id=context.message_id,
            traceparent=headers.get(TRACEPARENT),
        )
        return Reply(dump_payload(result), reply_headers)

    # -- internals -----------------------------------------------------------------------
    def _decode(self, body: bytes, headers: Mapping[str, str]) -> tuple[Incoming, BaseModel]:
        message_type = headers.get(MESSAGE_TYPE)
        if not message_type:
            raise _Poison(f"missing {MESSAGE_TYPE} header")
        incoming = self.by_type.get(message_type)
        if incoming is None:
            raise _Poison(f"{self.service_id} does not receive {message_type}")
        if not headers.get(MESSAGE_ID):
            raise _Poison(f"missing {MESSAGE_ID} header")
        version = headers.get(MESSAGE_VERSION)
        if not version:
            raise _Poison(f"missing {MESSAGE_VERSION} header")
        expected = incoming.message
        try:
            major = int(version.split(".", 1)[0])
        except ValueError:
            raise _Poison(f"{MESSAGE_VERSION} {version!r} is not a semantic version") from None
        if major != expected.major:
            raise _Poison(
                f"{message_type} version {version} has unknown major version {major}: "
                f"{self.service_id} handles {expected.version} (major {expected.major})"
            )
        try:
            payload = expected.model.model_validate_json(body)
        except ValidationError as exc:
            raise _Poison(_validation_text(exc)) from None
        return incoming, payload

    def _context(self, headers: Mapping[str, str], attempt: int) -> MessageContext:
        message_id = headers[MESSAGE_ID]
        return MessageContext(
            message_id=message_id,
            message_type=headers[MESSAGE_TYPE],
            message_version=headers[MESSAGE_VERSION],
            correlation_id=headers.get(CORRELATION_ID) or message_id,
            causation_id=headers.get(CAUSATION_ID),
            delivery_attempt=attempt,
            headers=dict(headers),
        )

    async def _run(
        self,
        incoming: Incoming,
        payload: BaseModel,
        headers: dict[str, str],
        subject: str,
        body: bytes,
    ) -> Outcome:
        settings = self.app.settings
        handler = getattr(self.handlers, incoming.handler)
        base = self._context(headers, attempt=1)
        error = ""
        attempt = 0
        for attempt in range(1, settings.max_attempts + 1):
            context = replace(base, delivery_attempt=attempt)
            try:
                async with self.app.transaction(
                    self.service_id,
                    correlation_id=context.correlation_id,
                    causation_id=context.message_id,
                    traceparent=headers.get(TRACEPARENT),
                    context=context,
                ) as tx:
                    fresh = await inbox.claim(
                        tx.conn,
                        consumer=self.service_id,
                        message_id=context.message_id,
                        message_type=context.message_type,
                        now=tx.now(),
                    )
                    if fresh:
                        await handler(payload, context)
                if not fresh:
                    return self._count(Outcome.DUPLICATE)
                return self._count(Outcome.HANDLED)
            except PermanentFailure as exc:
                return await self._dead(subject, headers, body, "failed", _error_text(exc), attempt)
            except Exception as exc:
                error = _error_text(exc)
                self.logger.warning(
                    "%s: %s %s failed (attempt %d/%d): %s: %s",
                    self.service_id,
                    context.message_type,
                    context.message_id,
                    attempt,
                    settings.max_attempts,
                    type(exc).__name__,
                    exc,
                )
                if attempt == settings.max_attempts:
                    break
                if await self.app.sleep_unless_stopping(_backoff(attempt, settings)):
                    return self._count(Outcome.RETRY_LATER)
        return await self._dead(subject, headers, body, "failed", error, attempt)

    async def _dead(
        self,
        subject: str,
        headers: Mapping[str, str],
        body: bytes,
        reason: str,
        error: str,
        attempts: int,
    ) -> Outcome:
        await self.app.dead_letters.record(
            service=self.service_id,
            subject=subject,
            headers=headers,
            body=body,
            reason=reason,
            error=error,
            attempts=attempts,
        )
        return self._count(Outcome.DEAD)

    def _count(self, outcome: Outcome) -> Outcome:
        self.counts[outcome] += 1
        return outcome


def _backoff(attempt: int, settings: Any) -> float:
    delay = min(settings.retry_max_delay, settings.retry_base_delay * 2 ** (attempt - 1))
    return float(delay * random.uniform(0.8, 1.2))  # jitter: retries of a burst spread out


def _validation_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:20]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "(body)"
        parts.append(f"{where}: {err.get('msg')}")
    return f"payload does not match the schema: {'; '.join(parts)}"


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)).strip()


def _best_effort_body(payload: Any) -> bytes:
    if isinstance(payload, BaseModel):
        return dump_payload(payload)
    return repr(payload).encode()
