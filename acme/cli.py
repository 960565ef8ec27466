"""The `acme` command: run the platform, see its state, handle dead letters.

    acme up [--only cart-system,checkout-system] [--port 8080]
    acme status [--json]
    acme dlq list [--service S] [--include-replayed] [--limit N] [--json]
    acme dlq replay ID... | --all [--service S]
    acme conformance [--in-process] [--only HOST,...] [--json]
    acme demo checkout [--url http://127.0.0.1:8080] [--payment-method pm_card_visa]
    acme demo fulfilment | cancel | search | review [--url ...]   (one per catalog flow)

`main(argv, stdout=..., stderr=...) -> int` is the entry point, so tests need no subprocess.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from acme.runtime.gateway import SystemStatus
from acme.runtime.supervisor import (
    STATE_FILE,
    Event,
    PlatformError,
    PlatformRunner,
    RunOptions,
    child_specs,
    load_platform,
    read_state,
)

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="acme",
    help="Run Acme's reference platform: every system, one gateway, one command.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dlq_app = typer.Typer(help="Dead letters: messages a handler gave up on.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
demo_app = typer.Typer(
    help="Drive a running platform through a journey and show the result.", no_args_is_help=True
)
app.add_typer(demo_app, name="demo")


class _Io:
    """Consoles for the current invocation (swapped by `main` for tests)."""

    out = Console()
    err = Console(stderr=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    _Io.err.print(Text(f"error: {message}", style="bold red"), soft_wrap=True)
    return typer.Exit(code)


def _settings() -> Any:
    from acme.runtime.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"ACME_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise _fail(f"invalid configuration: {problems}") from None


STATE_STYLES = {
    "ready": "green",
    "starting": "yellow",
    "backoff": "red",
    "stopping": "yellow",
    "stopped": "dim",
    "failed": "bold red",
}


def _uptime(since: float | None, now: float | None = None) -> str:
    if not since:
        return "-"
    seconds = max(0, int((now or time.time()) - since))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _process_table(rows: Mapping[str, SystemStatus], title: str = "") -> Table:
    # Compact enough for 80 columns with the catalog's longest system id.
    table = Table(
        title=title or None,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("system", no_wrap=True)
    table.add_column("pid", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("url", no_wrap=True, min_width=len("http://127.0.0.1:65535"))
    table.add_column("restarts", justify="right", no_wrap=True)
    table.add_column("uptime", no_wrap=True)
    for name, s in rows.items():
        table.add_row(
            name,
            str(s.pid or "-"),
            Text(s.state, style=STATE_STYLES.get(s.state, "")),
            s.url or "-",
            str(s.restarts),
            _uptime(s.since),
        )
    return table


# ---------------------------------------------------------------------------------------------
# acme up


NOTABLE = {"exited", "failed", "killed", "warning"}


class _LiveDisplay:
    """A live table on a terminal; crashes, restarts and warnings scroll above it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.runner: PlatformRunner | None = None
        self.live: Live | None = None

    def render(self) -> Group | Text:
        runner = self.runner
        if runner is None:
            return Text("starting…")
        head = Text.assemble(
            ("gateway ", "bold"),
            runner.gateway_url or "…",
            ("   broker ", "bold"),
            ("embedded NATS " if runner.broker_embedded else "") + (runner.broker_url or "…"),
        )
        foot = Text("Ctrl-C stops everything (twice: without waiting)", style="dim")
        return Group(head, _process_table(runner.snapshot()), foot)

    def event(self, event: Event) -> None:
        if event.kind in NOTABLE or event.name in ("broker", "gateway"):
            stamp = datetime.fromtimestamp(event.at).strftime("%H:%M:%S")
            style = "red" if event.kind in NOTABLE else ""
            line = Text(f"{stamp} {event.name}: {event.message}", style=style)
            self.console.print(line, soft_wrap=True)

    def started(self) -> None:
        pass

    def __enter__(self) -> _LiveDisplay:
        self.live = Live(
            get_renderable=self.render, console=self.console, refresh_per_second=2, transient=False
        )
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)


