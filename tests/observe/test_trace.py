"""Trace tables and sequence diagrams (mermaid text always, SVG when graphviz is here)."""

from __future__ import annotations

import html
import shutil

import pytest

from acme.observe import Arrow, CatalogIndex, SequenceDiagram, Trace, TraceRecorder
from tests.observe.wire import Wire


@pytest.fixture
def checkout(catalog: CatalogIndex) -> Trace:
    recorder = TraceRecorder(catalog)
    wire = Wire(recorder)
    sent = wire.chain("cart-checked-out", "checkout-started", "reserve-inventory")
    wire.send("order-confirmed", cause=sent[-1])  # fans out to two receivers
    wire.dead_letter(sent[-1], "inventory-service", "boom <b>")
    return recorder.trace(wire.correlation_id)


def test_trace_facts(checkout: Trace) -> None:
    assert len(checkout) == 5
    assert checkout.duration == pytest.approx(0.04)
    assert checkout.message_types == [
        "cart-checked-out",
        "checkout-started",
        "reserve-inventory",
        "order-confirmed",
    ]
    started = checkout.messages[1]
    assert [m.message_type for m in checkout.caused_by(checkout.messages[0])] == [
        "checkout-started"
    ]
    assert checkout.cause_of(started) is checkout.messages[0]
    table = checkout.table()
    assert table.column("from")[:3] == ["cart-api", "checkout-api", "checkout-orchestrator"]
    assert table.column("caused by")[1] == "cart-checked-out"
    assert table.column("ms")[1] == pytest.approx(10.0)


def test_sequence_diagram_has_one_arrow_per_receiver(checkout: Trace) -> None:
    diagram = checkout.sequence_diagram()
    pairs = [(a.source, a.target, a.style) for a in diagram.arrows]
    assert pairs == [
        ("cart-api", "checkout-api", "message"),
        ("checkout-api", "checkout-orchestrator", "message"),
        ("checkout-orchestrator", "inventory-service", "message"),
        ("order-service", "inventory-service", "message"),
        ("order-service", "warehouse-service", "message"),
        ("inventory-service", "dead letters", "deadletter"),
    ]
    assert diagram.participants[0] == "cart-api"
    assert "dead letters" in diagram.participants


def test_system_level_diagram_uses_systems(checkout: Trace) -> None:
    diagram = checkout.sequence_diagram(level="system")
    assert diagram.participants[:3] == ["cart-system", "checkout-system", "inventory-system"]
    with pytest.raises(ValueError, match="level"):
        checkout.sequence_diagram(level="team")  # type: ignore[arg-type]


def test_mermaid_text_is_complete_and_escaped(checkout: Trace) -> None:
    lines = checkout.sequence_diagram().mermaid.splitlines()
    assert lines[0] == "sequenceDiagram"
    assert "  participant p0 as cart-api" in lines
    assert "  p0->>p1: +0 ms cart-checked-out" in lines
    assert "  p3-xp6: +40 ms ✗ reserve-inventory (failed)" in lines

    odd = SequenceDiagram("odd", ["a;b", "c"], [Arrow("a;b", "c", 'x<y> & "z" #1')])
    text = odd.mermaid
    assert "participant p0 as a#59;b" in text
    assert "p0->>p1: +0 ms x#lt;y#gt; #amp; #quot;z#quot; #35;1" in text


def test_diagram_is_capped(checkout: Trace) -> None:
    diagram = checkout.sequence_diagram(max_arrows=2)
    assert len(diagram.arrows) == 2 and diagram.omitted == 4
    assert "4 more not drawn" in diagram.mermaid


@pytest.mark.skipif(shutil.which("neato") is None, reason="graphviz is not installed")
def test_svg_and_html(checkout: Trace) -> None:
    diagram = checkout.sequence_diagram()
    svg = diagram.svg()
    assert svg is not None and svg.startswith("<svg")
    text = html.unescape(svg)
    assert "checkout-orchestrator" in text and "reserve-inventory" in text
    page = checkout._repr_html_()
    assert "<svg" in page and "<table>" in page
    assert checkout._repr_markdown_() is None  # the HTML carries the picture


def test_without_graphviz_the_fallback_is_mermaid(
    checkout: Trace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    diagram = checkout.sequence_diagram()
    assert diagram.svg() is None
    assert diagram._repr_html_().startswith('<pre class="mermaid">sequenceDiagram')
    markdown = checkout._repr_markdown_()
    assert markdown is not None and "```mermaid\nsequenceDiagram" in markdown
    assert repr(diagram).endswith(diagram.mermaid)


def test_empty_diagram_renders_nothing() -> None:
    assert SequenceDiagram("empty").svg() is None
    with pytest.raises(ValueError, match="no messages"):
        Trace("x", [])
