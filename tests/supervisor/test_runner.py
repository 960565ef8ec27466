"""`acme up` as a whole: broker, gateway before real (fake) child processes, state file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import httpx
import pytest

from acme.runtime.gateway import RouteSpec
from acme.runtime.supervisor import (
    STATE_FILE,
    Backoff,
    Event,
    HostPlan,
    Platform,
    PlatformError,
    PlatformRunner,
    RunOptions,
    read_state,
    start_embedded_nats,
)

from .helpers import alive, eventually, fake

PLATFORM = Platform(
    hosts=(HostPlan("stripe"), HostPlan("alpha", ("alpha-api",))),
    routes=(
        RouteSpec("GET", "/things/{thingId}", "alpha", "alpha-api"),
        RouteSpec("POST", "/webhooks/stripe", "alpha", "alpha-api"),
    ),
)
BROKER = "nats://acme:s3cret@127.0.0.1:4999"


def specs(tmp_path: Path) -> list:
    return [
        fake("stripe", "serve", tmp_path, stage=0, export="ACME_STRIPE_API_BASE"),
        fake("alpha", "serve", tmp_path),
    ]


def env_of(tmp_path: Path, name: str) -> dict[str, str]:
    lines = (tmp_path / f"{name}.runs").read_text().splitlines()
    return json.loads(lines[-1])["env"]


async def test_runner_serves_platform_through_gateway_and_writes_state(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runner = PlatformRunner(
        RunOptions(data_dir=data, broker_url=BROKER, port=0),
        PLATFORM,
        specs(tmp_path),
        base_env={"PATH": os.environ.get("PATH", ""), "ACME_JWT_SECRET": "x"},
    )
    await runner.start()
    try:
        gateway = runner.gateway_url
        assert gateway and gateway.startswith("http://127.0.0.1:")
        state = json.loads((data / STATE_FILE).read_text())
        assert state["version"] == 1 and state["pid"] == os.getpid()
        assert state["gateway"] == gateway
        assert state["broker"] == "nats://acme:***@127.0.0.1:4999"  # no password on disk
        assert state["broker_embedded"] is False
        assert set(state["processes"]) == {"stripe", "alpha"}
        alpha = state["processes"]["alpha"]
        assert alpha["state"] == "ready" and alpha["pid"] > 0 and alpha["restarts"] == 0
        assert alpha["url"].startswith("http://127.0.0.1:")
        assert alpha["log"] == str(data.resolve() / "logs" / "alpha.log")

        env = env_of(tmp_path, "alpha")
        assert env["ACME_BROKER_URL"] == BROKER
        assert env["ACME_DATA_DIR"] == str(data.resolve())
        assert env["ACME_GATEWAY_URL"] == gateway
        assert env["ACME_STRIPE_WEBHOOK_URL"] == gateway + "/webhooks/stripe"
        assert env["ACME_STRIPE_API_BASE"] == state["processes"]["stripe"]["url"]
        assert env["ACME_JWT_SECRET"] == "x"
        assert env["PYTHONUNBUFFERED"] == "1"

        async with httpx.AsyncClient(base_url=gateway) as client:
            resp = await client.get("/things/t1?x=1", headers={"authorization": "Bearer abc"})
            assert resp.status_code == 200
            echoed = resp.json()
            assert echoed["system"] == "alpha" and echoed["path"] == "/things/t1?x=1"
            assert echoed["headers"]["authorization"] == "Bearer abc"
            assert echoed["headers"]["x-forwarded-for"] == "127.0.0.1"
            assert echoed["headers"]["x-correlation-id"] == resp.headers["x-correlation-id"]
            hook = await client.post("/webhooks/stripe", content=b'{"id": "evt_1"}')
            assert hook.json()["body"] == '{"id": "evt_1"}'
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert health.json()["systems"]["alpha"]["state"] == "ready"
            missing = await client.get("/nothing")
            assert missing.status_code == 404
        pids = [p["pid"] for p in state["processes"].values()]
    finally:
        await runner.stop()
    assert not (data / STATE_FILE).exists()
    assert not any(alive(pid) for pid in pids)


async def test_embedded_broker_is_started_and_stopped(tmp_path: Path) -> None:
    calls: list[str] = []

    async def broker(data_dir: Path, binary: Path | None) -> tuple[str, object]:
        calls.append(f"start {data_dir.name}")

        async def stop() -> None:
            calls.append("stop")

        return "nats://127.0.0.1:5111", stop

    runner = PlatformRunner(
        RunOptions(data_dir=tmp_path / "d", port=0),
        Platform((HostPlan("alpha"),), ()),
        [fake("alpha", "serve", tmp_path)],
        start_broker=broker,  # type: ignore[arg-type]
    )
    await runner.start()
    assert calls == ["start d"]
    assert env_of(tmp_path, "alpha")["ACME_BROKER_URL"] == "nats://127.0.0.1:5111"
    assert read_state(tmp_path / "d")["broker_embedded"] is True  # type: ignore[index]
    await runner.stop()
    assert calls == ["start d", "stop"]


async def test_start_failure_tears_everything_down(tmp_path: Path) -> None:
    events: list[Event] = []
    runner = PlatformRunner(
        RunOptions(data_dir=tmp_path / "d", broker_url=BROKER, port=0),
        Platform((HostPlan("alpha"), HostPlan("beta")), ()),
        [fake("alpha", "serve", tmp_path, stage=0), fake("beta", "die-early", tmp_path)],
        on_event=events.append,
    )
    with pytest.raises(PlatformError, match="beta exited with code 2"):
        await runner.start()
    assert not (tmp_path / "d" / STATE_FILE).exists()
    alpha_pid = json.loads((tmp_path / "alpha.runs").read_text())["pid"]
    assert not alive(alpha_pid)
    # the gateway's port is free again
    assert runner._server is None


async def test_second_platform_on_same_data_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(
        json.dumps({"version": 1, "pid": os.getppid(), "gateway": "http://127.0.0.1:8080"})
    )
    runner = PlatformRunner(RunOptions(data_dir=tmp_path, broker_url=BROKER, port=0), PLATFORM, [])
    with pytest.raises(PlatformError, match="already runs .* gateway http://127.0.0.1:8080"):
        await runner.start()


async def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        runner = PlatformRunner(
            RunOptions(data_dir=tmp_path, broker_url=BROKER, port=port), PLATFORM, []
        )
        with pytest.raises(PlatformError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            await runner.start()


async def test_sigterm_stops_the_platform(tmp_path: Path) -> None:
    runner = PlatformRunner(
        RunOptions(
            data_dir=tmp_path / "d", broker_url=BROKER, port=0, backoff=Backoff(initial=0.1)
        ),
        Platform((HostPlan("alpha"),), ()),
        [fake("alpha", "serve", tmp_path)],
    )
    task = asyncio.create_task(runner.run())
    await eventually(lambda: runner.snapshot().get("alpha") is not None)
    await eventually(lambda: runner.snapshot()["alpha"].state == "ready")
    pid = runner.snapshot()["alpha"].pid
    assert pid is not None
    os.kill(os.getpid(), signal.SIGTERM)  # handled by runner.run, not by pytest
    await asyncio.wait_for(task, 10)
    assert not alive(pid)
    assert runner.snapshot()["alpha"].state == "stopped"
    assert not (tmp_path / "d" / STATE_FILE).exists()


async def test_real_embedded_nats_adapter(tmp_path: Path) -> None:
    from acme.runtime.settings import EMBEDDED_URL_FILE

    url, stop = await start_embedded_nats(tmp_path)
    try:
        assert url.startswith("nats://127.0.0.1:") and not url.endswith(":4222")
        assert (tmp_path / EMBEDDED_URL_FILE).read_text().strip() == url
    finally:
        await stop()
    assert not (tmp_path / EMBEDDED_URL_FILE).exists()


async def test_real_stripe_sandbox_command_reports_ready(tmp_path: Path) -> None:
    # The contract with acme.simulators.stripe: our command line, its ACME-READY line.
    pytest.importorskip("acme.simulators.stripe.app")
    from acme.runtime.supervisor import Supervisor, child_specs

    (spec,) = child_specs(Platform((HostPlan("stripe"),), ()))
    env = {**os.environ, "ACME_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    sup = Supervisor([spec], env=env, ready_timeout=30)
    await sup.start()
    try:
        url = sup.snapshot()["stripe"].url
        assert url and url.startswith("http://127.0.0.1:")
        assert sup.exports["ACME_STRIPE_API_BASE"] == url
    finally:
        await sup.stop()
    assert sup.snapshot()["stripe"].state == "stopped"
