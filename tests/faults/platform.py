"""The platform the fault suite breaks: the e2e runner's platform plus the levers it pulls.

`fault_platform(data_dir)` starts what `benchmarks.embedded.embedded_platform` starts (the
supervisor's `PlatformRunner`: embedded NATS, gateway, Stripe sandbox, every system as its
own process), with two differences the scenarios need:

- the broker is started through `RestartableNats`, which can stop nats-server and start it
  again on the same port and JetStream store directory while the systems keep running;
- the systems get shorter timeouts (ack wait, saga step deadline, relay back-off), so that
  what a fault leaves behind is redelivered, timed out or retried within a scenario's settle
  time instead of minutes later. The values are listed in `FAULT_ENV`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from acme.runtime.embedded_nats import EmbeddedNats
from acme.runtime.settings import EMBEDDED_URL_FILE
from acme.runtime.supervisor import (
    STRIPE_HOST,
    Backoff,
    PlatformRunner,
    RunOptions,
    child_specs,
    load_platform,
)
from benchmarks.embedded import ADMIN_EMAIL, ADMIN_PASSWORD, RunningPlatform

__all__ = ["FAULT_ENV", "FaultPlatform", "RestartableNats", "fault_platform"]

# Every value is a setting documented by its system; these make recovery fast, not different.
FAULT_ENV: Mapping[str, str] = {
    # A message whose consumer died unacked comes back after this (default 60 s).
    "ACME_ACK_WAIT_SECONDS": "10",
    # A saga step left unanswered fails the checkout after this (default 60 s).
    "ACME_CHECKOUT_STEP_TIMEOUT_SECONDS": "30",
    "ACME_CHECKOUT_SWEEP_INTERVAL_SECONDS": "2",
    # The relay retries a failed publish at most this far apart (default 30 s).
    "ACME_RELAY_RETRY_MAX_DELAY": "3",
    "ACME_SHUTDOWN_TIMEOUT": "5",
    # One shopper places many orders here; the velocity rule would decline them as fraud.
    "ACME_FRAUD_VELOCITY_LIMIT": "100000",
    # Fulfilment is not under test: deliveries succeed, quickly, so the platform goes quiet.
    "ACME_CARRIER_FAILURE_RATE": "0",
    "ACME_CARRIER_CREATED_DELAY": "0.2",
    "ACME_CARRIER_DELIVERY_DELAY": "0.5",
    "ACME_CARRIER_SEED": "7",
    "ACME_LOG_LEVEL": "INFO",
}


class RestartableNats:
    """The embedded NATS, restartable on the port and store directory of its first start."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server: EmbeddedNats | None = None
        self.port: int | None = None
        self.restarts = 0

    def _server(self) -> EmbeddedNats:
        return EmbeddedNats(
            self.data_dir / "nats",
            url_file=self.data_dir / EMBEDDED_URL_FILE,
            port=self.port,
        )

    async def start(
        self, data_dir: Path, binary: Path | None = None
    ) -> tuple[str, Callable[[], Awaitable[None]]]:
        """The runner's `start_broker` hook: (url, stop)."""
        assert data_dir.resolve() == self.data_dir.resolve(), (data_dir, self.data_dir)
        self.server = self._server()
        url = await asyncio.to_thread(self.server.start)
        self.port = int(url.rsplit(":", 1)[1])
        return url, self.stop

    async def stop(self) -> None:
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)

    async def restart(self, downtime: float) -> None:
        """Stop nats-server (SIGTERM, as an operator would), wait, start it on the same port."""
        assert self.server is not None and self.port is not None, "the broker never started"
        await asyncio.to_thread(self.server.stop)
        await asyncio.sleep(downtime)
        self.server = self._server()
        url = await asyncio.to_thread(self.server.start)
        assert url.endswith(f":{self.port}"), f"nats-server came back on {url}, not :{self.port}"
        self.restarts += 1


