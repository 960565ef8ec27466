"""What a message looks like on the wire: JSON body plus a fixed set of headers.

Every broker adapter carries these headers unchanged, so the inbox key (message-id), the
dispatch key (message-type) and the trace (traceparent, W3C Trace Context) survive any broker.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = [
    "CAUSATION_ID",
    "CONTENT_TYPE",
    "CORRELATION_ID",
    "DEAD_LETTER_ERROR",
    "DEAD_LETTER_REASON",
    "DEAD_LETTER_SERVICE",
    "INTERNAL_PREFIX",
    "MESSAGE_ID",
    "MESSAGE_TYPE",
    "MESSAGE_VERSION",
    "REPLY_ERROR",
    "TRACEPARENT",
    "child_traceparent",
    "dump_payload",
    "message_headers",
    "public_headers",
]

MESSAGE_ID = "message-id"
MESSAGE_TYPE = "message-type"
MESSAGE_VERSION = "message-version"
CORRELATION_ID = "correlation-id"
CAUSATION_ID = "causation-id"
TRACEPARENT = "traceparent"
CONTENT_TYPE = "content-type"
JSON = "application/json"

# Set on a reply when the answering handler failed; the requester raises RemoteError.
REPLY_ERROR = "acme-error"
# Added to dead-letter copies so a reader of `deadletter.<service>` knows why.
DEAD_LETTER_ERROR = "dead-letter-error"
DEAD_LETTER_REASON = "dead-letter-reason"
DEAD_LETTER_SERVICE = "dead-letter-service"

# Outbox rows keep routing facts (channel id, protocol) in headers with this prefix; the relay
# strips them before anything leaves the process.
INTERNAL_PREFIX = "acme-"
CHANNEL_HEADER = "acme-channel"
PROTOCOL_HEADER = "acme-protocol"

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def child_traceparent(parent: str | None) -> str:
    """A traceparent for the next hop: same trace id when a valid parent exists, new span id.

    Ids come from `random`, as OpenTelemetry's id generator takes them: trace ids must be
    unique, not secret, and reading the OS's entropy pool costs a system call per message."""
    span = f"{random.getrandbits(64) or 1:016x}"  # all zeros is not a valid span id
    if parent:
        match = _TRACEPARENT.match(parent.strip().lower())
        if match and match.group(1) != "0" * 32:
            return f"00-{match.group(1)}-{span}-{match.group(3)}"
    return f"00-{random.getrandbits(128) or 1:032x}-{span}-01"


def message_headers(
    *,
    message_id: str,
    message_type: str,
    message_version: str,
    correlation_id: str,
    causation_id: str | None,
    traceparent: str | None,
) -> dict[str, str]:
    headers = {
        MESSAGE_ID: message_id,
        MESSAGE_TYPE: message_type,
        MESSAGE_VERSION: message_version,
        CORRELATION_ID: correlation_id,
        TRACEPARENT: child_traceparent(traceparent),
        CONTENT_TYPE: JSON,
    }
    if causation_id:
        headers[CAUSATION_ID] = causation_id
    return headers


def public_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers without the runtime's internal routing keys."""
    return {k: v for k, v in headers.items() if not k.startswith(INTERNAL_PREFIX)}


def dump_payload(payload: BaseModel) -> bytes:
    """The wire body of a payload: JSON with the schema's (alias) field names.

    Absent optional fields are left out rather than sent as null: the catalog's schemas
    type them without null, so a null would break the contract for other consumers."""
    return payload.model_dump_json(by_alias=True, exclude_none=True).encode()


def new_id() -> str:
    return str(uuid.uuid4())


def text_of(body: bytes) -> str:
    """A printable form of any body (dead letters keep bodies that are not valid UTF-8)."""
    return body.decode("utf-8", errors="backslashreplace")


def loads_headers(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    value: Any = json.loads(raw)
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}
