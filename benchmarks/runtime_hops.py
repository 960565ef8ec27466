"""Runtime hot path in isolation: CPU per message of one SystemApp relaying messages to itself.

    python -m benchmarks.runtime_hops [--chains 20] [--hops 50] [--loop uvloop|asyncio]
                                      [--profile out.pstats]

One process hosts `hop-service`, which receives `hop` on `bench.hops`, writes a row (one
SELECT, one INSERT: a small handler's business work) and publishes the next hop through its
outbox until the chain's count reaches zero. `chains` chains run at once on the embedded
NATS, so the path measured is the platform's: pull -> validate -> BEGIN IMMEDIATE -> inbox
row -> handler -> outbox row -> COMMIT -> ack; relay -> publish -> mark published.

It prints CPU milliseconds per message of this process and of nats-server (from /proc, so a
busy machine changes wall-clock rates but hardly the CPU figures), which is the figure to
compare before and after a change of acme/runtime. `--profile` writes cProfile stats of the
measured window (event loop thread only). `--loop` picks the event loop: by default the one
system processes run on (uvloop when installed, see acme.runtime.process). Benchmarks never
assert.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from acme.runtime import SystemApp, current
from acme.runtime.embedded_nats import EmbeddedNats
from acme.runtime.process import event_loop_factory
from acme.runtime.registry import DatastoreSpec, HostSpec, ServiceBinding
from acme.runtime.settings import Settings
from generator.contracts import (
    ChannelBinding,
    Incoming,
    MessageContext,
    MessageSpec,
    Outbox,
    Outgoing,
    ServiceSpec,
)


class Hop(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    chain_id: str = Field(alias="chainId")
    remaining: int = Field(ge=0)
    note: str = Field(default="", max_length=400)


HOP = MessageSpec("hop", "1.0.0", "event", "Hop", Hop)
HOPS = ChannelBinding("bench.hops", "bench.hops", "nats")
SEND_HOP = Outgoing(HOP, HOPS, "hop")
RECEIVE_HOP = Incoming(HOP, HOPS, "on_hop")
SERVICE = ServiceSpec(
    id="hop-service",
    name="Hop Service",
    version="1.0.0",
    system="hop-system",
    domain="benchmark",
    receives=(RECEIVE_HOP,),
    sends=(SEND_HOP,),
    writes_to=("hop-db",),
    source="benchmarks/runtime_hops.py",
)
DDL = (
    "CREATE TABLE hops (hop_id TEXT PRIMARY KEY, chain_id TEXT NOT NULL, "
    "remaining INTEGER NOT NULL)",
    "CREATE INDEX hops_chain ON hops (chain_id)",
)


class HopServiceHandlers(Protocol):
    async def on_hop(self, message: Hop, context: MessageContext) -> None: ...


class HopServicePublisher:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def hop(self, payload: Hop, *, key: str | None = None) -> str:
        return await self._outbox.put(SEND_HOP, payload, key=key)


class Hopper:
    def __init__(self) -> None:
        self.handled = 0
        self.done: asyncio.Event = asyncio.Event()
        self.expected = 0

    async def on_hop(self, message: Hop, context: MessageContext) -> None:
        tx = current()
        await tx.conn.execute(
            text("SELECT count(*) FROM hops WHERE chain_id = :c"), {"c": message.chain_id}
        )
        await tx.conn.execute(
            text("INSERT INTO hops (hop_id, chain_id, remaining) VALUES (:h, :c, :r)"),
            {"h": context.message_id, "c": message.chain_id, "r": message.remaining},
        )
        if message.remaining > 0:
            await tx.publisher(HopServicePublisher).hop(
                Hop(chain_id=message.chain_id, remaining=message.remaining - 1, note=message.note)
            )
        self.handled += 1
        if self.handled >= self.expected:
            self.done.set()


def host() -> HostSpec:
    return HostSpec(
        id="hop-system",
        services=(ServiceBinding(SERVICE, HopServiceHandlers),),
        containers=("hop-db",),
        datastores={"hop-db": DatastoreSpec("hop-db", DDL)},
    )


def _cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        async with EmbeddedNats(base / "nats") as server:
            settings = Settings(
                _env_file=None,
                data_dir=base / "data",
                broker_url=server.url,
                database_url=None,
                sqlite_inline=not args.sqlite_thread,
            )
            app = SystemApp(host(), settings)
            hopper = Hopper()
            app.handle("hop-service", hopper)
            await app.start()
            try:
                note = "x" * args.note
                total = args.chains * args.hops
                hopper.expected = args.warmup
                await _start_chains(app, args.warmup, 1, note)
                await asyncio.wait_for(hopper.done.wait(), 120)
                await asyncio.sleep(0.5)
                hopper.handled, hopper.expected = 0, total
                hopper.done.clear()
                server_pid = server.pid
                assert server_pid is not None
                cpu0, nats0, wall0 = time.process_time(), _cpu_seconds(server_pid), time.time()
                profiler = cProfile.Profile() if args.profile else None
                if profiler:
                    profiler.enable()
                await _start_chains(app, args.chains, args.hops - 1, note)
                await asyncio.wait_for(hopper.done.wait(), args.timeout)
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                cpu = time.process_time() - cpu0
                nats = _cpu_seconds(server_pid) - nats0
                wall = time.time() - wall0
            finally:
                await app.stop()
    return {
        "messages": total,
        "wall_seconds": round(wall, 2),
        "msgs_per_s": round(total / wall, 1),
        "cpu_ms_per_message_runtime": round(cpu * 1000 / total, 3),
        "cpu_ms_per_message_nats": round(nats * 1000 / total, 3),
        "sqlite_inline": not args.sqlite_thread,
        "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
    }


async def _start_chains(app: SystemApp, chains: int, remaining: int, note: str) -> None:
    async with app.transaction("hop-service") as tx:
        publisher = tx.publisher(HopServicePublisher)
        for _ in range(chains):
            await publisher.hop(Hop(chain_id=str(uuid.uuid4()), remaining=remaining, note=note))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.runtime_hops")
    parser.add_argument("--chains", type=int, default=20, help="chains in flight at once")
    parser.add_argument("--hops", type=int, default=50, help="messages per chain")
    parser.add_argument("--warmup", type=int, default=40, help="one-hop chains first")
    parser.add_argument("--note", type=int, default=200, help="payload padding (characters)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--sqlite-thread",
        action="store_true",
        help="every SQLite call on aiosqlite's worker thread (ACME_SQLITE_INLINE=0)",
    )
    parser.add_argument(
        "--loop",
        choices=("default", "uvloop", "asyncio"),
        default="default",
        help="event loop (default: the system processes' one)",
    )
    parser.add_argument("--profile", default=None, help="write cProfile stats here")
    args = parser.parse_args(argv)
    if args.chains < 1 or args.hops < 1 or args.warmup < 1:
        parser.error("--chains, --hops and --warmup must be ≥ 1")
    factory = None if args.loop == "asyncio" else event_loop_factory()
    if args.loop == "uvloop" and factory is None:
        parser.error("--loop uvloop: uvloop is not installed")
    with asyncio.Runner(loop_factory=factory) as runner:
        print(json.dumps(runner.run(run(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