class _PlainDisplay:
    """One log line per event, for pipes, CI and log files."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.runner: PlatformRunner | None = None

    def event(self, event: Event) -> None:
        stamp = datetime.fromtimestamp(event.at).strftime("%H:%M:%S")
        self.console.print(
            f"{stamp} {event.name}: {event.message}", highlight=False, markup=False, soft_wrap=True
        )

    def started(self) -> None:
        runner = self.runner
        assert runner is not None
        ready = sum(1 for s in runner.snapshot().values() if s.state == "ready")
        self.console.print(
            f"platform ready: {ready} process(es) behind {runner.gateway_url} "
            f"(docs: {runner.gateway_url}/docs); Ctrl-C or SIGTERM stops it",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )

    def __enter__(self) -> _PlainDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@app.command()
def up(
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Run only these systems (comma-separated or repeated); ids as in the catalog.",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Gateway port (default ACME_PORT or 8080; 0 = any free port).", min=0),
    ] = None,
    host: Annotated[str, typer.Option(help="Gateway interface.")] = "127.0.0.1",
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds each process has to report ready.", min=1)
    ] = 60.0,
    plain: Annotated[
        bool, typer.Option("--plain", help="Log lines instead of the live table.")
    ] = False,
) -> None:
    """Start the broker, every system, the simulators and the gateway; Ctrl-C stops all."""
    settings = _settings()
    names = [n for item in only or [] for n in item.split(",") if n.strip()]
    try:
        platform = load_platform(settings.catalog_module).select(names)
        options = RunOptions(
            data_dir=Path(settings.data_dir),
            broker_url=settings.broker_url,
            host=host,
            port=settings.port if port is None else port,
            ready_timeout=ready_timeout,
            # Children get their own shutdown_timeout to drain; we wait a little longer.
            stop_timeout=float(settings.shutdown_timeout) + 5.0,
            nats_binary=settings.nats_server_bin,
        )
        live = _Io.out.is_terminal and not plain
        display: _LiveDisplay | _PlainDisplay = (
            _LiveDisplay(_Io.out) if live else _PlainDisplay(_Io.out)
        )
        runner = PlatformRunner(options, platform, child_specs(platform), on_event=display.event)
        display.runner = runner
        with display:
            asyncio.run(runner.run(on_started=display.started))
    except (PlatformError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


# ---------------------------------------------------------------------------------------------
# acme status


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw state file.")] = False,
) -> None:
    """Show what `acme up` runs (from the state file in the data dir)."""
    settings = _settings()
    data_dir = Path(settings.data_dir).resolve()
    try:
        state = read_state(data_dir)
    except PlatformError as exc:
        raise _fail(str(exc)) from None
    if state is None:
        raise _fail(f"the platform is not running (no state file in {data_dir})")
    if as_json:
        _Io.out.print_json(json.dumps(state))
        raise typer.Exit(0 if state["running"] else 1)
    if not state["running"]:
        raise _fail(
            f"the platform is not running: supervisor pid {state.get('pid')} is gone "
            f"(stale state file {data_dir / STATE_FILE}, last updated {state.get('updated_at')})"
        )
    rows = {
        name: SystemStatus(
            name,
            str(p.get("state", "?")),
            p.get("url"),
            p.get("pid"),
            int(p.get("restarts") or 0),
            _parse_iso(p.get("since")),
        )
        for name, p in (state.get("processes") or {}).items()
    }
    _Io.out.print(
        Text.assemble(
            ("gateway ", "bold"),
            str(state.get("gateway")),
            ("   broker ", "bold"),
            ("embedded NATS " if state.get("broker_embedded") else "") + str(state.get("broker")),
            ("   supervisor pid ", "bold"),
            str(state.get("pid")),
        )
    )
    _Io.out.print(_process_table(rows))
    not_ready = [n for n, r in rows.items() if r.state != "ready"]
    if not_ready:
        _Io.out.print(Text(f"not ready: {', '.join(not_ready)}", style="yellow"))


def _parse_iso(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# acme dlq


def _deadletter() -> Any:
    try:
        from acme.runtime import deadletter
    except ImportError as exc:
        raise _fail(f"dead-letter support is not available: {exc}") from None
    return deadletter


def _run_dlq(call: Any) -> Any:
    """Run one dead-letter coroutine; configuration and lookup errors become clear messages."""
    try:
        return asyncio.run(call)
    except LookupError as exc:  # unknown ids
        raise _fail(str(exc).strip("'\"")) from None
    except (ValueError, OSError) as exc:  # ConfigurationError (no broker), unreachable store
        raise _fail(f"{type(exc).__name__}: {exc}") from None


def _as_dict(item: Any) -> dict[str, Any]:
    if hasattr(item, "as_dict"):
        return dict(item.as_dict())
    if isinstance(item, Mapping):
        return dict(item)
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return {k: v for k, v in vars(item).items() if not k.startswith("_")}


# The table shows what identifies and explains a letter; --json shows payload and headers too.
TABLE_COLUMNS = (
    "id",
    "service",
    "message_type",
    "reason",
    "attempts",
    "error",
    "dead_at",
    "replayed_at",
)


def _cell(value: Any, width: int = 80) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


ServiceOption = Annotated[
    str | None, typer.Option("--service", help="Only dead letters of this service id.")
]


@dlq_app.command("list")
def dlq_list(
    service: ServiceOption = None,
    include_replayed: Annotated[
        bool, typer.Option("--include-replayed", help="Also letters already replayed.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array, every field.")] = False,
) -> None:
    """List dead letters (read from the runtime store; the broker need not run)."""
    settings = _settings()
    module = _deadletter()
    found = _run_dlq(
        module.list_dead_letters(
            settings, service=service, include_replayed=include_replayed, limit=limit
        )
    )
    letters = [_as_dict(x) for x in found]
    if as_json:
        _Io.out.print_json(json.dumps(letters, default=str))
        return
    if not letters:
        _Io.out.print("no dead letters")
        return
    table = Table(title=f"{len(letters)} dead letter(s)", title_justify="left")
    columns = [c for c in TABLE_COLUMNS if any(c in row for row in letters)]
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in letters:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    _Io.out.print(table)


@dlq_app.command("replay")
def dlq_replay(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Dead-letter ids (or message ids) to replay.")
    ] = None,
    replay_all: Annotated[
        bool, typer.Option("--all", help="Replay every letter not replayed yet.")
    ] = False,
    service: ServiceOption = None,
) -> None:
    """Send dead letters back to their service (it receives them on replay.<service>)."""
    if bool(ids) == replay_all:
        raise _fail("give dead-letter ids, or --all (not both)", code=2)
    settings = _settings()
    module = _deadletter()
    replayed = _run_dlq(module.replay_dead_letters(settings, ids=tuple(ids or ()), service=service))
    _Io.out.print(f"replayed {len(replayed)} dead letter(s)")
    for letter in replayed:
        row = _as_dict(letter)
        _Io.out.print(
            f"  {row.get('id')}  {row.get('service')}  {row.get('message_type')}",
            highlight=False,
            markup=False,
        )


# ---------------------------------------------------------------------------------------------
# acme demo
#
# Each command drives one flow of the catalog through the gateway, the way the storefront and
# the back office would, and prints what a shopper or merchant sees over HTTP. Nothing reads a
# data store: what is not visible over HTTP is named in the output instead.


def _gateway_url(url: str | None) -> str:
    """--url, else the gateway of the `acme up` running from this data dir."""
    if url:
        return url
    settings = _settings()
    data_dir = Path(settings.data_dir).resolve()
    try:
        state = read_state(data_dir)
    except PlatformError as exc:
        raise _fail(str(exc)) from None
    if state is None or not state["running"] or not state.get("gateway"):
        raise _fail(
            f"no running platform found in {data_dir}: start it with `acme up` "
            "(same ACME_DATA_DIR), or pass --url"
        )
    return str(state["gateway"])


def _money(cents: int | None, currency: str | None) -> str:
    if cents is None:
        return "-"
    return f"{cents / 100:,.2f} {currency or ''}".strip()


def _say(text: str) -> None:
    _Io.out.print(text, highlight=False, markup=False, soft_wrap=True)


UrlOption = Annotated[
    str | None,
    typer.Option(help="Gateway URL (default: the running `acme up` of ACME_DATA_DIR)."),
]
TimeoutOption = Annotated[
    float, typer.Option(help="Seconds to wait for each asynchronous step.", min=1)
]


def _run_demo(call: Any) -> Any:
    """Run one demo coroutine; API and client errors become one clear line (exit 1)."""
    from acme.client import ApiError, ClientError

    try:
        return asyncio.run(call)
    except ApiError as exc:
        hint = ""
        if exc.status in (502, 503, 504):
            hint = " (is every system ready? see `acme status`)"
        raise _fail(f"{exc}{hint}") from None
    except ClientError as exc:
        raise _fail(str(exc)) from None


async def _poll(
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
) -> T:
    """Read until `done` holds; `what` names the awaited state in the timeout error."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise _fail(f"{what} did not happen within {timeout:g}s (see `acme status`)")
        await asyncio.sleep(interval)


