"""`PlatformMetrics`: rates, handler latencies and failures per system, from a recording.

- Rates: messages sent (and received) per second over a sliding window.
- Handler latency, two ways. *Reaction* (always available): the time from a message to the
  first message its handler caused (same causation id, sent by a receiver of the cause),
  so it includes the broker hop and the outbox relay. *Handler* (NATS deliveries): the time
  from a JetStream delivery to the consumer's acknowledgement.
- Failures: dead letters (``deadletter.<service>``), redeliveries and negative acks.

`live_systems_map(metrics)` draws the catalog's systems map with these numbers on it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acme.observe._catalog import CatalogIndex, as_index
from acme.observe._messages import DeliveryRecord, RecordedMessage
from acme.observe._recorder import TraceRecorder
from generator import Catalog
from generator.analyst import CatalogExplorer, Diagram, DiagramView, Edge, Node, Table

__all__ = [
    "LatencySample",
    "LiveSystemsMap",
    "NodeStats",
    "PlatformMetrics",
    "Timeline",
    "live_systems_map",
    "percentile",
    "watch",
]

_CAUSES = ("publish", "request", "replay")
_EFFECTS = ("publish", "request", "reply")


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile (p in 0..100) of `values`, None when there are none."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is outside 0..100")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class LatencySample:
    service: str
    node: str  # the systems-map node (system, or the service when it has none)
    message_type: str  # what the handler was handling
    at: float  # when the handled message was sent (or delivered)
    seconds: float
    basis: str  # "reaction" (causation) or "handler" (delivery to ack)


@dataclass
class NodeStats:
    """One systems-map node (a system, or a system-less service) over a window."""

    node: str
    sent: int = 0
    received: int = 0
    sent_per_second: float = 0.0
    received_per_second: float = 0.0
    reaction_p50: float | None = None  # seconds
    reaction_p95: float | None = None
    handler_p50: float | None = None
    handler_p95: float | None = None
    dead_letters: int = 0  # since the recording started
    redeliveries: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def active(self) -> bool:
        return bool(self.sent or self.received)


@dataclass(frozen=True)
class Timeline:
    """Messages sent per time bin and node: `counts[node][i]` in bin `starts[i]`."""

    bin_seconds: float
    starts: list[float]  # seconds after the first message
    counts: dict[str, list[int]]

    def total(self) -> list[int]:
        """Messages sent per bin, all nodes together."""
        return [sum(counts[i] for counts in self.counts.values()) for i in range(len(self.starts))]

    def table(self) -> Table:
        nodes = sorted(self.counts)
        rows = [
            (round(start, 3), *(self.counts[n][i] for n in nodes))
            for i, start in enumerate(self.starts)
        ]
        return Table(f"Messages sent per {self.bin_seconds:g} s", ("t", *nodes), rows)


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.1f}"


class PlatformMetrics:
    """Numbers about a platform, computed on demand from a recorder (live) or messages.

    Args:
        source: a `TraceRecorder` (read each time, so the numbers follow a running load)
            or recorded messages.
        deliveries: JetStream deliveries, when `source` is a list of messages.
        catalog: defaults to the recorder's catalog (else the repository's).
        window: seconds the rates are computed over.
        clock: "now" for the window (seconds since the epoch).
    """

    def __init__(
        self,
        source: TraceRecorder | Iterable[RecordedMessage],
        *,
        deliveries: Iterable[DeliveryRecord] = (),
        catalog: CatalogIndex | CatalogExplorer | Catalog | str | Path | None = None,
        window: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window <= 0:
            raise ValueError(f"window must be positive, not {window}")
        self.recorder: TraceRecorder | None = None
        self._messages: list[RecordedMessage] = []
        if isinstance(source, TraceRecorder):
            self.recorder = source
        else:
            self._messages = sorted(source, key=lambda m: m.at)
        self._deliveries = list(deliveries)
        if catalog is not None:
            self.catalog = as_index(catalog)
        elif self.recorder is not None:
            self.catalog = self.recorder.catalog
        else:
            self.catalog = as_index(None)
        self.window = window
        self.clock = clock

    # --- raw material ---------------------------------------------------------------

    @property
    def messages(self) -> list[RecordedMessage]:
        return list(self.recorder.messages) if self.recorder else self._messages

    @property
    def deliveries(self) -> list[DeliveryRecord]:
        return list(self.recorder.deliveries) if self.recorder else self._deliveries

    def _start(self, messages: Sequence[RecordedMessage]) -> float | None:
        first = messages[0].at if messages else None
        if self.recorder is not None:
            # Messages fed through record(at=...) may predate the recorder itself.
            return min(self.recorder.started_at, first or self.recorder.started_at)
        return first

    def _span(self, messages: Sequence[RecordedMessage], window: float, now: float) -> float:
        """Seconds the window really covers: not more than has been recorded."""
        start = self._start(messages)
        if start is None:
            return 0.0
        return max(0.0, min(window, now - start))

    # --- latency ----------------------------------------------------------------------

    def latency_samples(self) -> list[LatencySample]:
        """Reaction samples (message -> first message its handler caused) and handler
        samples (delivery -> ack), in time order."""
        messages = self.messages
        by_id = {m.message_id: m for m in messages if m.kind in _CAUSES}
        first: dict[tuple[str, str], float] = {}  # (cause id, service) -> first effect time
        for effect in messages:
            if effect.kind not in _EFFECTS or not effect.causation_id:
                continue
            cause = by_id.get(effect.causation_id)
            if cause is None:
                continue
            handlers = [s for s in effect.senders if not cause.receivers or s in cause.receivers]
            if len(handlers) != 1:
                continue  # the catalog cannot say which service reacted
            key = (cause.message_id, handlers[0])
            if key not in first or effect.at < first[key]:
                first[key] = effect.at
        samples = [
            LatencySample(
                service,
                self.catalog.node_of(service),
                by_id[cause_id].message_type,
                by_id[cause_id].at,
                max(0.0, at - by_id[cause_id].at),
                "reaction",
            )
            for (cause_id, service), at in first.items()
        ]
        samples.extend(
            LatencySample(
                d.service,
                self.catalog.node_of(d.service),
                d.message_type,
                d.at,
                d.handler_seconds,
                "handler",
            )
            for d in self.deliveries
            if d.handler_seconds is not None and d.outcome == "ack"
        )
        return sorted(samples, key=lambda s: s.at)

    # --- per node ---------------------------------------------------------------------

    def nodes(
        self, *, window: float | None = None, now: float | None = None
    ) -> dict[str, NodeStats]:
        """Stats per systems-map node: rates over the window, latency percentiles over the
        window, failures since the recording started."""
        window = self.window if window is None else window
        if window <= 0:
            raise ValueError(f"window must be positive, not {window}")
        now = self.clock() if now is None else now
        messages = self.messages
        span = self._span(messages, window, now)
        since = now - window
        stats: dict[str, NodeStats] = {}

        def node(name: str) -> NodeStats:
            return stats.setdefault(name, NodeStats(name))

        deliveries = self.deliveries
        delivered = {d.message_id for d in deliveries}
        for message in messages:
            if message.kind == "deadletter":
                service = message.dead_letter_service or (message.senders or ("?",))[0]
                entry = node(self.catalog.node_of(service))
                entry.dead_letters += 1
                entry.reasons[message.dead_letter_reason or "?"] += 1
                continue
            if not since < message.at <= now:
                continue
            for place in dict.fromkeys(self.catalog.node_of(s) for s in message.senders):
                node(place).sent += 1
            if message.message_id not in delivered:
                # No delivery observed (another broker, or a request): the catalog's receivers.
                for place in dict.fromkeys(self.catalog.node_of(s) for s in message.receivers):
                    node(place).received += 1
        for d in deliveries:
            if d.attempt is not None and d.attempt > 1:
                node(self.catalog.node_of(d.service)).redeliveries += 1
            if since < d.at <= now:
                node(self.catalog.node_of(d.service)).received += 1
        samples: dict[tuple[str, str], list[float]] = {}
        for sample in self.latency_samples():
            if since < sample.at <= now:
                samples.setdefault((sample.node, sample.basis), []).append(sample.seconds)
        for (name, basis), values in samples.items():
            entry = node(name)
            if basis == "reaction":
                entry.reaction_p50, entry.reaction_p95 = (
                    percentile(values, 50),
                    percentile(values, 95),
                )
            else:
                entry.handler_p50, entry.handler_p95 = (
                    percentile(values, 50),
                    percentile(values, 95),
                )
        for entry in stats.values():
            entry.sent_per_second = entry.sent / span if span else 0.0
            entry.received_per_second = entry.received / span if span else 0.0
        return dict(sorted(stats.items()))

    def edges(
        self, *, window: float | None = None, now: float | None = None
    ) -> dict[tuple[str, str], float]:
        """(sending node, receiving node) -> messages per second over the window."""
        window = self.window if window is None else window
        now = self.clock() if now is None else now
        messages = self.messages
        span = self._span(messages, window, now)
        counts: Counter[tuple[str, str]] = Counter()
        for message in messages:
            if message.kind not in _CAUSES or not now - window < message.at <= now:
                continue
            sources = dict.fromkeys(self.catalog.node_of(s) for s in message.senders)
            targets = dict.fromkeys(self.catalog.node_of(s) for s in message.receivers)
            for source in sources:
                for target in targets:
                    if source != target:
                        counts[(source, target)] += 1
        return {pair: n / span if span else 0.0 for pair, n in sorted(counts.items())}

    # --- tables -----------------------------------------------------------------------

    def rates(self, *, window: float | None = None, now: float | None = None) -> Table:
        window = self.window if window is None else window
        rows = [
            (
                s.node,
                s.sent,
                round(s.sent_per_second, 2),
                s.received,
                round(s.received_per_second, 2),
                _ms(s.reaction_p50),
                _ms(s.reaction_p95),
                _ms(s.handler_p50),
                _ms(s.handler_p95),
                s.dead_letters,
                s.redeliveries,
            )
            for s in self.nodes(window=window, now=now).values()
        ]
        return Table(
            f"Per system, last {window:.3g} s",
            (
                "system",
                "sent",
                "sent/s",
                "received",
                "received/s",
                "reaction p50 ms",
                "reaction p95 ms",
                "handler p50 ms",
                "handler p95 ms",
                "dead letters",
                "redeliveries",
            ),
            rows,
        )

    def latencies(self, *, basis: str | None = None) -> Table:
        """Latency per (service, handled message type) over the whole recording."""
        if basis not in (None, "reaction", "handler"):
            raise ValueError(f"basis {basis!r}: use 'reaction', 'handler' or None")
        groups: dict[tuple[str, str, str], list[float]] = {}
        for sample in self.latency_samples():
            if basis is None or sample.basis == basis:
                key = (sample.service, sample.message_type, sample.basis)
                groups.setdefault(key, []).append(sample.seconds)
        rows = [
            (
                service,
                message_type,
                kind,
                len(values),
                _ms(sum(values) / len(values)),
                _ms(percentile(values, 50)),
                _ms(percentile(values, 95)),
                _ms(max(values)),
            )
            for (service, message_type, kind), values in sorted(groups.items())
        ]
        return Table(
            "Handler latency",
            ("service", "handles", "basis", "samples", "mean ms", "p50 ms", "p95 ms", "max ms"),
            rows,
        )

    def failures(self) -> Table:
        """Dead letters per service and reason, with the last error."""
        groups: dict[tuple[str, str, str], list[RecordedMessage]] = {}
        for message in self.messages:
            if message.kind == "deadletter":
                service = message.dead_letter_service or message.sender
                key = (service, message.message_type, message.dead_letter_reason or "?")
                groups.setdefault(key, []).append(message)
        rows = [
            (
                service,
                message_type,
                reason,
                len(letters),
                (letters[-1].dead_letter_error or "")[:160],
            )
            for (service, message_type, reason), letters in sorted(groups.items())
        ]
        return Table("Dead letters", ("service", "message", "reason", "count", "last error"), rows)

    def timeline(self, bin_seconds: float = 1.0) -> Timeline:
        """Messages sent per node in consecutive bins from the first message."""
        if bin_seconds <= 0:
            raise ValueError(f"bin_seconds must be positive, not {bin_seconds}")
        messages = [m for m in self.messages if m.kind in _CAUSES]
        if not messages:
            return Timeline(bin_seconds, [], {})
        start = messages[0].at
        bins = int((messages[-1].at - start) // bin_seconds) + 1
        counts: dict[str, list[int]] = {}
        for message in messages:
            index = int((message.at - start) // bin_seconds)
            for place in dict.fromkeys(self.catalog.node_of(s) for s in message.senders or ("?",)):
                counts.setdefault(place, [0] * bins)[index] += 1
        return Timeline(
            bin_seconds, [i * bin_seconds for i in range(bins)], dict(sorted(counts.items()))
        )

    def durations(self, start_type: str, end_types: Iterable[str]) -> list[tuple[str, float]]:
        """(correlation id, seconds) from the first `start_type` message to the first of
        `end_types` in the same correlation, for every correlation that has both."""
        ends = set(end_types)
        first_start: dict[str, float] = {}
        first_end: dict[str, float] = {}
        for message in self.messages:
            if message.kind not in _CAUSES:
                continue
            key = message.correlation_id
            if message.message_type == start_type:
                first_start.setdefault(key, message.at)
            elif message.message_type in ends:
                first_end.setdefault(key, message.at)
        return [
            (key, first_end[key] - at)
            for key, at in first_start.items()
            if key in first_end and first_end[key] >= at
        ]

    def __repr__(self) -> str:
        return repr(self.rates())

    def _repr_html_(self) -> str:
        return self.rates()._repr_html_() + self.failures()._repr_html_()


class LiveSystemsMap(DiagramView):
    """The systems map with rates, latencies and failures; `.stats` holds the numbers."""

    def __init__(self, title: str, diagram: Diagram, table: Table, stats: dict[str, NodeStats]):
        super().__init__(title, diagram, [table])
        self.stats = stats


_ACTIVE = "#cdeccf"
_FAILING = "#f8c9c4"


def live_systems_map(
    metrics: PlatformMetrics, *, window: float | None = None, now: float | None = None
) -> LiveSystemsMap:
    """The catalog's systems map (analyst `systems_map(messages=True)`) annotated with the
    metrics: per node out/in rates, reaction p50 and dead letters; per message edge the
    observed rate; edges seen on the wire but not in the catalog are drawn in red."""
    window = metrics.window if window is None else window
    stats = metrics.nodes(window=window, now=now)
    edge_rates = metrics.edges(window=window, now=now)
    base = metrics.catalog.explorer.systems_map(messages=True).diagram
    nodes: list[Node] = []
    for node in base.nodes:
        entry = stats.get(node.id)
        if entry is None or not (entry.active or entry.dead_letters):
            nodes.append(node)
            continue
        lines = [
            node.label,
            f"{entry.sent_per_second:.1f}/s out · {entry.received_per_second:.1f}/s in",
        ]
        latency = entry.handler_p50 if entry.handler_p50 is not None else entry.reaction_p50
        if latency is not None:
            lines.append(f"p50 {latency * 1000:.0f} ms")
        if entry.dead_letters:
            lines.append(f"✗ {entry.dead_letters} dead letter(s)")
        color = _FAILING if entry.dead_letters else _ACTIVE
        nodes.append(Node(node.id, "\n".join(lines), node.shape, color, node.dashed, node.cluster))
    drawn = {n.id for n in nodes}
    edges: list[Edge] = []
    documented: set[tuple[str, str]] = set()
    for edge in base.edges:
        if edge.dashed:  # a message edge of the catalog
            documented.add((edge.source, edge.target))
            rate = edge_rates.get((edge.source, edge.target))
            if rate:
                edge = Edge(edge.source, edge.target, f"{rate:.1f}/s", dashed=False)
        edges.append(edge)
    for (source, target), rate in edge_rates.items():
        if (source, target) not in documented and source in drawn and target in drawn and rate:
            edges.append(Edge(source, target, f"{rate:.1f}/s undocumented", dashed=True))
    stamp = time.strftime("%H:%M:%S", time.localtime(metrics.clock() if now is None else now))
    title = f"Live systems map · last {window:.3g} s · {stamp}"
    diagram = Diagram(title, nodes, edges, direction=base.direction)
    return LiveSystemsMap(title, diagram, metrics.rates(window=window, now=now), stats)


async def watch(
    metrics: PlatformMetrics,
    *,
    iterations: int = 5,
    interval: float = 2.0,
    window: float | None = None,
    show: Callable[[Any], None] | None = None,
    clear: Callable[[], None] | None = None,
) -> LiveSystemsMap:
    """Redraw the live systems map `iterations` times, `interval` seconds apart, in place
    (IPython's clear_output + display). Awaits between redraws, so a recorder and a load
    running on the same event loop keep going. Returns the last map."""
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, not {iterations}")
    if interval < 0:
        raise ValueError(f"interval must not be negative, not {interval}")
    if show is None or clear is None:
        try:
            from IPython.display import clear_output, display
        except ImportError:  # a terminal: print, never clear
            show, clear = show or print, clear or (lambda: None)
        else:
            show = show or display
            clear = clear or (lambda: clear_output(wait=True))  # type: ignore[no-untyped-call]
    view = live_systems_map(metrics, window=window)
    for i in range(iterations):
        if i:
            await asyncio.sleep(interval)
            view = live_systems_map(metrics, window=window)
        clear()
        show(view)
    return view
