"""Checkout benchmark: concurrent checkouts on the whole platform, against raw FastStream.

    python -m benchmarks.checkout [--checkouts 200] [--concurrency 20] [--json]

1. Starts the platform like the end-to-end tests (embedded NATS, SQLite files in a temporary
   data dir, simulators, gateway on a free port).
2. Setup, not measured: staff create products with enough stock, `concurrency` shoppers
   register, and one cart per checkout is filled. A warm-up round of checkouts runs first.
3. Measured: `concurrency` workers check the carts out through the gateway. A checkout's
   latency runs from sending POST /carts/{id}/checkout to its terminal state: the moment
   checkout-completed or checkout-failed (written in the same transaction as the state) is
   seen on the broker. Every outcome is then confirmed over HTTP (GET /checkouts/{id}).
4. Messages per checkout: rows the outboxes of every store published to the broker during
   the measured window, divided by the checkouts that finished in it. Orders carry a
   delivery address, so the fulfilment that starts within the window is counted too: it is
   broker work the platform did. CPU seconds of every process in the window are read from
   /proc, so the cost per message can be compared with raw FastStream's even on a busy host.
5. Raw FastStream publish+consume msg/s on the same broker, same message size
   (benchmarks/raw_faststream.py), in the same run, after the checkouts.

ratio = completed checkouts/s × messages per checkout ÷ raw msg/s (target ≥ 0.3). The raw
figure is the faster of two consumer shapes (the runtime's one-message pulls, and batched
pulls), so the ratio is measured against FastStream's better number. Benchmarks never assert.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from acme.client import AcmeClient, ClientError, DeliveryAddress, Shopper
from benchmarks.embedded import RunningPlatform, embedded_platform, read_only
from benchmarks.raw_faststream import RawResult, run_raw

TERMINAL_MESSAGES = {"checkout-completed": "COMPLETED", "checkout-failed": "FAILED"}
TARGET_RATIO = 0.3
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
# Watching the broker for checkout outcomes


def _terminal_subjects() -> dict[str, str]:
    """Subject -> message id of checkout-completed/failed, from the generated registry."""
    from generated import catalog

    subjects: dict[str, str] = {}
    for service in catalog.SERVICES.values():
        for route in service.sends:
            if route.message in TERMINAL_MESSAGES and route.address:
                subjects[route.address] = route.message
    if set(subjects.values()) != set(TERMINAL_MESSAGES):
        raise RuntimeError(
            "the registry names no subject for checkout-completed/checkout-failed: "
            "is generated/ up to date?"
        )
    return subjects


class OutcomeWatcher:
    """Core NATS subscriber on the terminal checkout subjects: checkout id -> (time, status)."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[float, str]] = {}
        self._waiters: dict[str, asyncio.Future[tuple[float, str]]] = {}

    async def _on_message(self, msg: Any) -> None:
        at = time.perf_counter()
        headers = msg.headers or {}
        kind = headers.get("message-type") or self._subjects.get(msg.subject)
        status = TERMINAL_MESSAGES.get(str(kind))
        if status is None:
            return
        try:
            checkout_id = str(json.loads(msg.data)["checkoutId"])
        except (ValueError, KeyError, TypeError):
            return
        if checkout_id in self.seen:
            return  # a redelivery: the first sighting is the terminal moment
        self.seen[checkout_id] = (at, status)
        waiter = self._waiters.pop(checkout_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result((at, status))

    @contextlib.asynccontextmanager
    async def running(self, url: str) -> AsyncIterator[OutcomeWatcher]:
        import nats

        self._subjects = _terminal_subjects()
        nc = await nats.connect(url, connect_timeout=5)
        try:
            for subject in self._subjects:
                await nc.subscribe(subject, cb=self._on_message)
            await nc.flush()
            yield self
        finally:
            await nc.close()

    async def wait(self, checkout_id: str, timeout: float) -> tuple[float, str] | None:
        if checkout_id in self.seen:
            return self.seen[checkout_id]
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[checkout_id] = waiter
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(checkout_id, None)


# ---------------------------------------------------------------------------------------------
# Counting messages in the stores


def _stores(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.glob("*.sqlite3") if p.stem not in NOT_OUTBOX_STORES)


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,))
    return row.fetchone() is not None


