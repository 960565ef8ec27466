"""The consumer pipeline on the embedded NATS: inbox dedupe, retries, dead letters, poison
messages, replay, and request/reply."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable

import pytest

from acme.runtime import RemoteError, SystemApp
from acme.runtime.consumer import Outcome
from acme.runtime.deadletter import DeadLetter, list_dead_letters, replay_dead_letters
from acme.runtime.settings import Settings
from acme.runtime.transport import Transport

from .helpers import build_app, eventually, listen, raw_publisher, scalar, wait_for, with_broker
from .specs import ORDERS, Ledger, OrderPlaced, QuoteRequest, ShopServicePublisher


@pytest.fixture
def configured(settings: Settings, nats_url: str) -> Settings:
    return with_broker(settings, nats_url)


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
async def app(configured: Settings, ledger: Ledger) -> AsyncIterator[SystemApp]:
    app = build_app(configured, ledger=ledger)
    await app.start()
    yield app
    await app.stop()


@pytest.fixture
async def producer(nats_url: str, configured: Settings) -> AsyncIterator[Transport]:
    transport = await raw_publisher(nats_url, configured)
    yield transport
    await transport.close()


def headers(message_id: str | None = None, **overrides: str) -> dict[str, str]:
    base = {
        "message-id": message_id or str(uuid.uuid4()),
        "message-type": "order-placed",
        "message-version": "1.2.0",
        "correlation-id": "corr-1",
        "content-type": "application/json",
    }
    base.update(overrides)
    return base


def order(order_id: str, amount: int = 10) -> bytes:
    return json.dumps({"orderId": order_id, "amount": amount}).encode()


async def entries(app: SystemApp, order_id: str) -> int:
    return int(
        await scalar(
            app, "ledger-db", "SELECT count(*) FROM entries WHERE order_id = :o", o=order_id
        )
    )


async def test_same_message_id_twice_has_one_effect(
    app: SystemApp, producer: Transport, ledger: Ledger
) -> None:
    message_id = str(uuid.uuid4())
    for _ in range(3):  # e.g. redelivered after a lost ack, or published twice by a relay
        await producer.publish(ORDERS.address, order("o-dup"), headers(message_id))
    await producer.publish(ORDERS.address, order("o-after"), headers())
    await eventually(lambda: entries(app, "o-after"), 1)
    await wait_for(lambda: handled(app) >= 4)

    assert await entries(app, "o-dup") == 1
    assert ledger.calls["o-dup"] == 1
    inbox_rows = await scalar(
        app, "ledger-db", "SELECT count(*) FROM message_inbox WHERE message_id = :m", m=message_id
    )
    assert inbox_rows == 1


async def dead_letters_of(configured: Settings) -> dict[str, DeadLetter]:
    return {d.message_id: d for d in await list_dead_letters(configured, include_replayed=True)}


async def await_dead(configured: Settings, message_id: str) -> DeadLetter:
    found: dict[str, DeadLetter] = {}

    async def probe() -> bool:
        found.update(await dead_letters_of(configured))
        return message_id in found

    await eventually(probe, True)
    return found[message_id]


def handled(app: SystemApp, service: str = "ledger-service") -> int:
    return sum(app.consumers[service].counts.values())


async def test_failing_handler_is_retried_then_dead_lettered(
    app: SystemApp, producer: Transport, ledger: Ledger, configured: Settings, nats_url: str
) -> None:
    watcher, copies = await listen(nats_url, configured, "deadletter.ledger-service", "dlq-probe")
    try:
        message_id = str(uuid.uuid4())
        await producer.publish(ORDERS.address, order("fail-1"), headers(message_id))
        letter = await await_dead(configured, message_id)
        await wait_for(lambda: len(copies) == 1)
    finally:
        await watcher.close()

    assert ledger.calls["fail-1"] == configured.max_attempts == 3
    assert letter.reason == "failed" and letter.attempts == 3
    assert "ledger cannot book fail-1" in letter.error
    assert letter.subject == ORDERS.address and letter.service == "ledger-service"
    assert await entries(app, "fail-1") == 0, "every failed attempt rolled back"
    copy = copies[0]
    assert copy.headers["message-id"] == message_id
    assert copy.headers["dead-letter-reason"] == "failed"
    assert "ledger cannot book" in copy.headers["dead-letter-error"]
    assert copy.body == order("fail-1")


async def test_transient_failures_are_retried_until_success(
    app: SystemApp, producer: Transport, ledger: Ledger, configured: Settings
) -> None:
    await producer.publish(ORDERS.address, order("flaky2-a"), headers())
    await eventually(lambda: entries(app, "flaky2-a"), 1)
    attempt = await scalar(
        app, "ledger-db", "SELECT attempt FROM entries WHERE order_id = 'flaky2-a'"
    )
    assert attempt == 3, "the committed run is the third attempt"
    assert ledger.calls["flaky2-a"] == 3
    assert await dead_letters_of(configured) == {}


async def test_permanent_failure_is_dead_lettered_without_retries(
    app: SystemApp, producer: Transport, ledger: Ledger, configured: Settings
) -> None:
    message_id = str(uuid.uuid4())
    await producer.publish(ORDERS.address, order("perm-1"), headers(message_id))
    letter = await await_dead(configured, message_id)
    assert ledger.calls["perm-1"] == 1
    assert letter.attempts == 1 and "can never be booked" in letter.error


@pytest.mark.parametrize(
    ("body", "overrides", "error"),
    [
        pytest.param(b"{not json", {}, "Invalid JSON", id="bad-json"),
        pytest.param(b'{"orderId": "o-x"}', {}, "amount: Field required", id="missing-field"),
        pytest.param(order("o-x", -1), {}, "amount: Input should be greater", id="constraint"),
        pytest.param(
            order("o-x")[:-1] + b', "extra": 1}', {}, "extra: Extra inputs", id="extra-field"
        ),
        pytest.param(
            order("o-x"),
            {"message-version": "2.0.0"},
            "unknown major version 2",
            id="major-version",
        ),
        pytest.param(
            order("o-x"), {"message-version": "banana"}, "not a semantic version", id="bad-version"
        ),
        pytest.param(order("o-x"), {"message-id": ""}, "missing message-id", id="no-id"),
    ],
)
async def test_poison_goes_to_dead_letter_at_once_and_others_flow(
    app: SystemApp,
    producer: Transport,
    ledger: Ledger,
    configured: Settings,
    body: bytes,
    overrides: dict[str, str],
    error: str,
) -> None:
    message_headers = headers(**overrides)
    await producer.publish(ORDERS.address, body, message_headers)
    await producer.publish(ORDERS.address, order("o-fine"), headers())
    await eventually(lambda: entries(app, "o-fine"), 1)

    async def poison_letters() -> list[DeadLetter]:
        return [d for d in (await dead_letters_of(configured)).values() if d.reason == "invalid"]

    await eventually(lambda: _count(poison_letters()), 1)
    (letter,) = await poison_letters()
    assert error in letter.error
    assert letter.attempts == 0
    assert "o-x" not in ledger.calls, "the handler never saw the poison message"


async def _count(letters: Awaitable[list[DeadLetter]]) -> int:
    return len(await letters)


async def test_missing_type_is_poison_but_foreign_type_is_ignored(
    app: SystemApp, producer: Transport, configured: Settings
) -> None:
    untyped = headers()
    del untyped["message-type"]
    await producer.publish(ORDERS.address, order("o-u"), untyped)
    await producer.publish(ORDERS.address, b"whatever", headers(**{"message-type": "other-event"}))
    await producer.publish(ORDERS.address, order("o-last"), headers())
    await eventually(lambda: entries(app, "o-last"), 1)
    await wait_for(lambda: handled(app) >= 3)

    letters = list((await dead_letters_of(configured)).values())
    assert [d.error for d in letters] == ["missing message-type header"]
    assert app.consumers["ledger-service"].counts[Outcome.IGNORED] == 1


async def test_replay_after_the_fix_processes_the_dead_letter(
    app: SystemApp, producer: Transport, ledger: Ledger, configured: Settings
) -> None:
    message_id = str(uuid.uuid4())
    await producer.publish(ORDERS.address, order("fail-r"), headers(message_id))
    await await_dead(configured, message_id)
    ledger.healthy = True  # the bug is fixed

    replayed = await replay_dead_letters(configured, ids=[message_id], transport=producer)

    assert [d.message_id for d in replayed] == [message_id]
    await eventually(lambda: entries(app, "fail-r"), 1)
    letter = (await dead_letters_of(configured))[message_id]
    assert letter.replayed_at is not None
    assert await list_dead_letters(configured) == [], "replayed letters are not listed by default"
    with pytest.raises(LookupError, match="no dead letter with id nope"):
        await replay_dead_letters(configured, ids=["nope"], transport=producer)


async def test_request_reply_through_the_publisher(app: SystemApp) -> None:
    async with app.transaction("shop-service") as tx:
        quote = await tx.publisher(ShopServicePublisher).get_quote(QuoteRequest(quantity=4))
    assert quote.price == 40

    async with app.transaction("shop-service") as tx:
        with pytest.raises(RemoteError, match="unlucky quantity"):
            await tx.publisher(ShopServicePublisher).get_quote(QuoteRequest(quantity=13))


async def test_concurrent_deliveries_of_one_message_have_one_effect(
    app: SystemApp, ledger: Ledger
) -> None:
    # Three copies arriving at once (at-least-once delivery under load): SQLite's write lock
    # and the inbox primary key leave exactly one effect.
    consumer = app.consumers["ledger-service"]
    message_headers = headers()
    outcomes = await asyncio.gather(
        *(consumer.process(ORDERS.address, order("o-conc"), message_headers) for _ in range(3))
    )
    assert sorted(o.value for o in outcomes) == ["duplicate", "duplicate", "handled"]
    assert await entries(app, "o-conc") == 1


async def test_worker_thread_sqlite_mode_keeps_the_guarantees(configured: Settings) -> None:
    # Every other test runs the default (SQLite calls inline unless they would wait).
    threaded = configured.model_copy(update={"sqlite_inline": False})
    ledger = Ledger()
    app = build_app(threaded, ledger=ledger)
    await app.start()
    try:
        consumer = app.consumers["ledger-service"]
        copies = headers()
        distinct = [(order(f"o-in-{i}"), headers()) for i in range(20)]
        outcomes = await asyncio.gather(
            *(consumer.process(ORDERS.address, order("o-in"), copies) for _ in range(3)),
            *(consumer.process(ORDERS.address, body, h) for body, h in distinct),
            consumer.process(ORDERS.address, order("fail-in"), headers()),
        )
        assert [o.value for o in outcomes].count("handled") == 21
        assert [o.value for o in outcomes].count("duplicate") == 2
        assert outcomes[-1].value == "dead"
        total = await scalar(app, "ledger-db", "SELECT count(*) FROM entries")
        assert total == 21, "failed attempts rolled back, duplicates had no effect"
        async with app.transaction("shop-service") as tx:
            await tx.publisher(ShopServicePublisher).order_placed(
                OrderPlaced(order_id="o-in-relay", amount=1)
            )
        await eventually(lambda: entries(app, "o-in-relay"), 1)
    finally:
        await app.stop()
