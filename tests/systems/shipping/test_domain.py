"""Shipment states: tracking events move a shipment forward only; labels need a full address."""

from __future__ import annotations

import pytest

from acme.systems.shipping import domain
from acme.systems.shipping.domain import Destination


@pytest.mark.parametrize(
    ("current", "event", "after"),
    [
        ("REQUESTED", "created", "CREATED"),
        ("CREATED", "created", None),
        ("DELIVERED", "created", None),
        ("FAILED", "created", None),
        ("REQUESTED", "delivered", "DELIVERED"),
        ("CREATED", "delivered", "DELIVERED"),
        ("DELIVERED", "delivered", None),
        ("FAILED", "delivered", None),
        ("REQUESTED", "failed", "FAILED"),
        ("CREATED", "failed", "FAILED"),
        ("FAILED", "failed", None),
        ("DELIVERED", "failed", None),
    ],
)
def test_tracking_event_transitions(
    current: str, event: domain.TrackingEvent, after: str | None
) -> None:
    assert domain.next_status(current, event) == after


def test_sources_and_targets_agree_with_next_status() -> None:
    events: tuple[domain.TrackingEvent, ...] = ("created", "delivered", "failed")
    for event in events:
        for status in domain.sources(event):
            assert domain.next_status(status, event) == domain.target(event)


def test_destination_needs_every_label_line() -> None:
    ok = Destination.of(line1="1 Main St", city="Oslo", postcode="0150", country="NO")
    assert ok == Destination("1 Main St", "Oslo", "0150", "NO")
    with pytest.raises(domain.IncompleteDestination, match="line1, postcode"):
        Destination.of(line1=None, city="Oslo", postcode=" ", country="NO")