def _max_rowid(conn: sqlite3.Connection, table: str) -> int:
    if not _table_exists(conn, table):
        return 0
    return int(conn.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {table}").fetchone()[0])


def _marks(data_dir: Path) -> dict[str, tuple[int, int]]:
    """Per store: the highest rowid of message_outbox and message_inbox so far."""
    marks: dict[str, tuple[int, int]] = {}
    for path in _stores(data_dir):
        with read_only(path) as conn:
            marks[path.stem] = (
                _max_rowid(conn, "message_outbox"),
                _max_rowid(conn, "message_inbox"),
            )
    return marks


def _count_since(data_dir: Path, before: dict[str, tuple[int, int]], outcome: Outcome) -> None:
    """Outbox rows sent to the broker and inbox rows written after `before`."""
    for path in _stores(data_dir):
        out_mark, in_mark = before.get(path.stem, (0, 0))
        with read_only(path) as conn:
            if _table_exists(conn, "message_outbox"):
                for message_type, headers, size in conn.execute(
                    "SELECT message_type, headers, length(payload) FROM message_outbox "
                    "WHERE rowid > ?",
                    (out_mark,),
                ):
                    protocol = json.loads(headers).get("acme-protocol", "nats")
                    if protocol in ("http", "https"):
                        continue  # delivered by a channel adapter (Stripe), not the broker
                    outcome.published[message_type] += 1
                    outcome.payload_bytes += int(size or 0)
            if _table_exists(conn, "message_inbox"):
                outcome.consumed += conn.execute(
                    "SELECT COUNT(*) FROM message_inbox WHERE rowid > ?", (in_mark,)
                ).fetchone()[0]


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
    broker = _broker_pid(platform.data_dir)
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


async def _quiet(data_dir: Path, settle: float, limit: float) -> None:
    """Wait until no outbox row has been added for `settle` seconds (at most `limit`)."""
    deadline = time.monotonic() + limit
    last = _marks(data_dir)
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        now = _marks(data_dir)
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= settle:
            return


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
    ]
    for raw in fig["raw"]:
        shape = f"{raw['workers']} in flight, pull batch {raw['batch_size']}"
        rows.append((f"raw FastStream msg/s ({shape})", f"{raw['msgs_per_s']:.1f}"))
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


async def run(args: argparse.Namespace, say: Any) -> Report:
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        data_dir = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        env = {
            # One shopper checks out many times: the fraud simulator's velocity rule would
            # (rightly) stop that, and the benchmark measures throughput, not fraud rules.
            "ACME_FRAUD_VELOCITY_LIMIT": "1000000",
            "ACME_LOG_LEVEL": args.log_level,
        }
        env["ACME_SQLITE_INLINE"] = "0" if args.sqlite_thread else "1"
        async with embedded_platform(data_dir, env=env) as platform:
            startup = time.perf_counter() - started
            say(f"platform up in {startup:.1f}s at {platform.gateway_url}")
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
                await _quiet(platform.data_dir, settle=1.0, limit=15.0)
                setup_seconds = time.perf_counter() - setup_start

                before = _marks(platform.data_dir)
                pids = _pids(platform)
                cpu_before = _cpu_snapshot(pids)
                window_start = time.perf_counter()
                samples, errors = await _run_checkouts(
                    acme, watcher, carts[warmup:], args.concurrency, args.timeout
                )
                window = time.perf_counter() - window_start
                outcome = Outcome(samples, window, errors)
                outcome.cpu = _cpu_used(cpu_before, _cpu_snapshot(pids))
                _count_since(platform.data_dir, before, outcome)
                say(f"measured {len(samples)} checkouts in {window:.2f}s")
                await _confirm(acme, samples)

            payload = round(outcome.payload_bytes / max(1, sum(outcome.published.values())))
            raw_messages = max(1000, min(20000, sum(outcome.published.values())))
            raw = []
            raw_cpu = []
            raw_pids = {
                k: v for k, v in _pids(platform).items() if k != "gateway + benchmark client"
            }
            raw_pids["raw client"] = os.getpid()
            for batch in (1, 16):
                cpu_start = _cpu_snapshot(raw_pids)
                result = await run_raw(
                    platform.broker_url,
                    messages=raw_messages,
                    payload_size=max(payload, 16),
                    publishers=args.concurrency,
                    workers=8,
                    batch_size=batch,
                )
                used = _cpu_used(cpu_start, _cpu_snapshot(raw_pids))
                raw_cpu.append(used.get("raw client", 0.0) + used.get("nats-server", 0.0))
                raw.append(result)
                say(f"raw FastStream (pull batch {batch}): {result.msgs_per_s:.0f} msg/s")
    return Report(
        args.checkouts,
        args.concurrency,
        outcome,
        raw,
        setup_seconds,
        startup,
        raw_cpu=raw_cpu,
        sqlite_inline=not args.sqlite_thread,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.checkout",
        description="Concurrent checkouts on the embedded platform vs raw FastStream.",
    )
    parser.add_argument("--checkouts", type=int, default=200, help="measured checkouts")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent shoppers")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured checkouts first")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-checkout deadline (s)")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the stores here")
    parser.add_argument("--log-level", default="WARNING", help="log level of the processes")
    parser.add_argument(
        "--sqlite-thread",
        action="store_true",
        help="run every SQLite call on aiosqlite's worker thread (ACME_SQLITE_INLINE=0), the "
        "runtime's mode before calls that need not wait ran on the event loop",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.checkouts < 1 or args.concurrency < 1 or args.warmup < 0 or args.timeout <= 0:
        parser.error("--checkouts and --concurrency must be ≥ 1, --warmup ≥ 0, --timeout > 0")

    console = Console(stderr=True)

    def say(text: str) -> None:
        console.print(text, highlight=False, markup=False)

    try:
        report = asyncio.run(run(args, say))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the platform did not start, a setup call failed...
        console.print(f"benchmark failed: {type(exc).__name__}: {exc}", markup=False)
        return 1
    figures = report.figures()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        Console().print(_table(figures))
        if figures["first_errors"]:
            say("first errors: " + "; ".join(figures["first_errors"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
