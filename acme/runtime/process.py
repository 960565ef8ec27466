"""Process entry of one host: `python -m acme.runtime.process --system <id> [--port 0]`.

Loads the host from the generated registry, imports its implementation package (searched in
ACME_IMPLEMENTATIONS: `acme.systems`, then `acme.simulators`), calls `create(app)`, starts
consumers, relays and the HTTP server, then prints exactly one line on stdout:

    ACME-READY {"system": "<id>", "http": "http://127.0.0.1:<port>", "pid": <pid>}

Everything else goes to stderr. SIGTERM/SIGINT stop it gracefully: stop consuming and
accepting requests, let in-flight work finish, flush the outbox, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, TextIO

import uvicorn

from acme.runtime.app import SystemApp
from acme.runtime.errors import ConfigurationError, RegistryError
from acme.runtime.registry import implementation_module, load_host
from acme.runtime.settings import Settings
from generator.contracts import HandlerContractError

__all__ = ["READY_PREFIX", "event_loop_factory", "load_implementation", "main", "run"]

READY_PREFIX = "ACME-READY"
logger = logging.getLogger("acme.process")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process decides when HTTP stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def load_implementation(host_id: str, packages: Sequence[str]) -> ModuleType:
    """Import `<package>.<host module>` from the first package that has it."""
    name = implementation_module(host_id)
    tried = []
    for package in packages:
        module_name = f"{package}.{name}"
        tried.append(module_name)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only "this module does not exist" moves on; a missing import inside it is a bug.
            if exc.name is not None and module_name.startswith(exc.name):
                continue
            raise
        if not callable(getattr(module, "create", None)):
            raise ConfigurationError(f"{module_name} has no create(app) function")
        return module
    raise ConfigurationError(
        f"no implementation for {host_id}: tried {', '.join(tried)} (ACME_IMPLEMENTATIONS)"
    )


async def run(
    host_id: str,
    *,
    settings: Settings,
    port: int | None = None,
    ready: Callable[[dict[str, Any]], None],
    stop: asyncio.Event | None = None,
) -> None:
    """Run one host until `stop` is set (or SIGTERM/SIGINT when `stop` is None)."""
    host = load_host(host_id, settings.catalog_module)
    app = SystemApp(host, settings)
    module = load_implementation(host_id, settings.implementation_packages)
    created = module.create(app)
    if inspect.isawaitable(created):
        await created

    stop = stop or _signal_event()
    bind_port = settings.http_port if port is None else port
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.http_host, bind_port))
    sock.listen(128)
    sock.set_inheritable(True)
    bound_port = sock.getsockname()[1]

    await app.start()
    server: _Server | None = None
    serve_task: asyncio.Task[None] | None = None
    try:
        config = uvicorn.Config(
            app.http_app,
            log_config=None,  # our logging (stderr); uvicorn's default writes access logs to stdout
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout)),
        )
        server = _Server(config)
        serve_task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if serve_task.done():
                serve_task.result()
                raise RuntimeError("HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        ready(
            {
                "system": host_id,
                "http": f"http://{settings.http_host}:{bound_port}",
                "pid": os.getpid(),
            }
        )
        logger.info("%s ready on port %d", host_id, bound_port)
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait({stop_wait, serve_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        logger.info("%s stopping", host_id)
    finally:
        if server is not None:
            server.should_exit = True
        # Consumers and HTTP requests drain together; the outbox is flushed after both.
        await app.stop_intake()
        if serve_task is not None:
            with contextlib.suppress(Exception):
                await serve_task
        await app.stop()
        sock.close()


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (a runtime dependency), else asyncio's.

    A message crosses the loop a dozen times (broker socket, SQLite, relay, ack); uvloop's
    loop and sockets cost a fraction of the pure-Python selector loop's CPU for each.
    ACME_EVENT_LOOP=asyncio keeps the standard loop (for debugging with asyncio's tools)."""
    if os.environ.get("ACME_EVENT_LOOP", "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; a bare install still runs
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _signal_event() -> asyncio.Event:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, event.set)
    return event


def _ready_printer(stream: TextIO) -> Callable[[dict[str, Any]], None]:
    def ready(info: dict[str, Any]) -> None:
        stream.write(f"{READY_PREFIX} {json.dumps(info, sort_keys=True)}\n")
        stream.flush()

    return ready


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m acme.runtime.process", description="Run one Acme system process."
    )
    parser.add_argument("--system", required=True, help="host id, e.g. order-management-system")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (0 = a free port)")
    args = parser.parse_args(argv)

    # stdout carries exactly one line (the ready line); anything printed elsewhere goes to stderr.
    ready_stream = sys.stdout
    sys.stdout = sys.stderr
    try:
        settings = Settings()
    except Exception as exc:
        print(f"acme: invalid settings: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s [" + args.system + "] %(name)s: %(message)s",
    )
    try:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(
                run(
                    args.system,
                    settings=settings,
                    port=args.port,
                    ready=_ready_printer(ready_stream),
                )
            )
    except (ConfigurationError, RegistryError, HandlerContractError) as exc:
        print(f"acme: {args.system}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"acme: {args.system}: cannot listen: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
