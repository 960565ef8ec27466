"""`Trace`: the messages of one correlation (or W3C trace), and its sequence diagram.

The diagram is laid out here (one column per participant, one row per delivery, in time
order) and drawn by graphviz's ``neato`` with pinned positions, so graphviz only draws
what we placed; without graphviz it falls back to mermaid ``sequenceDiagram`` text.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Literal

from acme.observe._messages import DeliveryRecord, GroupBy, RecordedMessage
from generator.analyst import Table

if TYPE_CHECKING:
    from acme.observe._catalog import CatalogIndex

__all__ = ["Arrow", "SequenceDiagram", "Trace"]

ArrowStyle = Literal["message", "request", "reply", "deadletter", "undocumented"]
Level = Literal["service", "system"]

UNKNOWN = "?"
NOBODY = "(no receiver)"
DEAD_LETTERS = "dead letters"

_COLORS: dict[str, str] = {
    "message": "#1f2933",
    "request": "#1f5fbf",
    "reply": "#7b8794",
    "deadletter": "#c62828",
    "undocumented": "#d9822b",
}


@dataclass(frozen=True)
class Arrow:
    source: str
    target: str
    label: str
    style: ArrowStyle = "message"
    offset: float = 0.0  # seconds since the trace started


@dataclass
class SequenceDiagram:
    """A sequence diagram: participants left to right, arrows top to bottom."""

    title: str
    participants: list[str] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)
    omitted: int = 0  # arrows left out to keep the drawing readable
    _svg: str | None = field(default=None, init=False, repr=False)
    _rendered: bool = field(default=False, init=False, repr=False)

    # --- mermaid --------------------------------------------------------------------

    @property
    def mermaid(self) -> str:
        """The diagram as mermaid ``sequenceDiagram`` text."""
        ids = {name: f"p{i}" for i, name in enumerate(self.participants)}
        out = ["sequenceDiagram"]
        out.extend(f"  participant {ids[p]} as {_mermaid_text(p)}" for p in self.participants)
        arrows = {
            "message": "->>",
            "request": "->>",
            "reply": "-->>",
            "deadletter": "-x",
            "undocumented": "-)",
        }
        for arrow in self.arrows:
            text = _mermaid_text(f"{_offset(arrow.offset)} {arrow.label}")
            out.append(f"  {ids[arrow.source]}{arrows[arrow.style]}{ids[arrow.target]}: {text}")
        if self.omitted:
            last = ids[self.participants[-1]] if self.participants else "p0"
            out.append(f"  Note over p0,{last}: {self.omitted} more not drawn")
        return "\n".join(out)

    # --- graphviz -------------------------------------------------------------------

    def dot_source(self) -> str:
        """DOT text with every node pinned (draw with ``neato -n2``)."""
        import graphviz  # type: ignore[import-untyped]

        column, row, top_gap, left = 170.0, 26.0, 46.0, 70.0
        height = top_gap + row * (len(self.arrows) + 1)
        x_of = {p: left + column * i for i, p in enumerate(self.participants)}
        graph = graphviz.Digraph(name="trace", engine="neato")
        graph.attr(
            splines="line",
            outputorder="edgesfirst",
            label=self.title,
            labelloc="t",
            pad="0.2",
            fontname="Helvetica",
            fontsize="12",
        )
        graph.attr("node", fontname="Helvetica", fontsize="10")
        graph.attr("edge", fontname="Helvetica", fontsize="9")
        for i, name in enumerate(self.participants):
            x = x_of[name]
            graph.node(
                f"p{i}",
                name.replace(" | ", "\n| "),
                shape="box",
                style="rounded,filled",
                fillcolor="#e8eef7",
                pos=f"{x},{height}!",
            )
            graph.node(f"p{i}_end", "", shape="point", width="0.01", pos=f"{x},0!")
            graph.edge(f"p{i}", f"p{i}_end", style="dashed", color="#9aa5b1", arrowhead="none")
        for j, arrow in enumerate(self.arrows):
            y = height - top_gap - row * j
            color = _COLORS[arrow.style]
            x1, x2 = x_of[arrow.source], x_of[arrow.target]
            if x1 == x2:  # a service sending to itself: a short hook to the right
                x2 = x1 + 40.0
            graph.node(
                f"t{j}",
                _offset(arrow.offset),
                shape="plaintext",
                fontsize="8",
                fontcolor="#52606d",
                pos=f"{left / 2 - 10},{y}!",
            )
            graph.node(f"a{j}", "", shape="point", width="0.01", pos=f"{x1},{y}!")
            graph.node(f"b{j}", "", shape="point", width="0.01", pos=f"{x2},{y}!")
            graph.node(
                f"l{j}",
                arrow.label,
                shape="plaintext",
                fontsize="9",
                fontcolor=color,
                pos=f"{(x1 + x2) / 2},{y + 8}!",
                style="filled",
                fillcolor="white",
                color="white",
                margin="0.01",
                height="0.15",
            )
            graph.edge(
                f"a{j}",
                f"b{j}",
                color=color,
                style="dashed" if arrow.style == "reply" else "solid",
                arrowhead="tee" if arrow.style == "deadletter" else "normal",
                arrowsize="0.6",
            )
        return str(graph.source)

    def svg(self) -> str | None:
        """The diagram as inline SVG, or None when graphviz cannot draw it here."""
        if not self._rendered:
            self._rendered = True
            self._svg = self._render()
        return self._svg

    def _render(self) -> str | None:
        if not self.participants or shutil.which("neato") is None:
            return None
        try:
            import graphviz
        except ImportError:
            return None
        try:
            source = graphviz.Source(self.dot_source(), engine="neato")
            svg = source.pipe(format="svg", neato_no_op=2, encoding="utf-8")
        except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, OSError):
            return None
        except subprocess.SubprocessError:
            return None
        start = svg.find("<svg")  # inline SVG must not carry the XML prolog
        return str(svg[start:]) if start >= 0 else None

    # --- Jupyter --------------------------------------------------------------------

    def _repr_svg_(self) -> str | None:
        return self.svg()

    def _repr_html_(self) -> str:
        svg = self.svg()
        if svg is not None:
            return f'<div style="overflow-x:auto">{svg}</div>'
        return f'<pre class="mermaid">{escape(self.mermaid)}</pre>'

    def _repr_markdown_(self) -> str | None:
        if self.svg() is not None:
            return None
        return f"```mermaid\n{self.mermaid}\n```"

    def __repr__(self) -> str:
        return f"{self.title}\n{self.mermaid}"


def _offset(seconds: float) -> str:
    return f"+{seconds * 1000:.0f} ms" if seconds < 10 else f"+{seconds:.1f} s"


_MERMAID_ESCAPES = str.maketrans(
    {
        "#": "#35;",
        ";": "#59;",
        "&": "#amp;",
        "<": "#lt;",
        ">": "#gt;",
        '"': "#quot;",
        "\n": " ",
    }
)


def _mermaid_text(text: str) -> str:
    # Entity codes keep mermaid's own syntax characters out of the text (one pass, so the
    # codes themselves are not escaped again).
    return text.translate(_MERMAID_ESCAPES)


class Trace:
    """The messages that share one correlation id (or trace id), in time order.

    `messages` are what crossed the broker (publishes, requests, replies, dead letters);
    `deliveries` are JetStream deliveries of those messages to consuming services.
    """

    def __init__(
        self,
        key: str,
        messages: Iterable[RecordedMessage],
        deliveries: Iterable[DeliveryRecord] = (),
        *,
        by: GroupBy = "correlation",
        catalog: CatalogIndex | None = None,
    ) -> None:
        self.key = key
        self.by = by
        self.messages: list[RecordedMessage] = sorted(messages, key=lambda m: m.at)
        if not self.messages:
            raise ValueError(f"trace {key!r} has no messages")
        self.deliveries: list[DeliveryRecord] = sorted(deliveries, key=lambda d: d.at)
        self.catalog = catalog

    # --- facts ----------------------------------------------------------------------

    @property
    def start(self) -> float:
        return self.messages[0].at

    @property
    def end(self) -> float:
        return self.messages[-1].at

    @property
    def duration(self) -> float:
        """Seconds from the first message to the last."""
        return self.end - self.start

    @property
    def started(self) -> datetime:
        return self.messages[0].time

    @property
    def message_types(self) -> list[str]:
        """Types of the messages (not replies or dead letters), first occurrence order."""
        return list(
            dict.fromkeys(m.message_type for m in self.messages if m.kind in ("publish", "request"))
        )

    @property
    def correlations(self) -> list[str]:
        """The correlation ids of the trace's messages, in order of appearance (more than one
        when `TraceRecorder.trace(join_on=...)` followed the flow across a new correlation)."""
        return list(dict.fromkeys(m.correlation_id for m in self.messages))

    @property
    def dead_letters(self) -> list[RecordedMessage]:
        return [m for m in self.messages if m.kind == "deadletter"]

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[RecordedMessage]:
        return iter(self.messages)

    def of_type(self, message_type: str) -> list[RecordedMessage]:
        return [m for m in self.messages if m.message_type == message_type]

    def caused_by(self, message: RecordedMessage) -> list[RecordedMessage]:
        """The messages whose causation id is this message's id."""
        return [m for m in self.messages if m.causation_id == message.message_id]

    def cause_of(self, message: RecordedMessage) -> RecordedMessage | None:
        if not message.causation_id:
            return None
        for candidate in self.messages:
            if candidate.message_id == message.causation_id and candidate.kind != "deadletter":
                return candidate
        return None

    def receivers_of(self, message: RecordedMessage) -> tuple[str, ...]:
        """Who got the message: the observed deliveries, else the catalog's receivers."""
        if message.kind in ("publish", "replay"):
            seen = tuple(
                dict.fromkeys(
                    d.service for d in self.deliveries if d.message_id == message.message_id
                )
            )
            if seen:
                return seen
        return message.receivers

    # --- tables and diagrams --------------------------------------------------------

    def table(self) -> Table:
        """One row per message: correlation (1 = the trace's own, 2.. = joined ones), offset,
        kind, type, version, subject, ends, size, cause, documented."""
        rows = []
        correlations = {c: n for n, c in enumerate(self.correlations, start=1)}
        for i, m in enumerate(self.messages, start=1):
            cause = self.cause_of(m)
            rows.append(
                (
                    i,
                    correlations[m.correlation_id],
                    round((m.at - self.start) * 1000, 1),
                    m.kind,
                    m.message_type,
                    m.version,
                    m.subject,
                    m.sender,
                    ", ".join(self.receivers_of(m)) or "",
                    m.size,
                    cause.message_type if cause else "",
                    "" if m.documented else "no",
                )
            )
        return Table(
            f"Trace {self.key}",
            (
                "#",
                "corr",
                "ms",
                "kind",
                "message",
                "version",
                "subject",
                "from",
                "to",
                "bytes",
                "caused by",
                "documented",
            ),
            rows,
        )

    def sequence_diagram(
        self, *, level: Level = "service", max_arrows: int = 200
    ) -> SequenceDiagram:
        """Who sent what to whom, in time order: services (or their systems) as columns."""
        if level not in ("service", "system"):
            raise ValueError(f"level {level!r}: use 'service' or 'system'")

        def place(services: Sequence[str]) -> str:
            if not services:
                return UNKNOWN
            if level == "system" and self.catalog is not None:
                services = list(dict.fromkeys(self.catalog.node_of(s) for s in services))
            return " | ".join(services)

        diagram = SequenceDiagram(f"{self.by} {self.key} · {len(self.messages)} messages")
        participants: list[str] = []
        correlations = {self.messages[0].correlation_id}
        for message in self.messages:
            source = place(message.senders)
            style: ArrowStyle = "message"
            label = message.message_type
            if message.correlation_id not in correlations:
                # A joined group starts here: the platform lost the correlation on the way.
                correlations.add(message.correlation_id)
                label += " [new correlation]"
            if message.kind == "deadletter":
                targets = [DEAD_LETTERS]
                style = "deadletter"
                label = f"✗ {label} ({message.dead_letter_reason or 'dead letter'})"
            elif message.kind == "reply":
                targets = [place(message.receivers)]
                style = "reply"
                label = f"reply {label}"
            else:
                receivers = self.receivers_of(message)
                if level == "system" and self.catalog is not None:
                    receivers = tuple(dict.fromkeys(self.catalog.node_of(s) for s in receivers))
                targets = list(receivers) or [NOBODY]
                if message.kind == "request":
                    style = "request"
                if not message.documented:
                    style = "undocumented"
                    label += " (undocumented)"
            for target in targets:
                if len(diagram.arrows) >= max_arrows:
                    diagram.omitted += 1
                    continue
                for name in (source, target):
                    if name not in participants:
                        participants.append(name)
                diagram.arrows.append(Arrow(source, target, label, style, message.at - self.start))
        diagram.participants = participants
        return diagram

    # --- display --------------------------------------------------------------------

    def summary(self) -> str:
        failed = len(self.dead_letters)
        text = (
            f"Trace {self.by} {self.key}: {len(self.messages)} messages over "
            f"{self.duration * 1000:.0f} ms, {len(self.message_types)} message types"
        )
        if len(self.correlations) > 1:
            text += f", {len(self.correlations)} correlations joined"
        return text + (f", {failed} dead letter(s)" if failed else "")

    def __repr__(self) -> str:
        return f"{self.summary()}\n{self.table()!r}"

    def _repr_html_(self) -> str:
        diagram = self.sequence_diagram()._repr_html_()
        return f"<div><h4>{escape(self.summary())}</h4>{diagram}{self.table()._repr_html_()}</div>"

    def _repr_markdown_(self) -> str | None:
        diagram = self.sequence_diagram()
        if diagram.svg() is not None:
            return None  # the HTML form carries the SVG
        table = self.table()._repr_markdown_()
        return f"#### {self.summary()}\n\n{diagram._repr_markdown_()}\n\n{table}"
