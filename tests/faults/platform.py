"""The platform the fault suite breaks: the e2e runner's platform plus the levers it pulls.

`fault_platform(data_dir)` starts what `benchmarks.embedded.embedded_platform` starts (the
supervisor's `PlatformRunner`: embedded NATS, gateway, Stripe sandbox, every system as its
own process), with two differences the scenarios need:

- the broker can go away and come back while the systems keep running (`broker_outage`).
  Embedded, it is started through `RestartableNats`, which stops nats-server and starts it
  again on the same port and JetStream store directory. On a shared broker (`broker_url`),
  which a test must not restart, the systems reach it through a `BrokerCutoff` relay that
  drops every connection and refuses new ones for the downtime, which is what a restart
  looks like to a client;
- the systems get shorter timeouts (ack wait, saga step deadline, relay back-off), so that
  what a fault leaves behind is redelivered, timed out or retried within a scenario's settle
  time instead of minutes later. The values are listed in `FAULT_ENV`.

`database_url` (a template with `{store}`) puts the stores on a database server, in
databases of this run dropped at the end, as `embedded_platform` does.
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
from benchmarks.embedded import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Backends,
    RunningPlatform,
    Stores,
    consumed,
    shared_backends,
)
from tests.faults.cutoff import BrokerCutoff, relayable

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
    broker: RestartableNats | None  # the embedded broker; None on a shared one
    cutoff: BrokerCutoff | None = None  # the relay to a shared broker, when it can be cut
    consumers: list[tuple[str, str]] | None = None  # what to look at on a shared broker

    @property
    def stores(self) -> Stores:
        assert self.running.stores is not None
        return self.running.stores

    @property
    def outage_unsupported(self) -> str | None:
        """Why this platform's broker cannot be taken away, or None when it can."""
        if self.broker is not None or self.cutoff is not None:
            return None
        assert self.running.backends.broker_url is not None
        return relayable(self.running.backends.broker_url) or "no relay to the broker"

    @property
    def outages(self) -> int:
        if self.broker is not None:
            return self.broker.restarts
        return self.cutoff.outages if self.cutoff is not None else 0

    async def broker_outage(self, downtime: float) -> str:
        """Take the broker away for `downtime` seconds; says what was done."""
        if self.broker is not None:
            await self.broker.restart(downtime)
            return f"NATS down {downtime:g}s"
        if self.cutoff is None:
            raise RuntimeError(f"the broker cannot be taken away: {self.outage_unsupported}")
        await self.cutoff.outage(downtime)
        return f"broker cut off {downtime:g}s"

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
        """The broker itself (not the relay the systems use): for the test's own tools."""
        return self.running.backends.broker_url or self.running.broker_url

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


def _child_env(data_dir: Path, backends: Backends) -> dict[str, str]:
    # As benchmarks.embedded: none of the caller's ACME_* settings leak into the run.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")}
    env.update(
        {
            "ACME_DATA_DIR": str(data_dir),
            "ACME_ADMIN_EMAIL": ADMIN_EMAIL,
            "ACME_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **backends.env(),
            **FAULT_ENV,
        }
    )
    return env


def _stop_broker(broker: RestartableNats) -> None:
    if broker.server is not None:
        broker.server.stop(timeout=2.0)


@contextlib.asynccontextmanager
async def fault_platform(
    data_dir: Path,
    *,
    ready_timeout: float = 180.0,
    broker_url: str | None = None,
    database_url: str | None = None,
) -> AsyncIterator[FaultPlatform]:
    """Start the whole platform with a broker that can go away; stop everything on exit."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    backends = Backends.of(broker_url, database_url)
    platform = load_platform()
    broker: RestartableNats | None = None
    cutoff: BrokerCutoff | None = None
    systems_url: str | None = None
    if backends.broker_url is None:
        broker = RestartableNats(data_dir)
    elif relayable(backends.broker_url) is None:
        cutoff = BrokerCutoff(backends.broker_url)
        systems_url = await cutoff.start()
    else:
        systems_url = backends.broker_url
    options = RunOptions(
        data_dir=data_dir,
        broker_url=systems_url,
        port=0,
        ready_timeout=ready_timeout,
        stop_timeout=10.0,
        # A killed system is back quickly, also when the scenario kills it again soon.
        backoff=Backoff(initial=0.2, factor=1.5, maximum=2.0, reset_after=5.0),
    )
    env = _child_env(data_dir, backends)
    specs = child_specs(platform)
    if broker is not None:
        runner = PlatformRunner(options, platform, specs, start_broker=broker.start, base_env=env)
    else:
        runner = PlatformRunner(options, platform, specs, base_env=env)
    stop_broker = functools.partial(_stop_broker, broker) if broker is not None else None
    if stop_broker is not None:
        atexit.register(stop_broker)
    try:
        async with shared_backends(platform, backends, data_dir, runner) as stores:
            await runner.start()
            assert runner.gateway_url is not None and runner.broker_url is not None
            running = RunningPlatform(
                runner,
                data_dir,
                runner.gateway_url,
                runner.broker_url,
                hosts=list(runner.snapshot()),
                stores=stores,
                backends=backends,
            )
            yield FaultPlatform(
                running,
                broker,
                cutoff,
                consumed(platform) if backends.broker_url else None,
            )
    finally:
        if cutoff is not None:
            await cutoff.stop()
        if stop_broker is not None:
            atexit.unregister(stop_broker)
