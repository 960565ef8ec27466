"""`compare(trace, flow)`: the documented flow, step by step, against what really happened.

A flow is a graph of steps. Only message steps that travel over a broker can be seen in a
trace; the other steps (actors, data stores, custom notes, HTTP calls) are reported as not
observable, and a service step counts as happened when the service sent something.

Forks are read two ways. When the branches start with messages from the same service
(inventory-service answers `inventory-reserved` *or* `inventory-unavailable`), one handler
chose one branch: the branches are alternatives, and the trace's messages decide which one
was taken; the others are "not taken", never "missing". When the branches start with
messages of different services (`order-created` leads to `order-confirmed` from the order
service *and* `checkout-completed` from the orchestrator), each receiver reacts on its own:
the fork is parallel and every branch is expected. `forks=` overrides the reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Literal

from acme.observe._catalog import CatalogIndex, as_index
from acme.observe._messages import RecordedMessage
from acme.observe._trace import Trace
from generator import Catalog, Flow, FlowStep
from generator.analyst import CatalogExplorer, FlowView, Table

__all__ = ["Fork", "FlowComparison", "StepResult", "compare"]

Status = Literal[
    "happened", "missing", "not taken", "not observable", "undocumented", "dead letter"
]
ForkKind = Literal["alternatives", "parallel"]

HAPPENED: Status = "happened"
MISSING: Status = "missing"
NOT_TAKEN: Status = "not taken"
NOT_OBSERVABLE: Status = "not observable"
UNDOCUMENTED: Status = "undocumented"
DEAD_LETTER: Status = "dead letter"

# Row colours in HTML: problems stand out, untaken branches fade.
_STYLE: dict[Status, str] = {
    HAPPENED: "background:#e3f4e8",
    MISSING: "background:#fbd9d9;font-weight:bold",
    NOT_TAKEN: "background:#f4f5f7;color:#7b8794",
    NOT_OBSERVABLE: "background:#fafafa;color:#52606d;font-style:italic",
    UNDOCUMENTED: "background:#ffe8c2;font-weight:bold",
    DEAD_LETTER: "background:#f5b7b1;font-weight:bold",
}
_SEEN_KINDS = ("publish", "request", "replay")


@dataclass(frozen=True)
class StepResult:
    """One row of the comparison: a documented step, or a message the flow does not name."""

    step: str  # flow step id; "" for undocumented messages and dead letters
    title: str
    kind: str  # event, command, query, service, actor, custom, container, flow, step
    target: str  # message, service, container, flow id; actor or custom title
    status: Status
    at: float | None = None  # when it happened (seconds since the epoch)
    since_start: float | None = None  # seconds after the trace's first message
    detail: str = ""
    messages: tuple[RecordedMessage, ...] = ()


@dataclass(frozen=True)
class Fork:
    """A step with several next steps, how it was read and which branches the trace took."""

    step: str
    kind: ForkKind
    branches: tuple[str, ...]
    taken: tuple[str, ...]
    note: str = ""


def _target(step: FlowStep, index: CatalogIndex) -> tuple[str, str]:
    if step.message is not None:
        return index.message_kind(step.message.id) or "message", step.message.id
    if step.service is not None:
        return "service", step.service.id
    if step.container is not None:
        return "container", step.container.id
    if step.flow is not None:
        return "flow", step.flow.id
    if step.actor is not None:
        return "actor", step.actor
    if step.custom is not None:
        return "custom", step.custom
    return "step", ""


class FlowComparison:
    """The result of `compare`: `.rows` (one `StepResult` per step, then the messages the
    flow does not mention), `.path` (step ids of the path the trace took) and `.forks`."""

    def __init__(
        self,
        flow: Flow,
        trace: Trace,
        rows: Sequence[StepResult],
        path: Sequence[str],
        forks: Sequence[Fork],
    ) -> None:
        self.flow = flow
        self.trace = trace
        self.rows = list(rows)
        self.path = list(path)
        self.forks = list(forks)

    def _with(self, status: Status) -> list[StepResult]:
        return [r for r in self.rows if r.status == status]

    @property
    def happened(self) -> list[StepResult]:
        return self._with(HAPPENED)

    @property
    def missing(self) -> list[StepResult]:
        """Observable steps on the path the trace took that did not happen."""
        return self._with(MISSING)

    @property
    def not_taken(self) -> list[StepResult]:
        return self._with(NOT_TAKEN)

    @property
    def undocumented(self) -> list[StepResult]:
        """Messages in the trace that the flow does not mention (one row per type)."""
        return self._with(UNDOCUMENTED)

    @property
    def dead_letters(self) -> list[StepResult]:
        return self._with(DEAD_LETTER)

    @property
    def ok(self) -> bool:
        """True when the trace followed the flow: nothing missing, undocumented or failed."""
        return not (self.missing or self.undocumented or self.dead_letters)

    def status_of(self, step_id: str) -> Status:
        for row in self.rows:
            if row.step == step_id:
                return row.status
        raise KeyError(f"flow {self.flow.id} has no step {step_id!r}")

    def summary(self) -> str:
        counts = {s: len(self._with(s)) for s in _STYLE}
        parts = [f"{n} {s}" for s, n in counts.items() if n]
        verdict = "follows the flow" if self.ok else "deviates from the flow"
        return f"Trace {self.trace.key} vs flow {self.flow.id}: {verdict} ({', '.join(parts)})"

    def table(self) -> Table:
        return Table(
            self.summary(),
            ("step", "title", "kind", "target", "status", "time", "ms", "detail"),
            [
                (
                    r.step,
                    r.title,
                    r.kind,
                    r.target,
                    r.status,
                    _clock(r.at),
                    "" if r.since_start is None else round(r.since_start * 1000, 1),
                    r.detail,
                )
                for r in self.rows
            ],
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_markdown_(self) -> str:
        return self.table()._repr_markdown_()

    def _repr_html_(self) -> str:
        table = self.table()
        head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
        body = []
        for row, result in zip(table.rows, self.rows, strict=True):
            cells = "".join(f"<td>{escape(str(v))}</td>" for v in row)
            body.append(f'<tr style="{_STYLE[result.status]}">{cells}</tr>')
        forks = "".join(
            f"<li>{escape(f.step)}: {escape(f.kind)}, took {escape(', '.join(f.taken) or '-')}"
            + (f" ({escape(f.note)})" if f.note else "")
            + "</li>"
            for f in self.forks
        )
        forks_html = f"<p>Forks:</p><ul>{forks}</ul>" if forks else ""
        return (
            f"<div><table><caption>{escape(table.title)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"{forks_html}</div>"
        )


def _clock(at: float | None) -> str:
    """Wall-clock time of day (UTC, milliseconds) of an epoch timestamp."""
    if at is None:
        return ""
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S.%f")[:-3]


class _Graph:
    """The flow's steps with their links, reachability and evidence."""

    def __init__(self, flow: Flow) -> None:
        self.steps = {s.id: s for s in flow.steps}
        self.order = [s.id for s in flow.steps]
        self.next: dict[str, list[str]] = {
            s.id: [n.target for n in s.next if n.target in self.steps] for s in flow.steps
        }
        incoming = {t for targets in self.next.values() for t in targets}
        self.starts = [s for s in self.order if s not in incoming] or self.order[:1]
        self.reach: dict[str, set[str]] = {s: self._reach(s) for s in self.order}

    def _reach(self, start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self.next[current])
        return seen

    def distance(self, start: str, goal: str, cost: Mapping[str, int]) -> int | None:
        """The cheapest walk from start to goal, paying cost[step] for each step before goal."""
        best: dict[str, int] = {start: 0}
        frontier = [start]
        while frontier:
            frontier.sort(key=lambda s: best[s])
            current = frontier.pop(0)
            if current == goal:
                return best[current]
            for following in self.next[current]:
                price = best[current] + cost.get(current, 0)
                if following not in best or price < best[following]:
                    best[following] = price
                    frontier.append(following)
        return None


