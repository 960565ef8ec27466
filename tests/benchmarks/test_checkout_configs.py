"""The side-by-side checkout benchmark's helpers: configuration names, availability, the
outcome watcher's bookkeeping and the table. Nothing here starts a platform or times anything."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from rich.console import Console

from benchmarks.checkout import ConfigResult, Report, side_by_side
from benchmarks.configs import (
    Configuration,
    configuration,
    endpoint,
    known_names,
    parse_configs,
    unavailable,
)
from benchmarks.outcomes import OutcomeWatcher, terminal_subjects
from benchmarks.raw_faststream import RawResult, _payload, raw_shapes


def test_names_follow_the_conformance_script() -> None:
    assert known_names() == [
        "embedded",
        "nats-sqlite",
        "nats-pg",
        "rabbit-sqlite",
        "rabbit-pg",
        "redis-sqlite",
        "redis-pg",
        "kafka-sqlite",
        "kafka-pg",
    ]


def test_embedded_needs_no_server() -> None:
    config = configuration("embedded", env={})
    assert (config.broker_url, config.database_url) == (None, None)
    assert not config.external_broker
    assert unavailable(config) is None


def test_external_configurations_take_urls_from_the_environment() -> None:
    env = {
        "PG_URL": "postgresql+asyncpg://bench@db.example:6543/x_{store}",
        "KAFKA_URL": "kafka://k.example:19092",
    }
    rabbit = configuration("rabbit-pg", env=env)
    assert rabbit.broker_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert rabbit.database_url == env["PG_URL"]
    assert rabbit.database == "PostgreSQL"
    kafka = configuration("kafka-sqlite", env=env)
    assert kafka.broker_url == "kafka://k.example:19092"
    assert kafka.database_url is None
    assert kafka.broker_kind == "kafka"
    own_keyspace = configuration("redis-sqlite", env={"REDIS_URL": "redis://127.0.0.1:6379/13"})
    assert own_keyspace.broker_url == "redis://127.0.0.1:6379/13"
    assert configuration("nats-pg", env={}).broker_url == "nats://127.0.0.1:4222"


def test_parse_keeps_order_and_drops_repeats() -> None:
    names = [c.name for c in parse_configs(" redis-pg,embedded , redis-pg,", env={})]
    assert names == ["redis-pg", "embedded"]


@pytest.mark.parametrize("text", ["", " , ", "nats", "nats-mysql", "zeromq-pg"])
def test_bad_names_are_named_with_the_known_ones(text: str) -> None:
    with pytest.raises(ValueError, match="known: embedded, nats-sqlite"):
        parse_configs(text, env={})


def test_pg_url_without_store_is_refused() -> None:
    with pytest.raises(ValueError, match="PG_URL must contain"):
        configuration("nats-pg", env={"PG_URL": "postgresql+asyncpg://postgres@h/acme"})


def test_endpoint_defaults_the_port_per_scheme() -> None:
    assert endpoint("redis://127.0.0.1") == ("127.0.0.1", 6379)
    assert endpoint("amqp://guest:guest@rabbit.example/") == ("rabbit.example", 5672)
    assert endpoint("postgresql+asyncpg://postgres@h/acme_{store}") == ("h", 5432)
    assert endpoint("kafka://127.0.0.1:19092") == ("127.0.0.1", 19092)


def test_a_server_that_does_not_answer_makes_the_configuration_unavailable() -> None:
    with socket.socket() as s:  # a port nobody listens on: bound here, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        config = Configuration(
            "nats-sqlite", "NATS JetStream", "SQLite files", f"nats://127.0.0.1:{port}", None
        )
        reason = unavailable(config)
    assert reason == f"nothing answers on 127.0.0.1:{port}"


def test_raw_shapes_start_with_the_runtime_shape() -> None:
    assert raw_shapes("nats") == [(8, 1), (8, 16)]
    assert raw_shapes("redis", workers=4) == [(4, 1), (4, 16)]
    assert raw_shapes("rabbit") == [(1, 1)]
    assert len(_payload(400)) == 400
    json.loads(_payload(10))


async def test_watcher_takes_the_first_sighting_of_a_terminal_message() -> None:
    watcher = OutcomeWatcher()
    subjects = terminal_subjects()
    completed = next(s for s, m in subjects.items() if m == "checkout-completed")
    watcher._subjects = subjects
    waiting = asyncio.create_task(watcher.wait("c-1", timeout=5.0))
    await asyncio.sleep(0)
    body = json.dumps({"checkoutId": "c-1"}).encode()
    watcher.observe(completed, {}, body)  # the subject tells the type when no header does
    first = await waiting
    assert first is not None and first[1] == "COMPLETED"
    watcher.observe(completed, {"message-type": b"checkout-failed"}, body)  # a redelivery
    assert watcher.seen["c-1"] == first
    watcher.observe(completed, {"message-type": "checkout-failed"}, b"not json")
    watcher.observe("elsewhere", {"message-type": "order-confirmed"}, b'{"checkoutId": "c-2"}')
    assert set(watcher.seen) == {"c-1"}
    assert await watcher.wait("c-3", timeout=0.01) is None


def _figures(config: Configuration) -> dict[str, object]:
    from benchmarks.checkout import Outcome, Sample

    samples = [Sample("a", "t", 0.0, 0.5, "COMPLETED", "COMPLETED")]
    outcome = Outcome(samples, seconds=1.0)
    outcome.published["checkout-requested"] = 10
    outcome.payload_bytes = 3000
    raw = [RawResult(1000, 300, 20, 8, 1, 1.0, 0.5, kind="redis", shape="group")]
    report = Report(1, 1, outcome, raw, 1.0, 1.0, raw_cpu=[0.2], config=config)
    return report.figures()


def test_side_by_side_has_a_column_per_configuration() -> None:
    external = configuration("redis-pg", env={})
    figures = _figures(external)
    assert figures["configuration"] == "redis-pg"
    assert figures["ratio"] == 0.01  # 1 checkout/s x 10 messages / 1000 msg/s
    assert "broker server excluded" in str(figures["cpu_counted"])
    assert "PostgreSQL server excluded" in str(figures["cpu_counted"])
    results = [
        ConfigResult(
            configuration("embedded", env={}),
            "measured",
            figures=_figures(configuration("embedded", env={})),
        ),
        ConfigResult(external, "measured", figures=figures),
        ConfigResult(configuration("kafka-pg", env={}), "unavailable", "nothing answers"),
    ]
    console = Console(width=200, record=True)
    console.print(side_by_side(results, "t"))
    text = console.export_text()
    header = next(line for line in text.splitlines() if "figure" in line)
    assert header.split() == ["figure", "embedded", "redis-pg", "kafka-pg"]
    status = next(line for line in text.splitlines() if line.strip().startswith("status"))
    assert status.split() == ["status", "measured", "measured", "unavailable"]
    ratio = next(line for line in text.splitlines() if line.strip().startswith("ratio"))
    assert ratio.split()[-3:] == ["0.010", "0.010", "-"]
    assert results[2].as_dict() == {
        "configuration": "kafka-pg",
        "broker": "Kafka-compatible",
        "database": "PostgreSQL",
        "status": "unavailable",
        "reason": "nothing answers",
    }


def test_the_raw_baseline_is_the_median_run_and_never_the_flattering_middle() -> None:
    from benchmarks.checkout import _median_run
    from benchmarks.raw_faststream import RawResult

    def run(seconds: float) -> tuple[RawResult, float]:
        return RawResult(1000, 300, 20, 8, 1, seconds, seconds / 2), seconds / 10

    odd = [run(2.0), run(1.0), run(4.0)]  # 500, 1000, 250 msg/s
    assert _median_run(odd)[0].msgs_per_s == 500
    assert _median_run(odd)[1] == 0.2  # the CPU seconds of that same run
    even = [run(2.0), run(1.0), run(4.0), run(2.5)]  # 500, 1000, 250, 400 msg/s
    assert _median_run(even)[0].msgs_per_s == 500  # the faster of the middle two (400, 500)


def test_the_report_says_whether_the_baseline_ran_on_a_quiet_platform() -> None:
    from benchmarks.checkout import _table

    figures = _figures(configuration("embedded", env={}))
    assert figures["baseline_quiet_after_s"] is None  # the tail was still running
    console = Console(width=200, record=True)
    console.print(_table(figures))
    assert "no: still busy after 30 s" in console.export_text()
    figures["baseline_quiet_after_s"] = 8.04
    console = Console(width=200, record=True)
    console.print(_table(figures))
    assert "after 8.0 s" in console.export_text()