def _demo_address() -> Any:
    from acme.client import DeliveryAddress

    return DeliveryAddress(
        recipient_name="Demo Shopper",
        line1="1 Example Street",
        city="Springfield",
        postal_code="12345",
        country_code="US",
    )


async def _admin(acme: Any) -> Any:
    return acme.as_user(await acme.sign_in_admin(wait=5.0))


async def _shopper(acme: Any, tag: str, name: str = "Demo") -> tuple[Any, Any]:
    """A new shopper (and their client) with a unique e-mail address."""
    shopper = await acme.register_shopper(f"demo-{tag}@example.com", f"demo-{tag}-pw", name)
    _say(f"registered shopper {shopper.customer_id} ({shopper.email})")
    return shopper, acme.as_user(shopper.token)


@dataclasses.dataclass
class _Checkout:
    product: Any
    stock: int
    shopper: Any
    me: Any  # the shopper's client
    checkout: Any
    order: Any  # None when the checkout failed


async def _checkout_journey(
    acme: Any,
    *,
    payment_method: str,
    quantity: int,
    price: int,
    timeout: float,
) -> _Checkout:
    """Seed a product and stock, register a shopper, check out one cart."""
    tag = uuid.uuid4().hex[:8]
    admin = await _admin(acme)
    product = await admin.create_product(
        sku=f"DEMO-{tag.upper()}",
        name=f"Demo mug {tag}",
        price=price,
        description="Seeded by `acme demo`.",
        category="demo",
    )
    if product.product_id is None:
        raise _fail("POST /products answered without a productId")
    _say(f"seeded product {product.product_id} ({product.sku})")
    stock = quantity * 10
    await admin.set_stock(product.product_id, stock)
    shopper, me = await _shopper(acme, tag)
    cart = await me.create_cart(shopper.customer_id)
    # The cart prices lines from product events: the product may take a moment to arrive.
    await me.add_item(cart.cart_id, product.product_id, quantity, wait=10.0)
    checked_out = await me.checkout(
        cart.cart_id,
        shopper.customer_id,
        payment_method=payment_method,
        delivery_address=_demo_address(),
    )
    if checked_out.checkout_id is None:
        raise _fail(f"POST /carts/{cart.cart_id}/checkout answered without a checkoutId")
    _say(f"checkout {checked_out.checkout_id} started")
    checkout = await me.wait_for_checkout(checked_out.checkout_id, timeout=timeout)
    order = await me.get_order(checkout.order_id) if checkout.status == "COMPLETED" else None
    return _Checkout(product, stock, shopper, me, checkout, order)


