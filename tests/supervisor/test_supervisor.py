"""Supervisor lifecycle with small fake child processes (see fake_child.py)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from acme.runtime.supervisor import Backoff, ChildStartError, Event, PlatformError, Supervisor

from .helpers import alive, eventually, fake

FAST = Backoff(initial=0.2, factor=2.0, maximum=5.0, reset_after=60.0)


def runs(state_dir: Path, name: str) -> list[dict]:
    path = state_dir / f"{name}.runs"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_backoff_doubles_and_is_capped() -> None:
    b = Backoff(initial=0.5, factor=2.0, maximum=3.0)
    assert [b.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_stages_start_in_order_and_export_urls(tmp_path: Path) -> None:
    events: list[Event] = []
    sup = Supervisor(
        [
            fake("app", "serve", tmp_path),
            fake("stripe", "serve", tmp_path, stage=0, export="ACME_STRIPE_API_BASE"),
        ],
        env={"ACME_SHARED": "yes", "PATH": os.environ.get("PATH", "")},
        log_dir=tmp_path / "logs",
        on_event=events.append,
    )
    await sup.start()
    try:
        snap = sup.snapshot()
        assert {s.state for s in snap.values()} == {"ready"}
        stripe_url = snap["stripe"].url
        assert stripe_url and stripe_url.startswith("http://127.0.0.1:")
        (app_run,) = runs(tmp_path, "app")
        (stripe_run,) = runs(tmp_path, "stripe")
        # the later stage sees the earlier one's URL; everyone sees the shared environment
        assert app_run["env"]["ACME_STRIPE_API_BASE"] == stripe_url
        assert "ACME_STRIPE_API_BASE" not in stripe_run["env"]
        assert app_run["env"]["ACME_SHARED"] == stripe_run["env"]["ACME_SHARED"] == "yes"
        assert app_run["env"]["ACME_FAKE_PORT"] == "0"  # {port} filled in: any port at first
        ready_order = [e.name for e in events if e.kind == "ready"]
        assert ready_order == ["stripe", "app"]
        pids = [s.pid for s in snap.values()]
        assert all(pid and alive(pid) for pid in pids)
    finally:
        await sup.stop()
    assert {s.state for s in sup.snapshot().values()} == {"stopped"}
    assert not any(alive(pid) for pid in pids if pid)
    log = (tmp_path / "logs" / "app.log").read_text()
    assert "supervisor: starting" in log and "ACME-READY" in log


async def test_crashed_child_is_restarted_on_its_port_and_reported(tmp_path: Path) -> None:
    events: list[Event] = []
    sup = Supervisor([fake("flaky", "crash-once", tmp_path)], backoff=FAST, on_event=events.append)
    await sup.start()
    try:
        first_url = sup.snapshot()["flaky"].url
        await eventually(lambda: len(runs(tmp_path, "flaky")) == 2)
        await eventually(lambda: sup.snapshot()["flaky"].state == "ready")
        status = sup.snapshot()["flaky"]
        assert status.restarts == 1
        assert status.url == first_url  # restarted on the same port
        assert runs(tmp_path, "flaky")[1]["port"] == int(first_url.rsplit(":", 1)[1])
        (crash,) = [e for e in events if e.kind == "exited"]
        assert "exited with code 3" in crash.message
        assert "restarting in 0.2s" in crash.message
        assert "fatal error on first run" in crash.message
    finally:
        await sup.stop()


async def test_repeated_crashes_back_off_exponentially(tmp_path: Path) -> None:
    events: list[Event] = []
    sup = Supervisor(
        [fake("doomed", "crash-always", tmp_path)],
        backoff=Backoff(initial=0.1, factor=2.0, maximum=0.4, reset_after=60.0),
        on_event=events.append,
    )
    await sup.start()
    try:
        await eventually(lambda: sum(e.kind == "exited" for e in events) >= 4)
    finally:
        await sup.stop()
    delays = [
        e.message.split("restarting in ")[1].split("s ")[0] for e in events if e.kind == "exited"
    ]
    assert delays[:4] == ["0.1", "0.2", "0.4", "0.4"]
    assert sup.snapshot()["doomed"].restarts >= 3


async def test_child_dying_before_ready_fails_start_with_stderr_tail(tmp_path: Path) -> None:
    sup = Supervisor([fake("broken", "die-early", tmp_path)], log_dir=tmp_path / "logs")
    with pytest.raises(ChildStartError) as info:
        await sup.start()
    message = str(info.value)
    assert message.startswith("broken exited with code 2 before it reported ACME-READY")
    assert "broken: cannot open database" in message
    assert "traceback line 29" in message
    assert "traceback line 0\n" not in message  # only the last lines
    assert str(tmp_path / "logs" / "broken.log") in message
    assert "traceback line 0" in (tmp_path / "logs" / "broken.log").read_text()
    assert sup.snapshot()["broken"].state == "stopped"


async def test_hanging_child_times_out_and_is_killed(tmp_path: Path) -> None:
    sup = Supervisor([fake("slow", "hang", tmp_path)], ready_timeout=1.0)
    with pytest.raises(ChildStartError, match=r"slow did not report ACME-READY within 1s") as info:
        await sup.start()
    assert "waiting for something that never comes" in str(info.value)
    (run,) = runs(tmp_path, "slow")
    assert not alive(run["pid"])


async def test_failure_in_a_later_stage_stops_the_earlier_ones(tmp_path: Path) -> None:
    sup = Supervisor(
        [fake("base", "serve", tmp_path, stage=0), fake("broken", "die-early", tmp_path)]
    )
    with pytest.raises(ChildStartError, match="broken exited"):
        await sup.start()
    (base_run,) = runs(tmp_path, "base")
    assert not alive(base_run["pid"])
    assert sup.snapshot()["base"].state == "stopped"


async def test_malformed_ready_line_is_an_error(tmp_path: Path) -> None:
    sup = Supervisor([fake("odd", "bad-ready", tmp_path)])
    with pytest.raises(ChildStartError, match="malformed ready line"):
        await sup.start()
    (run,) = runs(tmp_path, "odd")
    assert not alive(run["pid"])


async def test_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    events: list[Event] = []
    sup = Supervisor(
        [fake("stubborn", "ignore-term", tmp_path)], stop_timeout=0.5, on_event=events.append
    )
    await sup.start()
    pid = sup.snapshot()["stubborn"].pid
    assert pid is not None
    await sup.stop()
    assert not alive(pid)
    assert [e.kind for e in events][-3:] == ["stopping", "killed", "stopped"]
    assert "was killed by SIGKILL" in events[-1].message


async def test_unstartable_command_is_reported(tmp_path: Path) -> None:
    from acme.runtime.supervisor import ChildSpec

    sup = Supervisor([ChildSpec("ghost", (str(tmp_path / "no-such-binary"),))])
    with pytest.raises(ChildStartError, match="ghost could not be started"):
        await sup.start()


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(PlatformError, match="two children are named a"):
        Supervisor([fake("a", "serve", tmp_path), fake("a", "hang", tmp_path)])


async def test_stop_during_backoff_does_not_restart(tmp_path: Path) -> None:
    events: list[Event] = []
    sup = Supervisor(
        [fake("doomed", "crash-always", tmp_path)],
        backoff=Backoff(initial=60.0, maximum=60.0),
        on_event=events.append,
    )
    await sup.start()
    await eventually(lambda: sup.snapshot()["doomed"].state == "backoff")
    await asyncio.wait_for(sup.stop(), 5)  # the 60 s back-off is interrupted
    assert sup.snapshot()["doomed"].state == "stopped"
    assert len(runs(tmp_path, "doomed")) == 1
    assert "restarting in 60.0s" in next(e.message for e in events if e.kind == "exited")
