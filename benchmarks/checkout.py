"""Checkout benchmark: concurrent checkouts on the whole platform, against raw FastStream.

    python -m benchmarks.checkout [--checkouts 200] [--concurrency 20] [--json]
    python -m benchmarks.checkout --configs embedded,nats-pg,rabbit-pg,redis-pg [...]

Without --configs it runs the embedded default (embedded NATS, SQLite files); --configs runs
each named configuration in turn (names as in scripts/conformance.sh: embedded, nats-sqlite,
nats-pg, rabbit-sqlite, rabbit-pg, redis-sqlite, redis-pg, kafka-sqlite, kafka-pg) and
prints one table with a column per configuration. A configuration whose server does not
answer is listed as unavailable; Kafka runs on Tansu when no Kafka-compatible broker answers
and the binary is there (benchmarks/configs.py). For each configuration:

1. Starts the platform like the end-to-end tests (benchmarks/embedded.py: the simulators, the
   gateway on a free port, every system), on the embedded NATS and SQLite files, or on the
   configuration's broker and PostgreSQL (a database per store tagged with the run, dropped
   afterwards; the platform's subjects purged before and after).
2. Setup, not measured: staff create products with enough stock, `concurrency` shoppers
   register, and one cart per checkout is filled. A warm-up round of checkouts runs first.
3. Measured: `concurrency` workers check the carts out through the gateway. A checkout's
   latency runs from sending POST /carts/{id}/checkout to its terminal state: the moment
   checkout-completed or checkout-failed (written in the same transaction as the state) is
   first seen on the broker by an observer that joins no consumer group (benchmarks/
   outcomes.py: a core NATS subscription, an exclusive RabbitMQ queue, XREAD on the Redis
   stream, a group-less Kafka consumer), so it includes the outbox relay's publish. Every
   outcome is then confirmed over HTTP (GET /checkouts/{id}).
4. Messages per checkout: rows the outboxes of every store published to the broker during
   the measured window (read through SQLAlchemy from SQLite or PostgreSQL alike), divided by
   the checkouts that finished in it. Orders carry a delivery address, so the fulfilment that
   starts within the window is counted too: it is broker work the platform did. CPU seconds
   in the window are read from /proc for the platform's processes (every system, and this
   process, which runs the gateway and the client) and for the embedded nats-server; the CPU
   of an external broker or PostgreSQL server is not ours to read and is excluded (the table's
   "CPU counted" row says which), for the platform and the raw run alike.
5. Raw FastStream publish+consume msg/s on the same broker, same message size and headers
   (benchmarks/raw_faststream.py, in the shape of the runtime's adapter for that broker), in
   the same run, after the checkouts, once the platform's tail (shipments, deliveries) has
   gone quiet; the report says how long that took, or that the platform was still busy.

ratio = completed checkouts/s × messages per checkout ÷ raw msg/s (target ≥ 0.3). The raw
figure is the faster of the consumer shapes measured (the runtime's own, and a batched one
where FastStream has it), so the ratio is measured against FastStream's better number.
Benchmarks never assert.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from acme.client import AcmeClient, ClientError, DeliveryAddress, Shopper
from acme.runtime.process import event_loop_factory
from acme.runtime.settings import broker_kind
from benchmarks.configs import (
    Configuration,
    configuration,
    kafka_broker,
    known_names,
    parse_configs,
    unavailable,
)
from benchmarks.embedded import RunningPlatform, Stores, embedded_platform
from benchmarks.outcomes import OutcomeWatcher
from benchmarks.raw_faststream import RawResult, raw_shapes, run_raw

TARGET_RATIO = 0.3
# The baseline waits at most this long for the platform's tail (shipments, deliveries) to end.
BASELINE_QUIET_LIMIT = 30.0
SELF = "gateway + benchmark client"  # this process: the gateway runs in the runner
# With an address the order goes on to the warehouse, as a real one does (without one the
# warehouse dead-letters order-confirmed: it cannot pick for an unknown destination).
ADDRESS = DeliveryAddress(
    recipient_name="Bench Shopper",
    line1="1 Load Street",
    city="Springfield",
    postal_code="12345",
    country_code="US",
)
# Stores that are not a system's (runtime bookkeeping, the Stripe sandbox's own file).
NOT_OUTBOX_STORES = {"runtime", "stripe_sandbox"}
OUTBOX_IDS = "SELECT message_id FROM message_outbox"


@dataclass
class Sample:
    checkout_id: str
    token: str  # the shopper's, to read the outcome back
    sent: float
    finished: float | None = None
    status: str | None = None  # COMPLETED | FAILED | None (no outcome before the deadline)
    confirmed: str | None = None  # the status GET /checkouts/{id} answered afterwards

    @property
    def latency(self) -> float | None:
        return None if self.finished is None else self.finished - self.sent


@dataclass
class Outcome:
    """What the measured window produced."""

    samples: list[Sample]
    seconds: float
    errors: list[str] = field(default_factory=list)
    published: Counter[str] = field(default_factory=Counter)  # broker messages by type
    consumed: int = 0  # inbox rows written (messages handled)
    payload_bytes: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process in the window


# ---------------------------------------------------------------------------------------------
# Counting messages in the stores (SQLite files or databases on a server, through SQLAlchemy)

Marks = dict[str, tuple[frozenset[str], int]]  # store -> (outbox message ids, inbox rows)


def _stores(stores: Stores) -> list[str]:
    return [name for name in stores.names() if name not in NOT_OUTBOX_STORES]


def _marks(stores: Stores) -> Marks:
    """Per store: the ids of the message_outbox rows and the number of message_inbox rows."""
    marks: Marks = {}
    for name in _stores(stores):
        reader = stores.reader(name)
        tables = reader.tables()
        ids: frozenset[str] = frozenset()
        inbox = 0
        if "message_outbox" in tables:
            ids = frozenset(str(r["message_id"]) for r in reader.rows(OUTBOX_IDS))
        if "message_inbox" in tables:
            inbox = int(reader.scalar("SELECT COUNT(*) AS n FROM message_inbox"))
        marks[name] = (ids, inbox)
    return marks


def _counts(stores: Stores) -> dict[str, tuple[int, int]]:
    """Per store: (outbox rows, inbox rows), to see when the platform has gone quiet."""
    counts: dict[str, tuple[int, int]] = {}
    for name in _stores(stores):
        reader = stores.reader(name)
        tables = reader.tables()
        counts[name] = tuple(  # type: ignore[assignment]
            int(reader.scalar(f"SELECT COUNT(*) AS n FROM {table}")) if table in tables else 0
            for table in ("message_outbox", "message_inbox")
        )
    return counts


def _count_since(stores: Stores, before: Marks, outcome: Outcome) -> None:
    """Outbox rows sent to the broker and inbox rows written since `before`."""
    for name in _stores(stores):
        seen, inbox_before = before.get(name, (frozenset(), 0))
        reader = stores.reader(name)
        tables = reader.tables()
        if "message_outbox" in tables:
            for row in reader.rows(
                "SELECT message_id, message_type, headers, length(payload) AS size "
                "FROM message_outbox"
            ):
                if str(row["message_id"]) in seen:
                    continue
                protocol = json.loads(row["headers"]).get("acme-protocol", "nats")
                if protocol in ("http", "https"):
                    continue  # delivered by a channel adapter (Stripe), not the broker
                outcome.published[str(row["message_type"])] += 1
                outcome.payload_bytes += int(row["size"] or 0)
        if "message_inbox" in tables:
            now = int(reader.scalar("SELECT COUNT(*) AS n FROM message_inbox"))
            outcome.consumed += now - inbox_before


# ---------------------------------------------------------------------------------------------
# CPU used per process (Linux /proc): where the time goes, independent of other load


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process so far; None when it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    try:
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (IndexError, ValueError):
        return None


def _broker_pid(data_dir: Path) -> int | None:
    """The embedded nats-server serving this data dir (its store is under data_dir/nats)."""
    marker = str(data_dir / "nats")
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "nats-server" in cmdline and marker in cmdline:
            return int(entry.name)
    return None


def _pids(platform: RunningPlatform) -> dict[str, int]:
    pids = {name: s.pid for name, s in platform.runner.snapshot().items() if s.pid}
    # A broker server the platform did not start is not ours to read (nor is PostgreSQL).
    broker = None if platform.shared_broker else _broker_pid(platform.data_dir)
    if broker is not None:
        pids["nats-server"] = broker
    pids[SELF] = os.getpid()
    return pids


def _cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, pid in pids.items():
        seconds = _cpu_seconds(pid)
        if seconds is not None:
            out[name] = seconds
    return out


def _cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in after if name in before}


# ---------------------------------------------------------------------------------------------
# Driving the platform


@dataclass(frozen=True)
class Cart:
    shopper: Shopper
    cart_id: str


async def _gather_limited(limit: int, jobs: Sequence[Any]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def run(job: Any) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(run(j) for j in jobs))


async def _setup(
    acme: AcmeClient, platform: RunningPlatform, carts: int, concurrency: int, say: Any
) -> list[Cart]:
    admin = acme.as_user(
        await acme.sign_in_admin(platform.admin_email, platform.admin_password, wait=15.0)
    )
    products = []
    for n in range(5):
        tag = uuid.uuid4().hex[:8].upper()
        product = await admin.create_product(
            sku=f"BENCH-{tag}", name=f"Benchmark item {n}", price=500 + 100 * n
        )
        assert product.product_id is not None
        await admin.set_stock(product.product_id, carts + 10)
        products.append(product.product_id)
    say(f"seeded {len(products)} products")

    async def register(n: int) -> Shopper:
        tag = uuid.uuid4().hex[:10]
        return await acme.register_shopper(f"bench-{n}-{tag}@example.com", f"pw-{tag}", wait=15.0)

    shoppers = await _gather_limited(4, [register(n) for n in range(concurrency)])
    say(f"registered {len(shoppers)} shoppers")

    async def fill(n: int) -> Cart:
        shopper = shoppers[n % len(shoppers)]
        me = acme.as_user(shopper.token)
        cart = await me.create_cart(shopper.customer_id)
        await me.add_item(cart.cart_id, products[n % len(products)], 1, wait=15.0)
        return Cart(shopper, str(cart.cart_id))

    filled = await _gather_limited(concurrency, [fill(n) for n in range(carts)])
    say(f"filled {len(filled)} carts")
    return filled


async def _run_checkouts(
    acme: AcmeClient,
    watcher: OutcomeWatcher,
    carts: Sequence[Cart],
    concurrency: int,
    timeout: float,
) -> tuple[list[Sample], list[str]]:
    samples: list[Sample] = []
    errors: list[str] = []
    queue = iter(carts)

    async def worker() -> None:
        for cart in queue:  # shared iterator: each worker takes the next cart
            me = acme.as_user(cart.shopper.token)
            sent = time.perf_counter()
            try:
                answer = await me.checkout(
                    cart.cart_id, cart.shopper.customer_id, delivery_address=ADDRESS
                )
            except ClientError as exc:
                errors.append(str(exc))
                continue
            if answer.checkout_id is None:
                errors.append(f"checkout of cart {cart.cart_id} answered without a checkoutId")
                continue
            sample = Sample(str(answer.checkout_id), cart.shopper.token, sent)
            samples.append(sample)
            seen = await watcher.wait(sample.checkout_id, timeout)
            if seen is not None:
                sample.finished, sample.status = seen

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples, errors


async def _confirm(acme: AcmeClient, samples: Sequence[Sample]) -> None:
    """Read every outcome back over HTTP (the shopper's view), outside the measured window."""

    async def confirm(sample: Sample) -> None:
        with contextlib.suppress(ClientError):
            checkout = await acme.as_user(sample.token).get_checkout(sample.checkout_id)
            sample.confirmed = checkout.status

    await _gather_limited(10, [confirm(s) for s in samples])


async def _quiet(stores: Stores, settle: float, limit: float) -> float | None:
    """Wait until no outbox or inbox row has been added for `settle` seconds (at most `limit`).

    Returns the seconds it took, or None when the platform was still busy at the limit."""
    started = time.monotonic()
    deadline = time.monotonic() + limit
    last = await asyncio.to_thread(_counts, stores)
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        now = await asyncio.to_thread(_counts, stores)
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= settle:
            return time.monotonic() - started
    return None


def _median_run(runs: Sequence[tuple[RawResult, float]]) -> tuple[RawResult, float]:
    """The run (and its CPU seconds) with the median rate; of an even number the faster middle
    one, so that the baseline is never the choice that flatters the platform."""
    ordered = sorted(runs, key=lambda run: run[0].msgs_per_s)
    return ordered[len(ordered) // 2]


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass
class Report:
    checkouts: int
    concurrency: int
    outcome: Outcome
    raw: list[RawResult]
    setup_seconds: float
    startup_seconds: float
    raw_cpu: list[float] = field(default_factory=list)  # CPU s (client + broker) per raw run
    sqlite_inline: bool = True
    config: Configuration = field(default_factory=lambda: configuration("embedded"))
    # seconds the platform's tail took to go quiet before the baseline; None: still busy
    quiet_after: float | None = None

    @property
    def cpu_counted(self) -> str:
        """Whose CPU the CPU figures count."""
        if not self.config.external_broker:
            what = "platform processes + embedded nats-server"
        else:
            what = "platform processes; broker server excluded"
        if self.config.database_url is not None:
            what += "; PostgreSQL server excluded"
        return what

    def figures(self) -> dict[str, Any]:
        samples = self.outcome.samples
        completed = [s for s in samples if s.status == "COMPLETED"]
        finished = [s for s in samples if s.status is not None]
        latencies = sorted(s.latency for s in finished if s.latency is not None)
        seconds = self.outcome.seconds
        per_s = len(completed) / seconds if seconds > 0 else 0.0
        published = sum(self.outcome.published.values())
        per_checkout = published / len(finished) if finished else 0.0
        best_raw = max(self.raw, key=lambda r: r.msgs_per_s) if self.raw else None
        raw_rate = best_raw.msgs_per_s if best_raw else 0.0
        ratio = per_s * per_checkout / raw_rate if raw_rate else None
        p50 = _percentile(latencies, 50)
        p99 = _percentile(latencies, 99)
        cpu_total = sum(self.outcome.cpu.values())
        cpu_per_message = cpu_total / published if published else None
        raw_cpu_per_message = (
            min(c / r.messages for c, r in zip(self.raw_cpu, self.raw, strict=True))
            if self.raw_cpu and len(self.raw_cpu) == len(self.raw)
            else None
        )
        return {
            "configuration": self.config.name,
            "broker": self.config.broker,
            "database": self.config.database,
            "cpu_counted": self.cpu_counted,
            "checkouts": self.checkouts,
            "concurrency": self.concurrency,
            "completed": len(completed),
            "failed": sum(1 for s in samples if s.status == "FAILED"),
            "timed_out": sum(1 for s in samples if s.status is None),
            "errors": len(self.outcome.errors),
            "confirmed_over_http": sum(1 for s in samples if s.confirmed == s.status),
            "window_seconds": round(seconds, 3),
            "checkouts_per_s": round(per_s, 2),
            "latency_p50_ms": None if p50 is None else round(p50 * 1000, 1),
            "latency_p99_ms": None if p99 is None else round(p99 * 1000, 1),
            "latency_max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
            "messages_per_checkout": round(per_checkout, 2),
            "messages_by_type": dict(sorted(self.outcome.published.items())),
            "handled_per_checkout": round(self.outcome.consumed / len(finished), 2)
            if finished
            else 0.0,
            "avg_payload_bytes": round(self.outcome.payload_bytes / published) if published else 0,
            "platform_msgs_per_s": round(per_s * per_checkout, 1),
            "raw": [r.as_dict() for r in self.raw],
            "raw_msgs_per_s": round(raw_rate, 1),
            "ratio": None if ratio is None else round(ratio, 3),
            "target_ratio": TARGET_RATIO,
            "cpu_cores_busy": round(cpu_total / seconds, 2) if seconds > 0 else None,
            "cpu_ms_per_checkout": round(cpu_total * 1000 / len(finished), 1) if finished else None,
            "cpu_ms_per_checkout_by_process": {
                name: round(used * 1000 / len(finished), 2)
                for name, used in sorted(self.outcome.cpu.items(), key=lambda kv: -kv[1])
            }
            if finished
            else {},
            "cpu_ms_per_message": None
            if cpu_per_message is None
            else round(cpu_per_message * 1000, 3),
            "raw_cpu_ms_per_message": None
            if raw_cpu_per_message is None
            else round(raw_cpu_per_message * 1000, 3),
            "sqlite_inline": self.sqlite_inline,
            "startup_seconds": round(self.startup_seconds, 1),
            "setup_seconds": round(self.setup_seconds, 1),
            "baseline_quiet_after_s": None
            if self.quiet_after is None
            else round(self.quiet_after, 1),
            "first_errors": self.outcome.errors[:5],
        }


def _table(fig: dict[str, Any]) -> Table:
    table = Table(title="Checkout benchmark", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("figure", style="bold", no_wrap=True)
    table.add_column("value", justify="right")
    rows = [
        ("checkouts (concurrency)", f"{fig['checkouts']} ({fig['concurrency']})"),
        (
            "completed / failed / no outcome",
            f"{fig['completed']} / {fig['failed']} / {fig['timed_out']}",
        ),
        ("HTTP errors", str(fig["errors"])),
        ("outcomes confirmed over HTTP", str(fig["confirmed_over_http"])),
        ("measured window", f"{fig['window_seconds']:.2f} s"),
        ("completed checkouts/s", f"{fig['checkouts_per_s']:.2f}"),
        ("latency p50", f"{fig['latency_p50_ms']} ms"),
        ("latency p99", f"{fig['latency_p99_ms']} ms"),
        ("broker messages per checkout", f"{fig['messages_per_checkout']:.2f}"),
        ("messages handled per checkout", f"{fig['handled_per_checkout']:.2f}"),
        ("avg payload", f"{fig['avg_payload_bytes']} B"),
        ("platform broker msg/s", f"{fig['platform_msgs_per_s']:.1f}"),
        ("CPU cores busy (all processes)", f"{fig['cpu_cores_busy']}"),
        ("CPU per checkout", f"{fig['cpu_ms_per_checkout']} ms"),
        ("CPU per broker message: platform", f"{fig['cpu_ms_per_message']} ms"),
        ("CPU per message: raw FastStream", f"{fig['raw_cpu_ms_per_message']} ms"),
        ("platform quiet before the baseline", _quiet_text(fig)),
    ]
    for raw in fig["raw"]:
        rows.append((_raw_label(raw), f"{raw['msgs_per_s']:.1f}"))
    ratio = fig["ratio"]
    rows.append(
        (
            f"ratio (target ≥ {fig['target_ratio']})",
            "-" if ratio is None else f"{ratio:.3f}",
        )
    )
    for name, value in rows:
        table.add_row(name, value)
    return table


def _quiet_text(fig: dict[str, Any]) -> str:
    after = fig["baseline_quiet_after_s"]
    if after is None:
        return f"no: still busy after {BASELINE_QUIET_LIMIT:.0f} s"
    return f"after {after:.1f} s"


def _raw_label(raw: dict[str, Any]) -> str:
    return f"raw FastStream msg/s ({raw['workers']} in flight, pull batch {raw['batch_size']})"


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value} ms"


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


# (row label, how to show it from a configuration's figures)
COLUMN_ROWS: list[tuple[str, Any]] = [
    ("broker", lambda f: f["broker"]),
    ("database", lambda f: f["database"]),
    ("checkouts (concurrency)", lambda f: f"{f['checkouts']} ({f['concurrency']})"),
    (
        "completed / failed / no outcome",
        lambda f: f"{f['completed']} / {f['failed']} / {f['timed_out']}",
    ),
    ("HTTP errors", lambda f: str(f["errors"])),
    ("outcomes confirmed over HTTP", lambda f: str(f["confirmed_over_http"])),
    ("measured window", lambda f: f"{f['window_seconds']:.2f} s"),
    ("completed checkouts/s", lambda f: f"{f['checkouts_per_s']:.2f}"),
    ("latency p50", lambda f: _ms(f["latency_p50_ms"])),
    ("latency p99", lambda f: _ms(f["latency_p99_ms"])),
    ("broker messages per checkout", lambda f: f"{f['messages_per_checkout']:.2f}"),
    ("messages handled per checkout", lambda f: f"{f['handled_per_checkout']:.2f}"),
    ("avg payload", lambda f: f"{f['avg_payload_bytes']} B"),
    ("platform broker msg/s", lambda f: f"{f['platform_msgs_per_s']:.1f}"),
    ("CPU counted", lambda f: f["cpu_counted"]),
    ("CPU cores busy", lambda f: str(f["cpu_cores_busy"])),
    ("CPU per checkout", lambda f: _ms(f["cpu_ms_per_checkout"])),
    ("CPU per broker message: platform", lambda f: _ms(f["cpu_ms_per_message"])),
    ("CPU per message: raw FastStream", lambda f: _ms(f["raw_cpu_ms_per_message"])),
    ("platform quiet before the baseline", _quiet_text),
    ("raw FastStream msg/s, runtime's consumer shape", lambda f: _raw_rate(f, 0)),
    ("raw FastStream msg/s, batched consumer", lambda f: _raw_rate(f, 1)),
    ("raw FastStream msg/s used (the faster)", lambda f: f"{f['raw_msgs_per_s']:.1f}"),
    (f"ratio (target ≥ {TARGET_RATIO})", lambda f: _num(f["ratio"], ".3f")),
]


def _raw_rate(fig: dict[str, Any], index: int) -> str:
    raw = fig["raw"]
    return f"{raw[index]['msgs_per_s']:.1f}" if index < len(raw) else "-"


@dataclass
class ConfigResult:
    """One configuration of a side-by-side run: its figures, or why it has none."""

    config: Configuration
    status: str  # "measured", "unavailable" or "failed"
    reason: str = ""
    figures: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "configuration": self.config.name,
            "broker": self.config.broker,
            "database": self.config.database,
            "status": self.status,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.figures is not None:
            out["figures"] = self.figures
        return out


def side_by_side(results: Sequence[ConfigResult], title: str) -> Table:
    """One table, a column per configuration; unavailable or failed ones say so."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("figure", style="bold", no_wrap=True)
    for result in results:
        table.add_column(result.config.name, justify="right")
    table.add_row("status", *(r.status for r in results))
    for label, show in COLUMN_ROWS:
        cells = []
        for result in results:
            if result.figures is not None:
                cells.append(show(result.figures))
            elif label == "broker":
                cells.append(result.config.broker)
            elif label == "database":
                cells.append(result.config.database)
            else:
                cells.append("-")
        table.add_row(label, *cells)
    return table


def _load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


async def run(args: argparse.Namespace, say: Any, config: Configuration | None = None) -> Report:
    """Start the platform on `config` (default: embedded), measure, then the raw baseline."""
    config = config or configuration("embedded")
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        data_dir = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.data_dir is not None and config.name != "embedded":
            data_dir = data_dir / config.name  # one folder per configuration
        env = {
            # One shopper checks out many times: the fraud simulator's velocity rule would
            # (rightly) stop that, and the benchmark measures throughput, not fraud rules.
            "ACME_FRAUD_VELOCITY_LIMIT": "1000000",
            "ACME_LOG_LEVEL": args.log_level,
        }
        env["ACME_SQLITE_INLINE"] = "0" if args.sqlite_thread else "1"
        async with embedded_platform(
            data_dir, env=env, broker_url=config.broker_url, database_url=config.database_url
        ) as platform:
            assert platform.stores is not None
            stores = platform.stores
            startup = time.perf_counter() - started
            say(f"{config.name}: platform up in {startup:.1f}s at {platform.gateway_url}")
            limit = max(args.concurrency * 2 + 10, 40)
            async with (
                AcmeClient(platform.gateway_url, max_connections=limit, timeout=60.0) as acme,
                OutcomeWatcher().running(platform.broker_url) as watcher,
            ):
                setup_start = time.perf_counter()
                warmup = min(args.warmup, args.checkouts)
                carts = await _setup(acme, platform, args.checkouts + warmup, args.concurrency, say)
                if warmup:
                    await _run_checkouts(
                        acme, watcher, carts[:warmup], args.concurrency, args.timeout
                    )
                    say(f"warm-up: {warmup} checkouts")
                await _quiet(stores, settle=1.0, limit=15.0)
                setup_seconds = time.perf_counter() - setup_start

                before = await asyncio.to_thread(_marks, stores)
                pids = _pids(platform)
                cpu_before = _cpu_snapshot(pids)
                window_start = time.perf_counter()
                samples, errors = await _run_checkouts(
                    acme, watcher, carts[warmup:], args.concurrency, args.timeout
                )
                window = time.perf_counter() - window_start
                outcome = Outcome(samples, window, errors)
                outcome.cpu = _cpu_used(cpu_before, _cpu_snapshot(pids))
                await asyncio.to_thread(_count_since, stores, before, outcome)
                say(f"{config.name}: measured {len(samples)} checkouts in {window:.2f}s")
                await _confirm(acme, samples)

            payload = round(outcome.payload_bytes / max(1, sum(outcome.published.values())))
            raw_messages = max(1000, min(20000, sum(outcome.published.values())))
            # The flows go on after the last checkout (shipments, deliveries): the baseline is
            # measured on a quiet broker, not against the platform's tail.
            quiet_after = await _quiet(stores, settle=1.0, limit=BASELINE_QUIET_LIMIT)
            raw_pids = {k: v for k, v in _pids(platform).items() if k != SELF}
            raw_pids["raw client"] = os.getpid()
            shapes = raw_shapes(broker_kind(platform.broker_url))
            runs: list[list[tuple[RawResult, float]]] = [[] for _ in shapes]
            # A raw run lasts seconds: one alone swings ±20% with the machine's other work.
            # Rounds alternate the shapes; each shape's median run is its figure.
            for round_number in range(1, args.raw_rounds + 1):
                for index, (workers, batch) in enumerate(shapes):
                    cpu_start = _cpu_snapshot(raw_pids)
                    result = await run_raw(
                        platform.broker_url,
                        messages=raw_messages,
                        payload_size=max(payload, 16),
                        publishers=args.concurrency,
                        workers=workers,
                        batch_size=batch,
                    )
                    used = _cpu_used(cpu_start, _cpu_snapshot(raw_pids))
                    runs[index].append(
                        (result, used.get("raw client", 0.0) + used.get("nats-server", 0.0))
                    )
                    say(
                        f"{config.name}: raw FastStream ({result.shape}), round {round_number}: "
                        f"{result.msgs_per_s:.0f} msg/s"
                    )
            medians = [_median_run(shape_runs) for shape_runs in runs]
            raw = [result for result, _cpu in medians]
            raw_cpu = [cpu for _result, cpu in medians]
    return Report(
        args.checkouts,
        args.concurrency,
        outcome,
        raw,
        setup_seconds,
        startup,
        raw_cpu=raw_cpu,
        sqlite_inline=not args.sqlite_thread,
        config=config,
        quiet_after=quiet_after,
    )


async def run_configs(
    args: argparse.Namespace, configs: Sequence[Configuration], say: Any
) -> list[ConfigResult]:
    """Each configuration in turn; a server that does not answer makes it unavailable."""
    results: list[ConfigResult] = []
    with kafka_broker(configs, say=say) as ready:
        for config in ready:
            reason = unavailable(config)
            if reason is not None:
                say(f"{config.name}: unavailable ({reason})")
                results.append(ConfigResult(config, "unavailable", reason))
                continue
            try:
                report = await run(args, say, config)
            except Exception as exc:  # the platform did not start, a setup call failed...
                say(f"{config.name}: failed: {type(exc).__name__}: {exc}")
                results.append(ConfigResult(config, "failed", f"{type(exc).__name__}: {exc}"))
                continue
            results.append(ConfigResult(config, "measured", figures=report.figures()))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.checkout",
        description="Concurrent checkouts on the platform vs raw FastStream on the same broker, "
        "on the embedded default or side by side on several brokers and databases.",
    )
    parser.add_argument("--checkouts", type=int, default=200, help="measured checkouts")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent shoppers")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured checkouts first")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-checkout deadline (s)")
    parser.add_argument(
        "--raw-rounds",
        type=int,
        default=3,
        help="raw FastStream runs per consumer shape; each shape's median run counts",
    )
    parser.add_argument(
        "--configs",
        default=None,
        help="comma-separated configurations to run one after the other and print side by side: "
        + ", ".join(known_names())
        + " (servers as in scripts/conformance.sh; PG_URL and KAFKA_URL override). "
        "Default: the embedded run alone",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the stores here")
    parser.add_argument("--log-level", default="WARNING", help="log level of the processes")
    parser.add_argument(
        "--sqlite-thread",
        action="store_true",
        help="run every SQLite call on aiosqlite's worker thread (ACME_SQLITE_INLINE=0), the "
        "runtime's mode before calls that need not wait ran on the event loop",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--json-file", type=Path, default=None, help="also write the figures as JSON to this file"
    )
    args = parser.parse_args(argv)
    if args.checkouts < 1 or args.concurrency < 1 or args.raw_rounds < 1:
        parser.error("--checkouts, --concurrency and --raw-rounds must be ≥ 1")
    if args.warmup < 0 or args.timeout <= 0:
        parser.error("--warmup must be ≥ 0 and --timeout > 0")
    configs: list[Configuration] | None = None
    if args.configs is not None:
        try:
            configs = parse_configs(args.configs)
        except ValueError as exc:
            parser.error(f"--configs: {exc}")

    console = Console(stderr=True)

    def say(text: str) -> None:
        console.print(text, highlight=False, markup=False)

    if configs is not None:
        return _main_side_by_side(args, configs, say)
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            report = runner.run(run(args, say))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the platform did not start, a setup call failed...
        console.print(f"benchmark failed: {type(exc).__name__}: {exc}", markup=False)
        return 1
    figures = report.figures()
    if args.json_file is not None:
        args.json_file.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        Console().print(_table(figures))
        if figures["first_errors"]:
            say("first errors: " + "; ".join(figures["first_errors"]))
    return 0


def _main_side_by_side(args: argparse.Namespace, configs: Sequence[Configuration], say: Any) -> int:
    load_before = _load_average()
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            results = runner.run(run_configs(args, configs, say))
    except KeyboardInterrupt:
        return 130
    load_after = _load_average()
    document = {
        "checkouts": args.checkouts,
        "concurrency": args.concurrency,
        "configurations": [r.as_dict() for r in results],
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    if args.json_file is not None:
        args.json_file.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        wide = Console(width=max(100, 48 + 26 * len(results)))  # a column per configuration
        wide.print(
            side_by_side(
                results,
                f"Checkout benchmark: {args.checkouts} checkouts, concurrency {args.concurrency}",
            )
        )
        for result in results:
            if result.reason:
                say(f"{result.config.name}: {result.status}: {result.reason}")
            elif result.figures and result.figures["first_errors"]:
                say(
                    f"{result.config.name}: first errors: "
                    + "; ".join(result.figures["first_errors"])
                )
        if load_before and load_after:
            say(
                "load average (1, 5, 15 min) before: "
                + ", ".join(f"{x:.2f}" for x in load_before)
                + "; after: "
                + ", ".join(f"{x:.2f}" for x in load_after)
            )
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
