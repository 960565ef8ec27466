"""The `acme` command through `main(argv, stdout, stderr)`: no subprocess for the CLI itself."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

import acme.cli
from acme.cli import main
from acme.runtime.supervisor import STATE_FILE, ChildSpec, child_specs

from .helpers import fake
from .test_plan import CATALOG, MODULES


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("ACME_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env
    data = tmp_path / "data"
    monkeypatch.setenv("ACME_DATA_DIR", str(data))
    return data


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write_state(data: Path, pid: int) -> None:
    data.mkdir(parents=True, exist_ok=True)
    state = {
        "version": 1,
        "pid": pid,
        "started_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:05+00:00",
        "data_dir": str(data),
        "gateway": "http://127.0.0.1:8080",
        "broker": "nats://127.0.0.1:4333",
        "broker_embedded": True,
        "processes": {
            "cart-system": {
                "pid": 4242,
                "state": "ready",
                "url": "http://127.0.0.1:5001",
                "restarts": 2,
                "since": "2026-01-01T00:00:01+00:00",
                "log": None,
            },
            "reviews": {"pid": None, "state": "backoff", "url": None, "restarts": 1, "since": None},
        },
    }
    (data / STATE_FILE).write_text(json.dumps(state))


def test_status_without_platform(isolated: Path) -> None:
    code, _, err = run("status")
    assert code == 1
    assert f"not running (no state file in {isolated.resolve()})" in err


def test_status_of_running_platform(isolated: Path) -> None:
    write_state(isolated, os.getpid())
    code, out, _ = run("status")
    assert code == 0
    assert "http://127.0.0.1:8080" in out and "embedded NATS nats://127.0.0.1:4333" in out
    cart_line = next(line for line in out.splitlines() if "cart-system" in line)
    assert "4242" in cart_line and "ready" in cart_line and "http://127.0.0.1:5001" in cart_line
    assert "not ready: reviews" in out


def test_status_json(isolated: Path) -> None:
    write_state(isolated, os.getpid())
    code, out, _ = run("status", "--json")
    assert code == 0
    state = json.loads(out)
    assert state["running"] is True
    assert state["processes"]["cart-system"]["restarts"] == 2


def test_status_with_stale_state_file(isolated: Path) -> None:
    import subprocess

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_state(isolated, gone.pid)
    code, _, err = run("status")
    assert code == 1
    assert f"supervisor pid {gone.pid} is gone" in err and "stale state file" in err


def test_status_with_corrupt_state_file(isolated: Path) -> None:
    isolated.mkdir(parents=True)
    (isolated / STATE_FILE).write_text("{oops")
    code, _, err = run("status")
    assert code == 1 and "supervisor.json is not valid JSON" in err


def test_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_PORT", "eighty")
    code, _, err = run("status")
    assert code == 1 and "ACME_PORT" in err and "invalid configuration" in err


@dataclass
class Letter:
    id: str
    service: str
    message_id: str
    message_type: str
    error: str
    payload: str = "{}"


LETTERS = [
    Letter("dl-1", "order-service", "m-1", "create-order", "ValidationError: quantity\n  < 1"),
    Letter("dl-2", "inventory-service", "m-2", "reserve-inventory", "boom"),
]


@pytest.fixture
def deadletters(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A stand-in for acme.runtime.deadletter with the same two coroutines."""
    calls = SimpleNamespace(listed=[], replayed=[], settings=[])
    module = ModuleType("acme.runtime.deadletter")

    async def list_dead_letters(
        settings: Any, *, service: str | None, include_replayed: bool, limit: int
    ) -> list[Letter]:
        calls.settings.append(settings)
        calls.listed.append((service, include_replayed, limit))
        return [x for x in LETTERS if service in (None, x.service)]

    async def replay_dead_letters(
        settings: Any, *, ids: tuple[str, ...], service: str | None
    ) -> list[Letter]:
        calls.replayed.append((ids, service))
        unknown = [i for i in ids if i not in {x.id for x in LETTERS}]
        if unknown:
            raise LookupError("no dead letter with id " + ", ".join(unknown))
        return [x for x in LETTERS if (not ids or x.id in ids)]

    module.list_dead_letters = list_dead_letters  # type: ignore[attr-defined]
    module.replay_dead_letters = replay_dead_letters  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "acme.runtime.deadletter", module)
    import acme.runtime

    monkeypatch.setattr(acme.runtime, "deadletter", module, raising=False)
    return calls