def _checkout_failed(journey: _Checkout) -> typer.Exit:
    checkout = journey.checkout
    return _fail(
        f"checkout {checkout.checkout_id} FAILED: {checkout.failure_reason}"
        + (f" ({checkout.failure_detail})" if checkout.failure_detail else "")
    )


PaymentMethodOption = Annotated[
    str,
    typer.Option(help="Stripe test payment method, e.g. pm_card_chargeDeclined."),
]


def _check_payment_method(payment_method: str) -> None:
    if not re.fullmatch(r"pm_[A-Za-z0-9_]+", payment_method):
        raise _fail(
            f"--payment-method {payment_method!r} is not a Stripe payment method id "
            "(pm_..., e.g. pm_card_visa or pm_card_chargeDeclined)",
            code=2,
        )


@demo_app.command("checkout")
def demo_checkout(
    url: UrlOption = None,
    payment_method: PaymentMethodOption = "pm_card_visa",
    quantity: Annotated[int, typer.Option(help="Units to buy.", min=1, max=100)] = 2,
    price: Annotated[int, typer.Option(help="Unit price in cents.", min=1)] = 1250,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the checkout to finish.", min=1)
    ] = 60.0,
) -> None:
    """place-an-order / checkout-saga: seed a product, check out a cart, show the order."""
    from acme.client import AcmeClient

    _check_payment_method(payment_method)
    base = _gateway_url(url)
    _say(f"platform at {base}")

    async def run() -> _Checkout:
        async with AcmeClient(base) as acme:
            return await _checkout_journey(
                acme,
                payment_method=payment_method,
                quantity=quantity,
                price=price,
                timeout=timeout,
            )

    journey: _Checkout = _run_demo(run())
    if journey.order is None:
        raise _checkout_failed(journey)
    _Io.out.print(_order_table(journey.order, journey.checkout, journey.product))


