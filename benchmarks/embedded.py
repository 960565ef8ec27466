"""Run the whole platform in-process for end-to-end tests and benchmarks.

`embedded_platform(data_dir)` is what `acme up` does, minus the screen: the supervisor's
`PlatformRunner` starts embedded NATS, the gateway on a free port, the Stripe sandbox and
then every other process of the catalog at once (one stage, started in parallel), and stops
all of them when the block ends, also when it ends with an error.

Children run in their own process groups (so a terminal's Ctrl-C does not reach them); if
this process exits without reaching the cleanup (an interrupted pytest), an atexit hook
kills whatever is left, so no stray system keeps running.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acme.runtime.supervisor import (
    STRIPE_HOST,
    Event,
    PlatformRunner,
    RunOptions,
    child_specs,
    load_platform,
)

__all__ = ["RunningPlatform", "embedded_platform", "read_only"]

# Credentials of the staff account the identity provider seeds for this run.
ADMIN_EMAIL = "admin@acme.example"
ADMIN_PASSWORD = "e2e-admin-password"


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a SQLite store (never creates the file, never writes)."""
    if not path.exists():
        raise FileNotFoundError(f"data store {path} does not exist (has its system started?)")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


@dataclass
class RunningPlatform:
    """What a test or benchmark needs to know about the platform it started."""

    runner: PlatformRunner
    data_dir: Path
    gateway_url: str
    broker_url: str
    admin_email: str = ADMIN_EMAIL
    admin_password: str = ADMIN_PASSWORD
    hosts: list[str] = field(default_factory=list)

    def url_of(self, host: str) -> str:
        """Direct URL of one process (bypassing the gateway), e.g. the Stripe sandbox."""
        status = self.runner.snapshot().get(host)
        if status is None or status.url is None:
            raise LookupError(f"{host} is not running (running: {', '.join(self.hosts)})")
        return status.url

    @property
    def stripe_url(self) -> str:
        return self.url_of(STRIPE_HOST)

    def store_path(self, store: str) -> Path:
        """The SQLite file of a data store (the runtime names it <store>.sqlite3)."""
        return self.data_dir / f"{store}.sqlite3"

    def store(self, store: str) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A read-only connection to one data store."""
        return read_only(self.store_path(store))

    def restarts(self) -> dict[str, int]:
        return {name: s.restarts for name, s in self.runner.snapshot().items() if s.restarts}


def _child_env(data_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    # Nothing from the caller's ACME_* settings leaks in: the run must be embedded and
    # self-contained (an exported ACME_BROKER_URL would otherwise send it to another broker).
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")}
    env.update(
        {
            "ACME_DATA_DIR": str(data_dir),
            "ACME_ADMIN_EMAIL": ADMIN_EMAIL,
            "ACME_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ACME_SHUTDOWN_TIMEOUT": "5",
            "ACME_LOG_LEVEL": "INFO",
        }
    )
    env.update(extra)
    return env


def _kill_leftovers(runner: PlatformRunner) -> None:
    for status in runner.snapshot().values():
        if status.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(status.pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def embedded_platform(
    data_dir: Path,
    *,
    only: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 120.0,
    on_event: Callable[[Event], None] | None = None,
) -> AsyncIterator[RunningPlatform]:
    """Start the platform (or the `only` subset plus what it depends on); stop it on exit."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    platform = load_platform().select(only)
    runner = PlatformRunner(
        RunOptions(data_dir=data_dir, port=0, ready_timeout=ready_timeout, stop_timeout=10.0),
        platform,
        child_specs(platform),
        on_event=on_event,
        base_env=_child_env(data_dir, env or {}),
    )
    killer = functools.partial(_kill_leftovers, runner)
    atexit.register(killer)
    try:
        await runner.start()  # raises (after stopping what started) if anything fails
        assert runner.gateway_url is not None and runner.broker_url is not None
        yield RunningPlatform(
            runner,
            data_dir,
            runner.gateway_url,
            runner.broker_url,
            hosts=list(runner.snapshot()),
        )
    finally:
        await runner.stop()
        atexit.unregister(killer)