def _nested_messages(index: CatalogIndex, flow: Flow, seen: set[str]) -> set[str]:
    """Message ids of a flow's steps and of the flows it embeds (each flow once)."""
    if flow.id in seen:
        return set()
    seen.add(flow.id)
    found = {s.message.id for s in flow.steps if s.message is not None}
    for step in flow.steps:
        if step.flow is not None and index.has_flow(step.flow.id):
            found |= _nested_messages(index, index.flow(step.flow.id), seen)
    return found


def compare(
    trace: Trace,
    flow: str | Flow | FlowView,
    catalog: CatalogIndex | CatalogExplorer | Catalog | str | Path | None = None,
    *,
    forks: Mapping[str, ForkKind] | None = None,
) -> FlowComparison:
    """Walk `flow` (an id or name, a `FlowView` or a `Flow`) against `trace`.

    Args:
        trace: the recorded messages of one run.
        flow: the documented flow.
        catalog: where the flow and the message routes come from; defaults to the trace's
            catalog (the recorder's), else the repository's.
        forks: step id -> "alternatives" or "parallel", overriding how a fork is read.
    """
    index = as_index(catalog) if catalog is not None else (trace.catalog or as_index(None))
    model = index.flow(flow)
    graph = _Graph(model)
    overrides = dict(forks or {})
    unknown = sorted(set(overrides) - set(graph.steps))
    if unknown:
        raise KeyError(f"forks names steps that flow {model.id} does not have: {unknown}")
    for step_id, kind in overrides.items():
        if kind not in ("alternatives", "parallel"):
            raise ValueError(f"forks[{step_id!r}] = {kind!r}: use 'alternatives' or 'parallel'")

    seen = [m for m in trace.messages if m.kind in _SEEN_KINDS]
    by_type: dict[str, list[RecordedMessage]] = {}
    for message in seen:
        by_type.setdefault(message.message_type, []).append(message)

    def matches(step: FlowStep) -> list[RecordedMessage]:
        if step.message is not None:
            return by_type.get(step.message.id, [])
        if step.flow is not None and index.has_flow(step.flow.id):
            nested = _nested_messages(index, index.flow(step.flow.id), set())
            return [m for m in seen if m.message_type in nested]
        return []

    def observable(step: FlowStep) -> bool:
        if step.message is not None:
            return index.on_broker(step.message.id)
        if step.flow is not None and index.has_flow(step.flow.id):
            nested = _nested_messages(index, index.flow(step.flow.id), set())
            return any(index.on_broker(m) for m in nested)
        return False

    evidence = {s for s in graph.order if matches(graph.steps[s])}
    # What a missing observable step costs when choosing between routes to the evidence.
    cost = {s: 1 for s in graph.order if observable(graph.steps[s]) and s not in evidence}

    path, fork_log = _walk(graph, index, evidence, cost, overrides)
    rows = [
        _step_row(graph.steps[s], s in path, matches(graph.steps[s]), observable, trace, index)
        for s in graph.order
    ]
    rows.extend(_extra_rows(trace, _nested_messages(index, model, set()), index))
    return FlowComparison(model, trace, rows, [s for s in graph.order if s in path], fork_log)


