"""`python -m acme.simulators.stripe [--port 0]`: serve the sandbox with uvicorn.

Once the socket listens, exactly one line goes to stdout:
`ACME-READY {"system": "stripe", "http": "http://127.0.0.1:PORT"}`; logs go to stderr.

SIGTERM (or Ctrl-C) stops it promptly: webhook delivery stops at once (events not yet delivered
stay pending in the store and are resumed by the next start), API calls still running get
`SHUTDOWN_GRACE_S` to finish and are then cancelled. Without that bound one call held by an
injected latency (up to 120 s) kept the process alive past the supervisor's stop timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError

from acme.simulators.stripe.app import Sandbox, create_app
from acme.simulators.stripe.settings import SandboxSettings

# Seconds in-flight API calls may take to finish once shutdown begins; well below the
# supervisor's stop timeout (ACME_SHUTDOWN_TIMEOUT + 5 s under `acme up`).
SHUTDOWN_GRACE_S = 2


class _SandboxServer(uvicorn.Server):
    """uvicorn, stopping webhook delivery as soon as shutdown begins.

    uvicorn runs the app's lifespan shutdown (which also stops delivery) only after every
    connection has closed; until then retries would keep posting to a platform going away.
    """

    def __init__(self, config: uvicorn.Config, sandbox: Sandbox) -> None:
        super().__init__(config)
        self.sandbox = sandbox

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.sandbox.webhooks.stop()
        await super().shutdown(sockets)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m acme.simulators.stripe",
        description="Local Stripe sandbox (options override the ACME_STRIPE_* variables).",
    )
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port; 0 picks a free one (default 0)")
    parser.add_argument("--data-dir", type=Path, help="folder of the SQLite file (ACME_DATA_DIR)")
    parser.add_argument("--in-memory", action="store_true", help="keep no state on disk")
    parser.add_argument("--webhook-url", help="where to POST webhook events")
    parser.add_argument("--webhook-secret", help="webhook signing secret")
    return parser.parse_args(argv)


async def _serve(settings: SandboxSettings) -> int:
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # the root logger (stderr) takes uvicorn's records
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    server = _SandboxServer(config, app.state.sandbox)

    async def serve() -> bool:
        try:
            await server.serve()
        except SystemExit:  # uvicorn's way of saying it could not start
            return False
        return True

    serving = asyncio.create_task(serve())
    while not server.started:
        if serving.done():  # e.g. the port is taken; uvicorn logged why
            print(
                f"stripe sandbox: could not serve on {settings.host}:{settings.port}",
                file=sys.stderr,
            )
            return 1
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    ready = {"system": "stripe", "http": f"http://{host}:{port}"}
    print(f"ACME-READY {json.dumps(ready)}", flush=True)
    return 0 if await serving else 1


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    overrides: dict[str, Any] = {
        name: value
        for name, value in {
            "host": args.host,
            "port": args.port,
            "data_dir": args.data_dir,
            "webhook_url": args.webhook_url,
            "webhook_secret": args.webhook_secret,
        }.items()
        if value is not None
    }
    if args.in_memory:
        overrides["in_memory"] = True
    try:
        settings = SandboxSettings(**overrides)
    except ValidationError as exc:
        print(f"stripe sandbox: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(settings))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when installed, as the platform's processes use (its sockets and
    loop cost a fraction of asyncio's per API call); ACME_EVENT_LOOP=asyncio keeps asyncio's."""
    if os.environ.get("ACME_EVENT_LOOP", "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of the platform
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


if __name__ == "__main__":
    sys.exit(main())
