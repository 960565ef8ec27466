"""The invariants every fault scenario asserts, read from the platform's own records.

Sources, all read-only: every system's store (SQLite files under the data dir, or the run's
databases on a PostgreSQL server: `benchmarks.embedded.Stores`), the Stripe sandbox's
`/_sandbox/state`, and the broker's own count of what waits for each consumer
(`tests.faults.backlog`). Nothing here asks a system over HTTP, so a system that lies about
its state in its API cannot hide anything.

The checks (names as in the report table):

- `outcome`   every accepted checkout is COMPLETED with exactly one order, or FAILED with no
              order left standing (a late order must have been cancelled);
- `capture`   no PaymentIntent captured twice, no payment charged on two intents, a failed
              checkout's money refunded, a completed one's charged exactly once;
- `stock`     per product: restocked = the initial count, available + reserved + sold =
              restocked, nothing left reserved, sold = units of the orders standing, and so
              available = initial - sold;
- `outbox`    every outbox row of every store published (none waiting longer than a grace);
- `broker`    no consumer with a message undelivered or unacknowledged on the broker;
- `sagas`     no checkout saga left in a non-terminal state (any checkout, not only ours);
- `dlq`       no dead letter since the scenario began other than the ones it expects.

`lost` counts accepted checkouts without an outcome, outbox rows never published, broker
messages never acknowledged and units missing from `sold`; `duplicated` counts orders beyond
one per checkout, captures beyond one per payment, and units sold beyond the orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.embedded import StoreReader, Stores
from tests.faults.backlog import backlog

__all__ = [
    "CHECK_NAMES",
    "Check",
    "Expectations",
    "Source",
    "Verdict",
    "evaluate",
    "hex_id",
    "rows",
    "settle",
]

CHECK_NAMES = ("outcome", "capture", "stock", "outbox", "broker", "sagas", "dlq")
TERMINAL = {"COMPLETED", "FAILED"}
# An outbox row unpublished for longer than this is counted as lost (the relay polls each
# second and publishes right after each commit).
OUTBOX_GRACE = timedelta(seconds=5)
MAX_DETAILS = 6


def hex_id(value: uuid.UUID | str) -> str:
    """Stores keep UUIDs as 32 hex digits or with dashes; compare them in this form."""
    return uuid.UUID(str(value)).hex


def _norm(column: str) -> str:
    # as text without dashes: 32 hex digits (SQLite), dashed text, or a native uuid (PostgreSQL)
    return f"lower(replace(CAST({column} AS TEXT), '-', ''))"


@dataclass
class Expectations:
    """What one scenario did, so the checks know what to look at."""

    checkouts: set[str] = field(default_factory=set)  # accepted over HTTP (hex ids)
    carts: set[str] = field(default_factory=set)  # every cart it tried to check out (hex ids)
    products: dict[str, int] = field(default_factory=dict)  # hex id -> initial stock
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # (service, message id) of dead letters the scenario causes on purpose
    dead_letters: set[tuple[str, str]] = field(default_factory=set)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Verdict:
    checks: dict[str, Check]
    lost: int
    duplicated: int
    outcomes: Counter[str]  # e.g. {"COMPLETED": 12, "FAILED:OUT_OF_STOCK": 3}
    accepted: int

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values()) and self.lost == 0 and self.duplicated == 0

    def failures(self) -> list[Check]:
        return [c for c in self.checks.values() if not c.ok]

    def explain(self) -> str:
        lines = [f"lost={self.lost} duplicated={self.duplicated}"]
        lines += [f"{c.name}: {c.detail}" for c in self.failures()]
        return "\n".join(lines)


class _Problems:
    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(text)

    def check(self, ok_detail: str = "") -> Check:
        if not self.items:
            return Check(self.name, True, ok_detail)
        shown = "; ".join(self.items[:MAX_DETAILS])
        more = len(self.items) - MAX_DETAILS
        return Check(self.name, False, shown + (f"; ... {more} more" if more > 0 else ""))


def rows(conn: StoreReader, sql: str, *params: object) -> list[dict[str, Any]]:
    """Rows of a read-only query on a store, whatever database holds it; `?` marks params."""
    parts = sql.split("?")
    if len(parts) - 1 != len(params):
        raise ValueError(f"{len(parts) - 1} placeholders but {len(params)} parameters in {sql}")
    named = parts[0] + "".join(f":p{i}{part}" for i, part in enumerate(parts[1:]))
    return conn.rows(named, **{f"p{i}": value for i, value in enumerate(params)})


_rows = rows


def _in(ids: Iterable[str]) -> tuple[str, list[str]]:
    values = sorted(ids)
    return ",".join("?" * len(values)) or "NULL", values


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


Source = Stores | Path  # a Path: SQLite files in that data dir


@contextlib.contextmanager
def _stores(source: Source) -> Iterator[Stores]:
    if isinstance(source, Stores):
        yield source
        return
    stores = Stores(source, None)
    try:
        yield stores
    finally:
        stores.close()


def read_only(stores: Stores, store: str) -> contextlib.AbstractContextManager[StoreReader]:
    @contextlib.contextmanager
    def reading() -> Iterator[StoreReader]:
        yield stores.reader(store)

    return reading()


# -- the checks ------------------------------------------------------------------------------


@dataclass
class _Money:
    captured: int = 0
    refunded: int = 0
    intents_captured: int = 0


def _accepted(stores: Stores, expect: Expectations) -> set[str]:
    """Checkouts accepted over HTTP, plus those a cart committed while its answer was lost
    (the cart names its checkout): the shopper would find those too."""
    accepted = set(expect.checkouts)
    if expect.carts:
        marks, values = _in(expect.carts)
        with read_only(stores, "cart-database") as conn:
            for row in _rows(
                conn,
                f"SELECT checkout_id FROM carts WHERE {_norm('cart_id')} IN ({marks}) "
                "AND checkout_id IS NOT NULL",
                *values,
            ):
                accepted.add(hex_id(row["checkout_id"]))
    return accepted


def _outcomes(
    stores: Stores, accepted: set[str], stripe: Mapping[str, Any]
) -> tuple[Check, Check, int, int, Counter[str], dict[str, int]]:
    """outcome and capture checks; (lost, duplicated, outcomes, units sold per product)."""
    outcome = _Problems("outcome")
    capture = _Problems("capture")
    lost = duplicated = 0
    tally: Counter[str] = Counter()
    marks, values = _in(accepted)
    with read_only(stores, "checkout-database") as conn:
        checkouts = {
            hex_id(r["checkout_id"]): r
            for r in _rows(
                conn,
                "SELECT checkout_id, order_id, status, failure_reason, total_cents "
                f"FROM checkouts WHERE {_norm('checkout_id')} IN ({marks})",
                *values,
            )
        }
    orders: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with read_only(stores, "order-database") as conn:
        for r in _rows(
            conn,
            "SELECT order_id, checkout_id, status, total_cents FROM orders "
            f"WHERE {_norm('checkout_id')} IN ({marks})",
            *values,
        ):
            orders[hex_id(r["checkout_id"])].append(r)
        standing_ids = [
            hex_id(o["order_id"])
            for os_ in orders.values()
            for o in os_
            if o["status"] != "CANCELLED"
        ]
        o_marks, o_values = _in(standing_ids)
        items = _rows(
            conn,
            "SELECT product_id, quantity FROM order_items "
            f"WHERE {_norm('order_id')} IN ({o_marks})",
            *o_values,
        )
    sold: dict[str, int] = defaultdict(int)
    for item in items:
        sold[hex_id(item["product_id"])] += int(item["quantity"])

    money: dict[str, _Money] = defaultdict(_Money)  # by order id (intent metadata)
    by_payment: Counter[str] = Counter()
    for intent in stripe.get("payment_intents", []):
        counts = stripe.get("counts", {}).get(intent["id"], {})
        metadata = intent.get("metadata") or {}
        captures = int(counts.get("captures", 0))
        if captures > 1:
            capture.add(f"intent {intent['id']} captured {captures} times")
            duplicated += captures - 1
        order_id = metadata.get("order_id")
        if order_id:
            m = money[hex_id(order_id)]
            m.captured += int(counts.get("amount_captured", 0))
            m.refunded += int(counts.get("amount_refunded", 0))
            m.intents_captured += 1 if captures else 0
        if captures and metadata.get("payment_id"):
            by_payment[metadata["payment_id"]] += 1
    for payment_id, n in by_payment.items():
        if n > 1:
            capture.add(f"payment {payment_id} charged on {n} intents")
            duplicated += n - 1

    for checkout_id in sorted(accepted):
        row = checkouts.get(checkout_id)
        if row is None:
            outcome.add(f"checkout {checkout_id} accepted but never opened")
            lost += 1
            tally["MISSING"] += 1
            continue
        status = row["status"]
        tally[status if status != "FAILED" else f"FAILED:{row['failure_reason']}"] += 1
        mine = orders.get(checkout_id, [])
        standing = [o for o in mine if o["status"] != "CANCELLED"]
        m = money.get(hex_id(row["order_id"]), _Money())
        net = m.captured - m.refunded
        if status not in TERMINAL:
            outcome.add(f"checkout {checkout_id} still {status}")
            lost += 1
        elif status == "COMPLETED":
            if len(mine) != 1:
                outcome.add(f"completed checkout {checkout_id} has {len(mine)} orders")
                if len(mine) == 0:
                    lost += 1
                duplicated += max(0, len(mine) - 1)
            if standing and net != int(row["total_cents"]):
                capture.add(
                    f"completed checkout {checkout_id}: {net} captured net, "
                    f"total {row['total_cents']}"
                )
        else:  # FAILED
            if standing:
                outcome.add(
                    f"failed checkout {checkout_id} has {len(standing)} order(s) still standing"
                )
                duplicated += len(standing)
            if net != 0:
                capture.add(f"failed checkout {checkout_id}: {net} captured and not refunded")
        if m.intents_captured > 1:
            capture.add(f"order of checkout {checkout_id} captured on {m.intents_captured} intents")
    return outcome.check(), capture.check(), lost, duplicated, tally, sold


def _stock(
    stores: Stores, expect: Expectations, sold_by_orders: Mapping[str, int]
) -> tuple[Check, int, int]:
    problems = _Problems("stock")
    lost = duplicated = 0
    if not expect.products:
        return problems.check("no product"), 0, 0
    marks, values = _in(expect.products)
    with read_only(stores, "inventory-database") as conn:
        rows = {
            hex_id(r["product_id"]): r
            for r in _rows(
                conn,
                "SELECT product_id, available, reserved, sold, restocked FROM stock "
                f"WHERE {_norm('product_id')} IN ({marks})",
                *values,
            )
        }
    for product, initial in sorted(expect.products.items()):
        r = rows.get(product)
        if r is None:
            problems.add(f"product {product} has no stock row")
            continue
        available, reserved, sold, restocked = (
            int(r["available"]),
            int(r["reserved"]),
            int(r["sold"]),
            int(r["restocked"]),
        )
        expected_sold = sold_by_orders.get(product, 0)
        where = f"product {product[:8]}"
        if restocked != initial:
            problems.add(f"{where}: restocked {restocked}, initial {initial}")
        if available + reserved + sold != restocked:
            problems.add(f"{where}: {available}+{reserved}+{sold} != restocked {restocked}")
        if reserved:
            problems.add(f"{where}: {reserved} unit(s) still reserved")
        if sold != expected_sold:
            problems.add(f"{where}: sold {sold}, the standing orders hold {expected_sold}")
            if sold > expected_sold:
                duplicated += sold - expected_sold
            else:
                lost += expected_sold - sold
        if available != initial - sold:
            problems.add(f"{where}: available {available} != {initial} - {sold}")
    return problems.check(f"{len(expect.products)} product(s)"), lost, duplicated


def _outbox(stores: Stores, now: datetime) -> tuple[Check, int]:
    problems = _Problems("outbox")
    lost = 0
    rows_seen = 0
    for store in stores.names():
        with read_only(stores, store) as conn:
            if "message_outbox" not in conn.tables():
                continue
            rows_seen += int(conn.scalar("SELECT count(*) AS n FROM message_outbox"))
            waiting = _rows(
                conn,
                "SELECT message_id, message_type, created_at FROM message_outbox "
                "WHERE published_at IS NULL",
            )
        old = [
            w
            for w in waiting
            if (created := _parse_time(w["created_at"])) is None or now - created > OUTBOX_GRACE
        ]
        if old:
            lost += len(old)
            kinds = Counter(w["message_type"] for w in old)
            problems.add(f"{store}: {len(old)} unpublished ({dict(kinds)})")
    return problems.check(f"{rows_seen} rows"), lost


async def _broker(url: str, consumers: Sequence[tuple[str, str]] | None) -> tuple[Check, int]:
    problems = _Problems("broker")
    lost = 0
    seen, waiting = await backlog(url, consumers)
    for w in waiting:
        lost += w.total
        problems.add(f"{w.consumer}: {w.undelivered} undelivered, {w.unacked} unacked")
    return problems.check(f"{seen} consumers"), lost


def _sagas(stores: Stores) -> Check:
    problems = _Problems("sagas")
    with read_only(stores, "checkout-database") as conn:
        for r in _rows(
            conn,
            "SELECT status, count(*) AS n FROM checkouts "
            "WHERE status NOT IN ('COMPLETED', 'FAILED') GROUP BY status",
        ):
            problems.add(f"{r['n']} checkout(s) {r['status']}")
    return problems.check()


def _dead_letters(stores: Stores, expect: Expectations) -> Check:
    problems = _Problems("dlq")
    found: set[tuple[str, str]] = set()
    if stores.exists("runtime"):
        with read_only(stores, "runtime") as conn:
            letters = _rows(
                conn,
                "SELECT service, message_id, message_type, reason, error, dead_at "
                "FROM dead_letters",
            )
        for letter in letters:
            dead_at = _parse_time(letter["dead_at"])
            key = (letter["service"], letter["message_id"])
            if key in expect.dead_letters:
                found.add(key)
                continue
            if dead_at is not None and dead_at >= expect.started_at:
                first = (letter["error"] or "").splitlines()[:1]
                problems.add(
                    f"unexpected: {letter['service']} {letter['message_type']} "
                    f"({letter['reason']}): {first[0] if first else ''}"
                )
    for service, message_id in sorted(expect.dead_letters - found):
        problems.add(f"missing: {service} never dead-lettered {message_id}")
    return problems.check(f"{len(found)} expected")


async def evaluate(
    source: Source,
    broker_url: str,
    stripe: Mapping[str, Any],
    expect: Expectations,
    *,
    consumers: Sequence[tuple[str, str]] | None = None,
) -> Verdict:
    """One look at every invariant. `source`: the run's stores (or a data dir of SQLite
    files); `consumers`: the (subject, group) pairs to look at on the broker (None: every
    consumer, on a private NATS)."""
    now = datetime.now(UTC)
    with _stores(source) as stores:
        accepted = _accepted(stores, expect)
        outcome, capture, lost, duplicated, tally, sold = _outcomes(stores, accepted, stripe)
        stock, stock_lost, stock_dup = _stock(stores, expect, sold)
        outbox, outbox_lost = _outbox(stores, now)
        broker, broker_lost = await _broker(broker_url, consumers)
        checks = [
            outcome,
            capture,
            stock,
            outbox,
            broker,
            _sagas(stores),
            _dead_letters(stores, expect),
        ]
    return Verdict(
        checks={c.name: c for c in checks},
        lost=lost + stock_lost + outbox_lost + broker_lost,
        duplicated=duplicated + stock_dup,
        outcomes=tally,
        accepted=len(accepted),
    )


async def settle(
    source: Source,
    broker_url: str,
    stripe_state: Any,
    expect: Expectations,
    *,
    consumers: Sequence[tuple[str, str]] | None = None,
    timeout: float = 120.0,
    interval: float = 1.0,
) -> Verdict:
    """Look until every invariant holds or `timeout` passes; the last look is the verdict.

    The platform is eventually consistent, so a look during the settle time may catch a
    message in flight; after the settle time, what is still wrong is wrong.
    """
    deadline = time.monotonic() + timeout
    while True:
        verdict = await evaluate(
            source, broker_url, await stripe_state(), expect, consumers=consumers
        )
        if verdict.ok or time.monotonic() >= deadline:
            return verdict
        await asyncio.sleep(interval)


def describe_outcomes(tally: Counter[str]) -> str:
    return ", ".join(f"{n} {k.lower()}" for k, n in sorted(tally.items()))


def finished(source: Source, checkout_ids: Iterable[str]) -> int:
    """How many of these checkouts are COMPLETED or FAILED right now."""
    marks, values = _in(checkout_ids)
    with _stores(source) as stores, read_only(stores, "checkout-database") as conn:
        found = _rows(
            conn,
            "SELECT count(*) AS n FROM checkouts WHERE status IN ('COMPLETED', 'FAILED') "
            f"AND {_norm('checkout_id')} IN ({marks})",
            *values,
        )
    return int(found[0]["n"])