def _lead_senders(graph: _Graph, head: str, index: CatalogIndex) -> set[str]:
    """Senders of the first message steps reachable from `head` (the branch's first word)."""
    found: set[str] = set()
    frontier, seen = [head], set()
    while frontier:
        current = frontier.pop(0)
        if current in seen:
            continue
        seen.add(current)
        step = graph.steps[current]
        if step.message is not None:
            found.update(index.senders_of(step.message.id))
            continue
        frontier.extend(graph.next[current])
    return found


def _fork_kind(graph: _Graph, heads: Sequence[str], index: CatalogIndex) -> ForkKind:
    leads = [_lead_senders(graph, h, index) for h in heads]
    known = [lead for lead in leads if lead]
    if len(known) < 2:
        return "alternatives"
    for i, first in enumerate(known):
        for second in known[i + 1 :]:
            if not first & second:
                return "parallel"  # different services react: both branches happen
    return "alternatives"


def _walk(
    graph: _Graph,
    index: CatalogIndex,
    evidence: set[str],
    cost: Mapping[str, int],
    overrides: Mapping[str, ForkKind],
) -> tuple[set[str], list[Fork]]:
    """The steps on the path(s) the trace took, and how each fork on them was decided."""
    on_path: set[str] = set()
    forks: list[Fork] = []
    queue = list(graph.starts)
    while queue:
        current = queue.pop(0)
        if current in on_path:
            continue
        on_path.add(current)
        heads = graph.next[current]
        if len(heads) < 2:
            queue.extend(heads)
            continue
        kind = overrides.get(current) or _fork_kind(graph, heads, index)
        if kind == "parallel":
            forks.append(Fork(current, kind, tuple(heads), tuple(heads)))
            queue.extend(heads)
            continue
        taken, note = _choose(graph, heads, evidence, cost)
        forks.append(Fork(current, kind, tuple(heads), tuple(taken), note))
        queue.extend(taken)
    return on_path, forks


def _choose(
    graph: _Graph, heads: Sequence[str], evidence: set[str], cost: Mapping[str, int]
) -> tuple[list[str], str]:
    """The alternatives the trace took: those with evidence of their own; else the one that
    reaches shared evidence with the fewest missing steps; else the first documented one."""
    own = []
    for head in heads:
        others = set().union(*(graph.reach[h] for h in heads if h != head))
        if (graph.reach[head] - others) & evidence:
            own.append(head)
    if own:
        note = "several alternatives happened" if len(own) > 1 else ""
        return own, note
    best: tuple[int, int] | None = None
    chosen: str | None = None
    for position, head in enumerate(heads):
        for goal in graph.reach[head] & evidence:
            distance = graph.distance(head, goal, cost)
            if distance is not None and (best is None or (distance, position) < best):
                best, chosen = (distance, position), head
    if chosen is not None:
        return [chosen], "chosen by the later messages it leads to"
    return [heads[0]], "no alternative happened; the first documented one is expected"


