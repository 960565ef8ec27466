"""What the catalog says about a message seen on the wire: who sends it, who receives it.

The subjects are computed by the generator's own `CatalogView` (the code every generated
publisher and consumer was rendered from), so a subject seen on the broker is matched
against exactly the address the generated code uses, routed channels included.
"""

from __future__ import annotations

import re
from pathlib import Path

from generator import Catalog, CatalogView, Flow, Message, latest_by_id
from generator.analyst import CatalogExplorer, FlowView, open_catalog

__all__ = ["CatalogIndex", "as_index"]

_PLACEHOLDER = re.compile(r"\{[^{}]+\}")


def _pattern(address: str) -> re.Pattern[str] | None:
    """A regex for an address that still holds `{parameter}` placeholders, else None."""
    if not _PLACEHOLDER.search(address):
        return None
    parts = _PLACEHOLDER.split(address)
    return re.compile("[^.]+".join(re.escape(p) for p in parts) + r"\Z")


class _Routes:
    """(message id, address) -> services, with placeholder addresses matched by pattern."""

    def __init__(self) -> None:
        self.exact: dict[tuple[str, str], list[str]] = {}
        self.patterns: list[tuple[str, re.Pattern[str], str]] = []
        self.by_message: dict[str, list[str]] = {}
        self.addresses: dict[str, list[str]] = {}  # message id -> addresses as documented

    def add(self, message_id: str, address: str, service_id: str) -> None:
        pattern = _pattern(address)
        if pattern is None:
            _append(self.exact.setdefault((message_id, address), []), service_id)
        else:
            self.patterns.append((message_id, pattern, service_id))
        _append(self.by_message.setdefault(message_id, []), service_id)
        _append(self.addresses.setdefault(message_id, []), address)

    def find(self, message_id: str, subject: str) -> tuple[tuple[str, ...], bool]:
        """The services for this message on this subject, and whether the subject matched
        (False: only the message type matched, the subject is not one the catalog names)."""
        found = list(self.exact.get((message_id, subject), ()))
        for mid, pattern, service in self.patterns:
            if mid == message_id and pattern.match(subject):
                _append(found, service)
        if found:
            return tuple(found), True
        return tuple(self.by_message.get(message_id, ())), False


def _append(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


class CatalogIndex:
    """Lookups the observer needs, built once from a catalog.

    Args:
        catalog: a `CatalogExplorer` (from `generator.analyst.open_catalog`), a loaded
            `Catalog`, a catalog folder, or None for the ``catalog/`` folder of the
            surrounding git repository.
    """

    def __init__(self, catalog: CatalogExplorer | Catalog | str | Path | None = None) -> None:
        self.explorer = catalog if isinstance(catalog, CatalogExplorer) else open_catalog(catalog)
        self.model: Catalog = self.explorer.model
        view = CatalogView(self.model)
        self._sends = _Routes()
        self._receives = _Routes()
        self._broker_messages: set[str] = set()
        self._system_of: dict[str, str] = {}
        self._domain_of: dict[str, str] = {}
        for service in view.services:
            system = view.system_of(service)
            if system is not None:
                self._system_of[service.id] = system.id
            domain = view.domain_of(service)
            if domain is not None:
                self._domain_of[service.id] = domain.id
            for use in view.sends(service):
                if use.binding.is_broker:
                    self._broker_messages.add(use.message.id)
                self._sends.add(use.message.id, use.binding.address, service.id)
            for use in view.receives(service):
                if use.binding.is_broker:
                    self._broker_messages.add(use.message.id)
                self._receives.add(use.message.id, use.binding.address, service.id)
        self.services: tuple[str, ...] = tuple(s.id for s in view.services)
        self._messages: dict[str, Message] = latest_by_id(self.model.messages)
        self._flows: dict[str, Flow] = latest_by_id(self.model.flows)

    def __repr__(self) -> str:
        return f"<CatalogIndex {self.model.root}: {len(self.services)} services>"

    # --- messages ---------------------------------------------------------------------

    def senders(self, message_type: str, subject: str) -> tuple[str, ...]:
        """Services documented as sending `message_type` on `subject` (by type alone when
        no sender uses that subject); empty when the catalog names no sender."""
        return self._sends.find(message_type, subject)[0]

    def receivers(self, message_type: str, subject: str) -> tuple[str, ...]:
        """Services documented as receiving `message_type` on `subject` (by type alone when
        the subject is not one the catalog names)."""
        return self._receives.find(message_type, subject)[0]

    def subject_documented(self, message_type: str, subject: str) -> bool:
        """True when some service is documented to send `message_type` on `subject`."""
        return self._sends.find(message_type, subject)[1]

    def senders_of(self, message_type: str) -> tuple[str, ...]:
        """Every service documented as sending `message_type`, whatever the channel."""
        return tuple(self._sends.by_message.get(message_type, ()))

    def addresses(self, message_type: str) -> tuple[str, ...]:
        """The subjects (or HTTP paths) `message_type` is documented to be sent on."""
        return tuple(self._sends.addresses.get(message_type, ()))

    def receivers_of(self, message_type: str) -> tuple[str, ...]:
        return tuple(self._receives.by_message.get(message_type, ()))

    def knows_message(self, message_type: str) -> bool:
        return message_type in self._messages

    def message_kind(self, message_type: str) -> str | None:
        found = self._messages.get(message_type)
        return found.kind if found else None

    def on_broker(self, message_type: str) -> bool:
        """True when some service sends or receives the message over a broker channel (False
        for messages that only travel over HTTP, which a broker capture cannot see)."""
        return message_type in self._broker_messages

    # --- services and systems ---------------------------------------------------------

    def system_of(self, service_id: str) -> str | None:
        return self._system_of.get(service_id)

    def node_of(self, service_id: str) -> str:
        """The systems-map node a service is drawn in: its system, else the service itself
        (the analyst's systems map shows system-less services, like Reviews', directly)."""
        return self._system_of.get(service_id, service_id)

    def services_of_node(self, node: str) -> list[str]:
        return [s for s in self.services if self.node_of(s) == node]

    # --- flows ------------------------------------------------------------------------

    def flow(self, flow: str | Flow | FlowView) -> Flow:
        """A flow model from its id or name, a `FlowView`, or the model itself."""
        if isinstance(flow, Flow):
            return flow
        if isinstance(flow, FlowView):
            return flow.flow
        if flow in self._flows:
            return self._flows[flow]
        return self.explorer.flow(flow).flow  # by name, or NotInCatalog naming close ids

    def has_flow(self, flow_id: str) -> bool:
        return flow_id in self._flows

    def flows_with(self, message_type: str) -> list[str]:
        """Ids of the flows that have a step carrying `message_type`."""
        return sorted(
            f.id
            for f in self._flows.values()
            if any(s.message is not None and s.message.id == message_type for s in f.steps)
        )


def as_index(
    catalog: CatalogIndex | CatalogExplorer | Catalog | str | Path | None,
) -> CatalogIndex:
    """A `CatalogIndex` from any of the forms the observer accepts."""
    if isinstance(catalog, CatalogIndex):
        return catalog
    try:
        return CatalogIndex(catalog)
    except OSError as exc:
        raise ValueError(f"cannot open catalog {catalog!r}: {exc}") from exc