def test_dlq_list(deadletters: SimpleNamespace, isolated: Path) -> None:
    code, out, _ = run("dlq", "list")
    assert code == 0
    assert "2 dead letter(s)" in out
    line = next(line for line in out.splitlines() if "dl-1" in line)
    assert "order-service" in line and "create-order" in line
    assert "ValidationError: quantity < 1" in out  # one line per letter
    assert "payload" not in out  # only in --json
    assert deadletters.settings[0].data_dir == isolated
    assert deadletters.listed == [(None, False, 100)]


def test_dlq_list_filters_and_json(deadletters: SimpleNamespace) -> None:
    code, out, _ = run(
        "dlq", "list", "--json", "--service", "inventory-service", "--include-replayed"
    )
    assert code == 0
    assert [row["id"] for row in json.loads(out)] == ["dl-2"]
    assert json.loads(out)[0]["payload"] == "{}"
    assert deadletters.listed == [("inventory-service", True, 100)]


def test_dlq_list_empty(deadletters: SimpleNamespace) -> None:
    assert run("dlq", "list", "--service", "nobody")[:2] == (0, "no dead letters\n")


def test_dlq_replay_ids_and_all(deadletters: SimpleNamespace) -> None:
    code, out, _ = run("dlq", "replay", "dl-2")
    assert code == 0
    assert out.splitlines()[0] == "replayed 1 dead letter(s)"
    assert "dl-2  inventory-service  reserve-inventory" in out
    assert run("dlq", "replay", "--all", "--service", "order-service")[0] == 0
    assert deadletters.replayed == [(("dl-2",), None), ((), "order-service")]


def test_dlq_replay_unknown_id_is_named(deadletters: SimpleNamespace) -> None:
    code, _, err = run("dlq", "replay", "dl-9")
    assert code == 1 and "no dead letter with id dl-9" in err


def test_dlq_replay_needs_ids_or_all(deadletters: SimpleNamespace) -> None:
    code, _, err = run("dlq", "replay")
    assert code == 2 and "give dead-letter ids, or --all" in err
    assert run("dlq", "replay", "x", "--all")[0] == 2
    assert deadletters.replayed == []


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    module = ModuleType("acme_test_catalog")
    for key, value in vars(CATALOG).items():
        if key != "__name__":
            setattr(module, key, value)
    monkeypatch.setitem(sys.modules, "acme_test_catalog", module)
    for name, value in MODULES.items():
        monkeypatch.setitem(sys.modules, name, value)
    monkeypatch.setenv("ACME_CATALOG_MODULE", "acme_test_catalog")


def test_up_with_unknown_system(catalog: None) -> None:
    code, _, err = run("up", "--only", "cart-system,nope")
    assert code == 1
    assert "unknown system(s) nope" in err and "cart-system" in err


def test_up_without_generated_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_CATALOG_MODULE", "acme_no_such_catalog")
    code, _, err = run("up")
    assert code == 1 and "cannot import acme_no_such_catalog" in err


def test_up_runs_until_sigterm(
    catalog: None, isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real gateway and processes, fake system commands; the broker comes from the environment.
    monkeypatch.setenv("ACME_BROKER_URL", "nats://127.0.0.1:4999")

    def specs(platform: Any) -> list[ChildSpec]:
        # same stages and exports as the real commands, fake programs
        return [
            fake(s.name, "serve", tmp_path, stage=s.stage, export=s.export_url_as)
            for s in child_specs(platform)
        ]

    monkeypatch.setattr(acme.cli, "child_specs", specs)

    def stop_when_up() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                state = json.loads((isolated / STATE_FILE).read_text())
            except (FileNotFoundError, ValueError):
                state = {}
            procs = state.get("processes") or {}
            if procs and all(p["state"] == "ready" for p in procs.values()):
                break
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_when_up)
    stopper.start()
    code, out, _ = run("up", "--only", "cart-system,payment-processing-system", "--port", "0")
    stopper.join()
    assert code == 0, out
    assert "platform ready: 3 process(es) behind http://127.0.0.1:" in out
    # the sandbox comes along with payments and is ready before the systems start
    assert out.index("stripe: ready at") < out.index("cart-system: starting")
    # stopped in reverse: the systems before the sandbox they depend on
    assert out.index("cart-system: stopped") < out.index("stripe: stopped")
    env = json.loads((tmp_path / "cart-system.runs").read_text())["env"]
    assert env["ACME_STRIPE_API_BASE"].startswith("http://127.0.0.1:")
    assert not (isolated / STATE_FILE).exists()