@dataclass
class FaultPlatform:
    running: RunningPlatform
    broker: RestartableNats

    @property
    def runner(self) -> PlatformRunner:
        return self.running.runner

    @property
    def data_dir(self) -> Path:
        return self.running.data_dir

    @property
    def gateway_url(self) -> str:
        return self.running.gateway_url

    @property
    def broker_url(self) -> str:
        return self.running.broker_url

    @property
    def stripe_url(self) -> str:
        return self.running.stripe_url

    def systems(self) -> list[str]:
        """The hosts that are Acme systems (not the Stripe sandbox)."""
        return [h for h in self.running.hosts if h != STRIPE_HOST]

    def pid_of(self, host: str) -> int | None:
        status = self.runner.snapshot().get(host)
        return None if status is None else status.pid

    def kill9(self, host: str) -> int:
        """SIGKILL the host's process (its whole process group); returns the killed pid."""
        pid = self.pid_of(host)
        if pid is None:
            raise LookupError(f"{host} has no running process to kill")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        return pid

    async def wait_ready(
        self, host: str, *, not_pid: int | None = None, timeout: float = 90.0
    ) -> int:
        """Wait until the supervisor reports `host` ready (with a new pid after a kill)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.runner.snapshot().get(host)
            if (
                status is not None
                and status.state == "ready"
                and status.pid is not None
                and status.pid != not_pid
            ):
                return status.pid
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{host} not ready again within {timeout:g}s (state "
                    f"{status.state if status else 'unknown'}); see {self.data_dir / 'logs'}"
                )
            await asyncio.sleep(0.1)

    async def stripe_faults(self, **config: Any) -> dict[str, Any]:
        """POST /_sandbox/faults (the whole configuration; nothing given = healthy)."""
        async with httpx.AsyncClient(base_url=self.stripe_url, timeout=10.0) as http:
            response = await http.post("/_sandbox/faults", json=config)
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
            return answer

    async def stripe_state(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.stripe_url, timeout=30.0) as http:
            response = await http.get("/_sandbox/state")
            response.raise_for_status()
            state: dict[str, Any] = response.json()
            return state


def _child_env(data_dir: Path) -> dict[str, str]:
    # As benchmarks.embedded: none of the caller's ACME_* settings leak into the run.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")}
    env.update(
        {
            "ACME_DATA_DIR": str(data_dir),
            "ACME_ADMIN_EMAIL": ADMIN_EMAIL,
            "ACME_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **FAULT_ENV,
        }
    )
    return env


def _kill_leftovers(runner: PlatformRunner, broker: RestartableNats) -> None:
    for status in runner.snapshot().values():
        if status.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(status.pid, signal.SIGKILL)
    if broker.server is not None:
        broker.server.stop(timeout=2.0)


@contextlib.asynccontextmanager
async def fault_platform(
    data_dir: Path, *, ready_timeout: float = 180.0
) -> AsyncIterator[FaultPlatform]:
    """Start the whole platform with a restartable broker; stop everything on exit."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    platform = load_platform()
    broker = RestartableNats(data_dir)
    runner = PlatformRunner(
        RunOptions(
            data_dir=data_dir,
            port=0,
            ready_timeout=ready_timeout,
            stop_timeout=10.0,
            # A killed system is back quickly, also when the scenario kills it again soon.
            backoff=Backoff(initial=0.2, factor=1.5, maximum=2.0, reset_after=5.0),
        ),
        platform,
        child_specs(platform),
        start_broker=broker.start,
        base_env=_child_env(data_dir),
    )
    killer = functools.partial(_kill_leftovers, runner, broker)
    atexit.register(killer)
    try:
        await runner.start()
        assert runner.gateway_url is not None and runner.broker_url is not None
        running = RunningPlatform(
            runner, data_dir, runner.gateway_url, runner.broker_url, hosts=list(runner.snapshot())
        )
        yield FaultPlatform(running, broker)
    finally:
        await runner.stop()
        atexit.unregister(killer)