def _order_table(order: Any, checkout: Any, product: Any, title: str = "Order confirmed") -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    rows = [
        ("order", str(order.order_id)),
        ("confirmation", order.confirmation_number or "-"),
        ("status", order.status or "-"),
        ("customer", str(order.customer_id)),
        ("checkout", f"{checkout.checkout_id} ({checkout.status})"),
        ("total", _money(order.total, order.currency)),
        ("created", order.created_at.isoformat() if order.created_at else "-"),
    ]
    if order.hold_reason:
        rows.append(("hold reason", str(order.hold_reason)))
    if order.cancellation_reason:
        rows.append(("cancelled for", str(order.cancellation_reason)))
    if order.delivery_address is not None:
        a = order.delivery_address
        rows.append(("deliver to", f"{a.line1}, {a.postal_code} {a.city}, {a.country_code}"))
    for name, value in rows:
        table.add_row(name, value)
    for item in order.items or []:
        name = product.name if item.product_id == product.product_id else str(item.product_id)
        table.add_row(
            "line",
            f"{item.quantity} × {name} ({item.sku or '-'}) at "
            f"{_money(item.unit_price, order.currency)}",
        )
    return table


# -- demo fulfilment --------------------------------------------------------------------------

FULFILMENT_END = {"COMPLETED", "ON_HOLD", "CANCELLED"}


@demo_app.command("fulfilment")
def demo_fulfilment(url: UrlOption = None, timeout: TimeoutOption = 120.0) -> None:
    """fulfilment-to-delivery: one order followed until delivered (COMPLETED) or held."""
    from acme.client import AcmeClient

    base = _gateway_url(url)
    _say(f"platform at {base}")

    async def run() -> tuple[_Checkout, Any]:
        async with AcmeClient(base) as acme:
            journey = await _checkout_journey(
                acme, payment_method="pm_card_visa", quantity=1, price=1250, timeout=timeout
            )
            if journey.order is None:
                return journey, None
            order_id = journey.order.order_id
            _say(f"order {order_id} {journey.order.status}; following it (picking, carrier)…")
            started = time.monotonic()
            last: list[str] = [str(journey.order.status)]

            async def read() -> Any:
                order = await journey.me.get_order(order_id)
                if order.status != last[-1]:
                    last.append(str(order.status))
                    _say(f"  +{time.monotonic() - started:5.1f}s  {order.status}")
                return order

            final = await _poll(
                read,
                lambda o: o.status in FULFILMENT_END,
                timeout=timeout,
                what=f"delivery of order {order_id}",
            )
            return journey, final

    journey, final = _run_demo(run())
    if final is None:
        raise _checkout_failed(journey)
    title = {
        "COMPLETED": "Order delivered",
        "ON_HOLD": "Delivery failed: order on hold",
    }.get(str(final.status), f"Order {final.status}")
    _Io.out.print(_order_table(final, journey.checkout, journey.product, title))
    if final.status == "ON_HOLD":
        _say(
            "The carrier simulator reported shipment-failed (its share of failures is "
            "ACME_CARRIER_FAILURE_RATE); staff release the hold with "
            "POST /orders/{orderId}/release-hold."
        )