def _step_row(
    step: FlowStep,
    on_path: bool,
    found: list[RecordedMessage],
    observable: Callable[[FlowStep], bool],
    trace: Trace,
    index: CatalogIndex,
) -> StepResult:
    kind, target = _target(step, index)
    base = StepResult(step.id, step.title, kind, target, NOT_TAKEN)

    def happened(messages: Sequence[RecordedMessage], detail: str) -> StepResult:
        first = messages[0]
        return StepResult(
            step.id,
            step.title,
            kind,
            target,
            HAPPENED,
            first.at,
            first.at - trace.start,
            detail,
            tuple(messages),
        )

    if found:
        detail = _message_detail(step, found, trace)
        if not on_path:
            detail = (detail + "; " if detail else "") + "on a branch the trace did not take"
        return happened(found, detail)
    if step.service is not None:
        sent = [m for m in trace.messages if step.service.id in m.senders]
        if sent and on_path:
            types = ", ".join(dict.fromkeys(m.message_type for m in sent))
            return happened(sent, f"sent {types}")
    if not on_path:
        return base
    if step.message is not None and not observable(step):
        return _replace(base, NOT_OBSERVABLE, "travels over HTTP: the broker does not see it")
    if observable(step):
        return _replace(base, MISSING, "documented on the path this trace took, never seen")
    reasons = {
        "service": "sent nothing in this trace (receiving is not visible on the broker)",
        "container": "a data store: not visible on the broker",
        "actor": "a person: not visible on the broker",
        "custom": "not a message: not visible on the broker",
    }
    return _replace(base, NOT_OBSERVABLE, reasons.get(kind, "not visible on the broker"))


def _replace(row: StepResult, status: Status, detail: str) -> StepResult:
    return StepResult(row.step, row.title, row.kind, row.target, status, detail=detail)


def _message_detail(step: FlowStep, found: Sequence[RecordedMessage], trace: Trace) -> str:
    notes = []
    if len(found) > 1:
        notes.append(f"{len(found)} times")
    senders = sorted({s for m in found for s in m.senders})
    if senders:
        notes.append("from " + ", ".join(senders))
    if step.message is not None and step.message.version not in ("latest", ""):
        documented_major = step.message.version.split(".", 1)[0]
        other = sorted({m.version for m in found if m.version.split(".", 1)[0] != documented_major})
        if other:
            notes.append(f"version {', '.join(other)} seen, flow documents {step.message.version}")
    dead = [
        d
        for d in trace.dead_letters
        if step.message is not None and d.message_type == step.message.id
    ]
    if dead:
        notes.append(
            "dead-lettered by " + ", ".join(sorted({d.dead_letter_service or "?" for d in dead}))
        )
    return "; ".join(notes)


def _extra_rows(trace: Trace, documented: set[str], index: CatalogIndex) -> Iterable[StepResult]:
    """Messages the flow does not mention (one row per type), then every dead letter."""
    extra: dict[str, list[RecordedMessage]] = {}
    for message in trace.messages:
        if message.kind in _SEEN_KINDS and message.message_type not in documented:
            extra.setdefault(message.message_type, []).append(message)
    for message_type, messages in extra.items():
        first = messages[0]
        flows = index.flows_with(message_type)
        where = f"documented in flow {', '.join(flows)}" if flows else "in no flow of the catalog"
        count = f"{len(messages)} times; " if len(messages) > 1 else ""
        yield StepResult(
            "",
            "",
            index.message_kind(message_type) or "message",
            message_type,
            UNDOCUMENTED,
            first.at,
            first.at - trace.start,
            f"{count}from {first.sender}; {where}",
            tuple(messages),
        )
    for letter in trace.dead_letters:
        yield StepResult(
            "",
            "",
            index.message_kind(letter.message_type) or "message",
            letter.message_type,
            DEAD_LETTER,
            letter.at,
            letter.at - trace.start,
            f"{letter.dead_letter_service or '?'} gave up ({letter.dead_letter_reason or '?'}): "
            f"{(letter.dead_letter_error or '')[:200]}",
            (letter,),
        )
