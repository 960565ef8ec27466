"""Watch a running platform: record its messages, compare them with the catalog, measure it.

    from acme.observe import TraceRecorder, compare, PlatformMetrics, live_systems_map

    recorder = TraceRecorder()                 # senders/receivers from the repository's catalog
    await recorder.attach_platform(runner)     # a started PlatformRunner, or a data directory
    ...                                        # run a checkout with acme.client
    trace = recorder.trace(correlation_id)     # every message of that checkout, in time order
    trace.sequence_diagram()                   # SVG (graphviz) or mermaid text
    compare(trace, "place-an-order")           # documented step -> happened / missing / ...
    metrics = PlatformMetrics(recorder)        # rates, handler latencies, dead letters
    live_systems_map(metrics)                  # the catalog's systems map, annotated

Live capture needs NATS (one core subscription on ``>``); for other brokers feed messages to
`TraceRecorder.record()` yourself.
"""

from acme.observe._catalog import CatalogIndex
from acme.observe._compare import FlowComparison, Fork, StepResult, compare
from acme.observe._messages import DeliveryRecord, ObserveError, RecordedMessage
from acme.observe._metrics import (
    LatencySample,
    LiveSystemsMap,
    NodeStats,
    PlatformMetrics,
    Timeline,
    live_systems_map,
    percentile,
    watch,
)
from acme.observe._recorder import TraceRecorder, broker_url_from_state
from acme.observe._trace import Arrow, SequenceDiagram, Trace

__all__ = [
    "Arrow",
    "CatalogIndex",
    "DeliveryRecord",
    "FlowComparison",
    "Fork",
    "LatencySample",
    "LiveSystemsMap",
    "NodeStats",
    "ObserveError",
    "PlatformMetrics",
    "RecordedMessage",
    "SequenceDiagram",
    "StepResult",
    "Timeline",
    "Trace",
    "TraceRecorder",
    "broker_url_from_state",
    "compare",
    "live_systems_map",
    "percentile",
    "watch",
]