# -- demo cancel ------------------------------------------------------------------------------


@demo_app.command("cancel")
def demo_cancel(url: UrlOption = None, timeout: TimeoutOption = 60.0) -> None:
    """order-cancellation: one order cancelled by its shopper; the stock comes back."""
    from acme.client import AcmeClient, ApiError

    base = _gateway_url(url)
    _say(f"platform at {base}")

    async def run() -> tuple[_Checkout, Any, Any]:
        async with AcmeClient(base) as acme:
            journey = await _checkout_journey(
                acme, payment_method="pm_card_visa", quantity=2, price=1250, timeout=timeout
            )
            if journey.order is None:
                return journey, None, None
            admin = await _admin(acme)
            held = await admin.get_stock(journey.product.product_id)
            _say(f"stock after the order: {held.available} available, {held.reserved} reserved")
            try:
                cancelled = await journey.me.cancel_order(journey.order.order_id)
            except ApiError as exc:
                if exc.status == 409:
                    raise _fail(
                        f"too late to cancel: {exc.detail} (an order can be cancelled until "
                        "the warehouse has packed it)"
                    ) from None
                raise
            _say(f"order {cancelled.order_id} {cancelled.status}")
            level = await _poll(
                lambda: admin.get_stock(journey.product.product_id),
                lambda s: s.available == journey.stock,
                timeout=timeout,
                what="the return of the stock",
            )
            return journey, cancelled, level

    journey, cancelled, level = _run_demo(run())
    if cancelled is None:
        raise _checkout_failed(journey)
    _Io.out.print(_order_table(cancelled, journey.checkout, journey.product, "Order cancelled"))
    _say(
        f"stock returned: {level.available} available, {level.reserved} reserved "
        f"(as before the order); the payment is refunded through Stripe "
        "(refund-requested, then refund-processed recorded in the order's history)"
    )


# -- demo search ------------------------------------------------------------------------------


def _search_table(title: str, page: Any) -> Table:
    _say(title)  # a line of its own: a table title would be wrapped to the table's width
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("rank", "product", "name", "price", "score"):
        table.add_column(column, no_wrap=column != "name")
    for rank, hit in enumerate(page.results or [], start=1):
        table.add_row(
            str(rank),
            str(hit.product_id),
            hit.name or "-",
            _money(hit.price, hit.currency),
            f"{hit.score:.2f}" if hit.score is not None else "-",
        )
    if not page.results:
        table.add_row("-", "(no results)", "", "", "")
    return table


@demo_app.command("search")
def demo_search(url: UrlOption = None, timeout: TimeoutOption = 30.0) -> None:
    """product-search-indexing: products created, updated, deleted; search follows."""
    from acme.client import AcmeClient

    base = _gateway_url(url)
    _say(f"platform at {base}")
    word = f"demo{uuid.uuid4().hex[:8]}"

    def ids(page: Any) -> list[Any]:
        return [hit.product_id for hit in page.results or []]

    async def run() -> None:
        async with AcmeClient(base) as acme:
            admin = await _admin(acme)
            lamp = await admin.create_product(
                sku=f"LAMP-{word.upper()}",
                name=f"{word} desk lamp",
                description="Brass lamp with a linen shade.",
                price=4500,
                category="demo",
            )
            shade = await admin.create_product(
                sku=f"SHADE-{word.upper()}",
                name="Linen lamp shade",
                description=f"Spare shade for the {word} desk lamp.",
                price=1500,
                category="demo",
            )
            _say(f"created {lamp.product_id} and {shade.product_id}; searching for '{word}'")
            search = functools.partial(acme.search, word)
            both = [lamp.product_id, shade.product_id]
            page = await _poll(
                search, lambda p: ids(p) == both, timeout=timeout, what="indexing of both"
            )
            _Io.out.print(
                _search_table(f"1. created: '{word}' in the lamp's name ranks it first", page)
            )

            await admin.update_product(
                lamp.product_id, name="Brass desk lamp", description=f"The {word} lamp."
            )
            await admin.update_product(shade.product_id, name=f"{word} linen shade", price=1200)
            flipped = [shade.product_id, lamp.product_id]
            page = await _poll(
                search, lambda p: ids(p) == flipped, timeout=timeout, what="re-indexing"
            )
            _Io.out.print(_search_table("2. updated: the word moved to the shade's name", page))

            await admin.delete_product(lamp.product_id, reason="DISCONTINUED")
            page = await _poll(
                search,
                lambda p: ids(p) == [shade.product_id],
                timeout=timeout,
                what="removal from the index",
            )
            _Io.out.print(_search_table("3. deleted: the lamp is gone from search", page))

    _run_demo(run())


