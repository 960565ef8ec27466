"""Synthetic traffic for the observer tests: messages with the runtime's real wire headers,
at chosen times, fed to a recorder as the broker would deliver them."""

from __future__ import annotations

import uuid

from acme.observe import RecordedMessage, TraceRecorder
from acme.runtime.wire import (
    DEAD_LETTER_ERROR,
    DEAD_LETTER_REASON,
    DEAD_LETTER_SERVICE,
    message_headers,
)


class Wire:
    """Sends messages of one correlation into `recorder`, each caused by the previous one
    unless told otherwise, `step` seconds apart (no wall clock involved)."""

    def __init__(self, recorder: TraceRecorder, *, start: float = 1_000.0, step: float = 0.01):
        self.recorder = recorder
        self.correlation_id = str(uuid.uuid4())
        self.now = start
        self.step = step
        self.last: RecordedMessage | None = None
        self.traceparent: str | None = None

    def send(
        self,
        message_type: str,
        *,
        subject: str | None = None,
        cause: RecordedMessage | None = None,
        after: float | None = None,
        version: str = "1.0.0",
        body: bytes = b"{}",
    ) -> RecordedMessage:
        cause = cause if cause is not None else self.last
        if subject is None:
            addresses = self.recorder.catalog.addresses(message_type)
            subject = addresses[0] if addresses else f"test.{message_type}"
        headers = message_headers(
            message_id=str(uuid.uuid4()),
            message_type=message_type,
            message_version=version,
            correlation_id=self.correlation_id,
            causation_id=cause.message_id if cause else None,
            traceparent=self.traceparent,
        )
        self.traceparent = headers["traceparent"]
        self.now += self.step if after is None else after
        message = self.recorder.record(subject, headers, body, at=self.now)
        assert message is not None, f"{message_type} on {subject} was not recorded"
        self.last = message
        return message

    def chain(self, *message_types: str) -> list[RecordedMessage]:
        return [self.send(t) for t in message_types]

    def dead_letter(self, of: RecordedMessage, service: str, error: str = "boom") -> None:
        headers = dict(of.headers)
        headers.update(
            {DEAD_LETTER_SERVICE: service, DEAD_LETTER_REASON: "failed", DEAD_LETTER_ERROR: error}
        )
        self.now += self.step
        self.recorder.record(f"deadletter.{service}", headers, b"{}", at=self.now)
