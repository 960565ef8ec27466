"""The sandbox process stops promptly on SIGTERM, even with work in flight.

`acme up` gives every child ACME_SHUTDOWN_TIMEOUT + 5 s (20 s by default) before SIGKILL. An API
call held by an injected latency used to keep uvicorn waiting for its connection for as long as
the latency lasted (up to 120 s), and webhook deliveries went on retrying meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from acme.simulators.stripe import SandboxSettings, create_app
from acme.simulators.stripe.__main__ import SHUTDOWN_GRACE_S, _SandboxServer
from tests.simulators.test_stripe_sandbox import Receiver

REPO = Path(__file__).resolve().parents[2]
AUTH = ("sk_test_acme_shutdown", "")
LATENCY_MS = 60_000  # far beyond any stop timeout


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A webhook endpoint that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/webhooks/stripe"


def test_sigterm_ends_the_process_despite_a_held_call_and_a_stuck_webhook(
    tmp_path: Path, black_hole: str
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "ACME_DATA_DIR": str(tmp_path),
        "ACME_STRIPE_WEBHOOK_URL": black_hole,
        "ACME_STRIPE_WEBHOOK_TIMEOUT_S": "60",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "acme.simulators.stripe", "--port", "0"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        url = json.loads(process.stdout.readline().removeprefix("ACME-READY "))["http"]
        with httpx.Client(base_url=url, auth=AUTH, timeout=10) as http:
            # Its events go to the black hole: a delivery is in flight from now on.
            created = http.post(
                "/v1/payment_intents",
                data={"amount": "500", "currency": "usd", "payment_method": "pm_card_visa"},
            )
            assert created.status_code == 200, created.text
            http.post("/_sandbox/faults", json={"latency_ms": LATENCY_MS}).raise_for_status()

        held: list[BaseException | int] = []

        def held_call() -> None:
            try:
                response = httpx.get(f"{url}/v1/payment_intents", auth=AUTH, timeout=90)
                held.append(response.status_code)
            except httpx.HTTPError as exc:
                held.append(exc)

        caller = threading.Thread(target=held_call, daemon=True)
        caller.start()
        caller.join(0.5)  # the call is inside the sandbox, sleeping out its latency
        assert held == []

        os.killpg(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=SHUTDOWN_GRACE_S + 10)

        assert process.returncode in (0, -signal.SIGTERM), stderr[-2000:]
        assert "timeout graceful shutdown exceeded" in stderr  # the held call was cut short
        caller.join(5)
        assert len(held) == 1 and held != [200], held  # answered with an error or cut off
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


async def test_webhook_delivery_stops_when_shutdown_begins(tmp_path: Path) -> None:
    """Retries stop at once, not when the last held connection is gone."""
    receiver = Receiver()
    receiver.fail_next = 10**6  # every delivery fails: the sender keeps retrying
    settings = SandboxSettings(
        in_memory=True,
        webhook_url=receiver.url,
        webhook_events="*",
        webhook_max_attempts=50,
        webhook_retry_base_ms=10,
        webhook_retry_max_ms=20,
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    server = _SandboxServer(config, app.state.sandbox)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        async with httpx.AsyncClient(base_url=url, auth=AUTH, timeout=30) as http:
            created = await http.post(
                "/v1/payment_intents",
                data={"amount": "500", "currency": "usd", "payment_method": "pm_card_visa"},
            )
            assert created.status_code == 200, created.text
            async with asyncio.timeout(10):
                while receiver.posts < 3:  # retrying
                    await asyncio.sleep(0.01)
            await http.post("/_sandbox/faults", json={"latency_ms": LATENCY_MS})
            held = asyncio.create_task(http.get("/v1/payment_intents"))
            await asyncio.sleep(0.2)  # the call is held inside the sandbox

            server.should_exit = True
            async with asyncio.timeout(5):
                while app.state.sandbox.webhooks._running:
                    await asyncio.sleep(0.01)
            posts = receiver.posts
            await asyncio.sleep(SHUTDOWN_GRACE_S / 2)  # still shutting down: the call is held
            assert not serving.done()
            assert receiver.posts == posts  # no retry since shutdown began

            async with asyncio.timeout(SHUTDOWN_GRACE_S + 5):
                await serving
            with contextlib.suppress(httpx.HTTPError):
                assert (await held).status_code != 200
    finally:
        server.should_exit = True
        receiver.close()
        with contextlib.suppress(BaseException):
            await serving