# -- demo review ------------------------------------------------------------------------------

DEFAULT_REVIEW = "Keeps my tea hot for hours and the lid never leaks."


@demo_app.command("review")
def demo_review(
    url: UrlOption = None,
    rating: Annotated[int, typer.Option(help="Stars, 1 to 5.", min=1, max=5)] = 4,
    body: Annotated[
        str, typer.Option(help="Review text (a link or SHOUTING gets it rejected as spam).")
    ] = DEFAULT_REVIEW,
    flags: Annotated[
        int, typer.Option(help="Shoppers who then flag it (3 take it down).", min=0, max=5)
    ] = 3,
    timeout: TimeoutOption = 20.0,
) -> None:
    """review-submission: a review moderated, rated, then taken down by flags."""
    from acme.client import AcmeClient

    if not body.strip():
        raise _fail("--body must contain text", code=2)
    base = _gateway_url(url)
    _say(f"platform at {base}")
    tag = uuid.uuid4().hex[:8]
    word = f"demo{tag}"

    async def run() -> None:
        async with AcmeClient(base) as acme:
            admin = await _admin(acme)
            product = await admin.create_product(
                sku=f"MUG-{word.upper()}", name=f"{word} travel mug", price=1900, category="demo"
            )
            _say(f"seeded product {product.product_id} ({product.name})")
            author, me = await _shopper(acme, tag, "Reviewer")
            accepted = await me.submit_review(
                product.product_id, author.customer_id, rating=rating, body=body
            )
            _say(f"review {accepted.review_id} submitted ({rating} stars); waiting for moderation")

            def shown(page: Any) -> bool:
                return accepted.review_id in [r.review_id for r in page.reviews]

            reviews = functools.partial(acme.product_reviews, product.product_id)
            deadline = time.monotonic() + timeout
            page = await reviews()
            while not shown(page) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                page = await reviews()
            if not shown(page):
                raise _fail(
                    f"review {accepted.review_id} was not published within {timeout:g}s: "
                    "moderation rejected it (a link, mostly capitals, a blocklisted word or "
                    "under 10 characters) and it is never shown, or it is still pending"
                )
            # the average comes from the rating cache, a hop behind the review being shown
            page = await _poll(
                reviews,
                lambda p: bool(p.review_count),
                timeout=timeout,
                what="the rating of the published review",
            )
            _Io.out.print(_reviews_table("Published", page))
            hit = await _poll(
                lambda: _search_hit(acme, word),
                lambda h: h is not None and bool(h.review_count),
                timeout=timeout,
                what="the rating reaching search",
            )
            _say(f"search '{word}': average {hit.average_rating} from {hit.review_count} review(s)")
            if not flags:
                return
            for n in range(1, flags + 1):
                flagger, client = await _shopper(acme, f"{tag}-f{n}", "Flagger")
                flagged = await client.flag_review(
                    accepted.review_id, str(flagger.customer_id), "inappropriate"
                )
                _say(f"flag {flagged.flag_count} by {flagger.customer_id}")
            if flags < 3:
                _say("fewer than 3 flags: the review stays published")
                return
            page = await _poll(
                reviews,
                lambda p: not shown(p) and not p.review_count,  # the rating cache follows
                timeout=timeout,
                what="the takedown",
            )
            _Io.out.print(_reviews_table("Taken down after 3 flags (re-moderated, rejected)", page))
            hit = await _poll(
                lambda: _search_hit(acme, word),
                lambda h: h is not None and not h.review_count,
                timeout=timeout,
                what="the rating update in search",
            )
            _say(f"search '{word}': no rating any more (0 reviews counted)")

    _run_demo(run())


