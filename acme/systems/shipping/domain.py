"""Shipping rules without I/O: the shipment's states and what each tracking event does to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ShipmentStatus = Literal["REQUESTED", "CREATED", "DELIVERED", "FAILED"]
TrackingEvent = Literal["created", "delivered", "failed"]

# The carrier Acme books with; the adapter is the only place that names it.
CARRIER = "carrier"
DEFAULT_SERVICE = "STANDARD"
FINAL: tuple[ShipmentStatus, ...] = ("DELIVERED", "FAILED")

# Tracking events may arrive late or twice: each moves a shipment only forward, and a final
# state (delivered, or failed: re-shipping needs a new ready-for-shipping) is never left.
_NEXT: dict[TrackingEvent, tuple[tuple[ShipmentStatus, ...], ShipmentStatus]] = {
    "created": (("REQUESTED",), "CREATED"),
    "delivered": (("REQUESTED", "CREATED"), "DELIVERED"),
    "failed": (("REQUESTED", "CREATED"), "FAILED"),
}


def sources(event: TrackingEvent) -> tuple[ShipmentStatus, ...]:
    """The states from which `event` moves a shipment."""
    return _NEXT[event][0]


def target(event: TrackingEvent) -> ShipmentStatus:
    return _NEXT[event][1]


def next_status(current: str, event: TrackingEvent) -> ShipmentStatus | None:
    """The state after `event`, or None when the event changes nothing (late or repeated)."""
    allowed, to = _NEXT[event]
    return to if current in allowed else None


class IncompleteDestination(ValueError):
    """A ready-for-shipping event whose address cannot go on a parcel label."""


@dataclass(frozen=True)
class Destination:
    line1: str
    city: str
    postcode: str
    country: str
    recipient_name: str | None = None
    line2: str | None = None

    @classmethod
    def of(
        cls,
        *,
        line1: str | None,
        city: str | None,
        postcode: str | None,
        country: str | None,
        recipient_name: str | None = None,
        line2: str | None = None,
    ) -> Destination:
        missing = [
            name
            for name, value in (
                ("line1", line1),
                ("city", city),
                ("postcode", postcode),
                ("country", country),
            )
            if not (value and value.strip())
        ]
        if missing:
            raise IncompleteDestination(f"shipping address lacks {', '.join(missing)}")
        assert line1 and city and postcode and country  # narrowed by the check above
        return cls(line1, city, postcode, country, recipient_name, line2)
