"""Trace context on the wire: each hop keeps the trace and gets a span of its own."""

from __future__ import annotations

import re

import pytest

from acme.runtime.wire import child_traceparent

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def test_a_child_keeps_the_trace_id_and_flags_with_a_new_span() -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    children = [child_traceparent(parent) for _ in range(50)]
    spans = set()
    for child in children:
        match = TRACEPARENT.match(child)
        assert match is not None
        assert match.group(1) == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert match.group(3) == "00"  # the caller's sampling decision travels on
        assert match.group(2) not in {"00f067aa0ba902b7", "0" * 16}
        spans.add(match.group(2))
    assert len(spans) == 50


@pytest.mark.parametrize(
    "parent", [None, "", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"]
)
def test_without_a_valid_parent_a_new_trace_starts(parent: str | None) -> None:
    match = TRACEPARENT.match(child_traceparent(parent))
    assert match is not None
    assert match.group(1) != "0" * 32 and match.group(2) != "0" * 16
    assert match.group(3) == "01"
    assert child_traceparent(parent).split("-")[1] != match.group(1)  # a new trace each time