async def _search_hit(acme: Any, word: str) -> Any:
    page = await acme.search(word)
    return page.results[0] if page.results else None


def _reviews_table(title: str, page: Any) -> Table:
    counted = page.review_count or 0
    average = f"{page.average_rating:.2f}" if counted and page.average_rating is not None else "-"
    _say(f"{title}: average {average} from {counted} review(s)")
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("review", "stars", "helpful", "text"):
        table.add_column(column, no_wrap=column != "text")
    for review in page.reviews:
        table.add_row(
            str(review.review_id), str(review.rating), str(review.helpful_count), review.body
        )
    if not page.reviews:
        table.add_row("(none shown)", "", "", "")
    return table


# ---------------------------------------------------------------------------------------------
# acme conformance

CHECK_STYLES = {"ok": "green", "differs": "bold red", "error": "bold red", "skipped": "dim"}


@app.command()
def conformance(
    in_process: Annotated[
        bool,
        typer.Option(
            "--in-process",
            help="Start each implemented host here, one after the other, instead of checking "
            "a running `acme up` (embedded NATS unless ACME_BROKER_URL is set).",
        ),
    ] = False,
    catalog: Annotated[
        Path, typer.Option(help="The catalog folder the code must agree with.")
    ] = Path("catalog"),
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Only these hosts (comma-separated or repeated)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON report per host.")] = False,
) -> None:
    """Check the running code against the catalog: FastStream's AsyncAPI and introspection."""
    from acme.runtime import conformance as checks

    settings = _settings()
    names = [n.strip() for item in only or [] for n in item.split(",") if n.strip()]
    try:
        if in_process:
            reports = asyncio.run(checks.check_platform_in_process(catalog, settings, names))
        else:
            data_dir = Path(settings.data_dir).resolve()
            state = read_state(data_dir)
            if state is None or not state["running"]:
                raise _fail(
                    f"the platform is not running (no live state file in {data_dir}); "
                    "start `acme up`, or use --in-process"
                )
            reports = asyncio.run(checks.check_platform_running(catalog, state, names))
    except (ValueError, PlatformError) as exc:
        raise _fail(str(exc)) from None
    failed = [r for r in reports if not r.ok]
    if as_json:
        _Io.out.print_json(json.dumps([r.as_dict() for r in reports]))
        raise typer.Exit(1 if failed else 0)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for column in ("host", "asyncapi", "introspection", "note"):
        table.add_column(column, no_wrap=column != "note")
    for report in reports:
        cells = [
            Text(s, style=CHECK_STYLES[s])
            for s in (report.status("asyncapi"), report.status("introspection"))
        ]
        note = report.error or "; ".join(f"{k}: {v}" for k, v in report.skipped.items())
        table.add_row(report.host, *cells, _cell(note, 100))
    _Io.out.print(table)
    for report in failed:
        for difference in report.differences:
            _Io.out.print(f"  {difference}", highlight=False, markup=False, soft_wrap=True)
        if report.error:
            _Io.out.print(f"  {report.host}: {report.error}", highlight=False, markup=False)
    checked = sum(1 for r in reports if "all" not in r.skipped)
    _Io.out.print(f"{checked} host(s) checked, {len(failed)} disagree with the catalog")
    raise typer.Exit(1 if failed else 0)


# ---------------------------------------------------------------------------------------------


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the CLI and return its exit code (console script `acme`)."""
    saved = (_Io.out, _Io.err)
    if stdout is not None:
        _Io.out = Console(file=stdout, width=160)
    if stderr is not None:
        _Io.err = Console(file=stderr, width=160)
    try:
        # Standalone mode lets typer print usage errors its usual way; it ends in SystemExit.
        app(args=list(sys.argv[1:] if argv is None else argv), prog_name="acme")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        _Io.err.print(str(exc.code), soft_wrap=True)
        return 1
    finally:
        _Io.out, _Io.err = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
