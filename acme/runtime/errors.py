"""Exceptions raised by the runtime, each naming what went wrong and where."""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DuplicateRegistration",
    "PermanentFailure",
    "RegistryError",
    "RemoteError",
    "RequestTimeout",
    "RuntimeStateError",
    "WebhookRejected",
]


class ConfigurationError(ValueError):
    """A setting, URL or registration cannot work (raised before anything starts)."""


class DuplicateRegistration(ConfigurationError):
    """Something was registered twice for the same service or channel."""


class RegistryError(LookupError):
    """The generated catalog (or a module it names) is missing or does not fit the runtime."""


class RuntimeStateError(RuntimeError):
    """An API was used at the wrong time (e.g. `current()` outside a transaction)."""


class PermanentFailure(Exception):
    """Raised by a message handler when retrying cannot help: the message is dead-lettered
    at once with this error instead of after N attempts."""


class RemoteError(RuntimeError):
    """The service answering a request failed; carries its error text."""

    def __init__(self, subject: str, message: str) -> None:
        super().__init__(f"request on {subject!r} failed remotely: {message}")
        self.subject = subject
        self.remote_message = message


class RequestTimeout(TimeoutError):
    """No reply arrived for a request within the timeout."""

    def __init__(self, subject: str, timeout: float) -> None:
        super().__init__(f"no reply on {subject!r} within {timeout:g}s")
        self.subject = subject
        self.timeout = timeout


class WebhookRejected(Exception):
    """Raised by a webhook decoder when a request is not genuine (bad signature) -> 400."""
