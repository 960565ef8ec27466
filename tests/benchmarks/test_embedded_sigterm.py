"""A benchmark or script on `embedded_platform` that gets SIGTERM stops its platform first."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.supervisor.helpers import alive

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from benchmarks.checkout import _broker_pid
from benchmarks.embedded import embedded_platform

async def main():
    data_dir = Path(sys.argv[1])
    async with embedded_platform(data_dir, only=["promotion-system"]) as platform:
        pids = [s.pid for s in platform.runner.snapshot().values() if s.pid]
        pids.append(_broker_pid(data_dir.resolve()))
        print(json.dumps(pids), flush=True)
        await asyncio.sleep(300)

asyncio.run(main())
"""


def test_sigterm_stops_the_children_before_the_process_ends(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # once the platform is up
        pids = json.loads(line)
        assert len(pids) >= 2 and all(pids), pids  # promotion-system and the nats-server
        assert all(alive(pid) for pid in pids)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in pids if alive(pid)] == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
