"""A client-only service (sends over the HTTP gateway only): hosted by no process."""

from generator.contracts import ServiceSpec

SERVICE = ServiceSpec(
    id="watcher-client", name="Watcher", version="1.0.0", system=None, domain="watchers"
)
