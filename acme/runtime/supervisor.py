"""`acme up`: run every hosted system as its own process, behind one gateway.

Three layers, each usable on its own (tests drive them with fake child commands):

- `platform_from_catalog` reads the generated registry: which hosts to run (a system, or a
  domain for services that belong to no system) and which routes the gateway forwards.
- `Supervisor` starts child processes, waits for their `ACME-READY {json}` stdout line,
  restarts crashed ones with exponential back-off and stops them (SIGTERM, then SIGKILL).
- `PlatformRunner` puts it together: broker (embedded NATS unless ACME_BROKER_URL is set),
  gateway, Stripe sandbox, systems, and the state file `acme status` reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import uvicorn

from acme.runtime.gateway import RouteSpec, RouteTable, SystemStatus, create_gateway

__all__ = [
    "Backoff",
    "ChildSpec",
    "ChildStartError",
    "Event",
    "HostPlan",
    "Platform",
    "PlatformError",
    "PlatformRunner",
    "STATE_FILE",
    "Supervisor",
    "child_specs",
    "platform_from_catalog",
    "read_state",
]

READY_PREFIX = "ACME-READY"
STATE_FILE = "supervisor.json"
STATE_VERSION = 1
STRIPE_HOST = "stripe"
# A host that others cannot work without: selecting the dependant with --only starts it too.
DEPENDENCIES: Mapping[str, tuple[str, ...]] = {"payment-processing-system": (STRIPE_HOST,)}
TAIL_LINES = 20


class PlatformError(RuntimeError):
    """The platform cannot start as configured; the message says what and where."""


class ChildStartError(PlatformError):
    """A child did not become ready; carries the last lines of its stderr."""

    def __init__(
        self, name: str, reason: str, tail: Sequence[str] = (), log: Path | None = None
    ) -> None:
        lines = [f"{name} {reason}"]
        if tail:
            lines.append(f"--- last {len(tail)} lines of {name}'s stderr ---")
            lines.extend(tail)
        else:
            lines.append(f"({name} wrote nothing to stderr)")
        if log is not None:
            lines.append(f"full output: {log}")
        super().__init__("\n".join(lines))
        self.name = name
        self.reason = reason
        self.tail = list(tail)


# ---------------------------------------------------------------------------------------------
# What to run: read from the generated registry


@dataclass(frozen=True)
class HostPlan:
    """One process to run: a system (or a domain hosting system-less services)."""

    name: str
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class Platform:
    hosts: tuple[HostPlan, ...]
    routes: tuple[RouteSpec, ...]

    @property
    def names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def select(self, only: Iterable[str]) -> Platform:
        """The subset named by `acme up --only`, plus what those hosts cannot run without."""
        wanted = [n.strip() for n in only if n.strip()]
        if not wanted:
            return self
        unknown = [n for n in wanted if n not in self.names]
        if unknown:
            raise PlatformError(
                f"--only: unknown system(s) {', '.join(unknown)}; "
                f"the catalog hosts: {', '.join(self.names)}"
            )
        chosen = set(wanted)
        for name in wanted:
            chosen.update(d for d in DEPENDENCIES.get(name, ()) if d in self.names)
        return Platform(tuple(h for h in self.hosts if h.name in chosen), self.routes)


def _system_ids(systems: Any) -> list[str]:
    """SYSTEMS as the registry gives it: a sequence of entries, or a mapping keyed by id."""
    if systems is None:
        return []
    if isinstance(systems, Mapping):
        return [str(k) for k in systems]
    ids = []
    for entry in systems:
        ident = entry.get("id") if isinstance(entry, Mapping) else getattr(entry, "id", None)
        if ident:
            ids.append(str(ident))
    return ids


def _is_hosted(spec: Any, has_http: bool) -> bool:
    # Client services (they only send over http.gateway) generate no handlers, publishers or
    # operations, so there is nothing for a process to run for them. Same rule as
    # acme.runtime.registry.list_hosts, so the supervisor starts exactly what can be hosted.
    return has_http or any(getattr(spec, a, ()) for a in ("receives", "sends", "operations"))


def platform_from_catalog(
    catalog: ModuleType | Any,
    *,
    import_module: Callable[[str], Any] = importlib.import_module,
) -> Platform:
    """Hosts and gateway routes from `generated.catalog` and the service/http modules it lists.

    `HOSTS` (process -> services) is the generator's word on who hosts what; without it, a
    service is hosted by its system, else by its domain. A host whose services have nothing
    to run (no handlers, publishers or operations) is skipped.
    """
    where = getattr(catalog, "__name__", "catalog")
    service_modules: Mapping[str, str] = getattr(catalog, "SERVICE_MODULES", None) or {}
    http_modules: Mapping[str, str] = getattr(catalog, "HTTP_MODULES", None) or {}
    if not service_modules:
        raise PlatformError(f"{where} has no SERVICE_MODULES: is generated/ up to date?")
    specs = {
        sid: _load_attr(import_module, module, "SERVICE", where)
        for sid, module in sorted(service_modules.items())
    }
    hosts_map: Mapping[str, Sequence[str]] | None = getattr(catalog, "HOSTS", None)
    if hosts_map is not None:
        host_of = {sid: host for host, sids in hosts_map.items() for sid in sids}
    else:
        host_of = {
            sid: spec.system or spec.domain
            for sid, spec in specs.items()
            if spec.system or spec.domain
        }
    hosted: dict[str, list[str]] = {}
    for sid, host in sorted(host_of.items()):
        spec = specs.get(sid)
        if spec is None:
            raise PlatformError(f"{where}.HOSTS lists {sid} under {host}, but no service module")
        if _is_hosted(spec, sid in http_modules):
            hosted.setdefault(host, []).append(sid)

    system_ids = _system_ids(getattr(catalog, "SYSTEMS", None))
    if STRIPE_HOST in system_ids or STRIPE_HOST in host_of.values():
        # The sandbox stands in for the whole external Stripe system, hosted or not.
        hosted.setdefault(STRIPE_HOST, [])
    order = {name: i for i, name in enumerate(system_ids)}
    names = sorted(hosted, key=lambda n: (n != STRIPE_HOST, order.get(n, len(order)), n))
    hosts = tuple(HostPlan(n, tuple(hosted[n])) for n in names)

    routes: list[RouteSpec] = []
    for sid, module_name in sorted(http_modules.items()):
        serving = host_of.get(sid)
        if serving is None:
            raise PlatformError(f"{where}.HTTP_MODULES lists {sid}, which no process hosts")
        operations = _load_attr(import_module, module_name, "OPERATIONS", where)
        for op in operations:
            routes.append(RouteSpec(op.method, op.path, serving, sid, op.operation_id))
    for sid, spec in specs.items():
        serving = host_of.get(sid)
        if serving is None:
            continue  # a client: it calls the platform, it serves nothing
        for op in getattr(spec, "operations", ()):
            routes.append(RouteSpec(op.method, op.path, serving, sid, op.operation_id))
        for incoming in getattr(spec, "receives", ()):
            channel = incoming.channel
            # Inbound webhooks: the runtime mounts POST <address> on the receiving system.
            if channel.protocol in ("http", "https") and channel.address.startswith("/"):
                routes.append(RouteSpec("POST", channel.address, serving, sid))
    return Platform(hosts, tuple(routes))


def _load_attr(import_module: Callable[[str], Any], module_name: str, attr: str, where: str) -> Any:
    try:
        module = import_module(module_name)
    except ImportError as exc:
        raise PlatformError(
            f"{where} lists module {module_name}, which cannot be imported: {exc} "
            "(regenerate with `python -m generator generate catalog`)"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PlatformError(f"{module_name} has no {attr}; is generated/ up to date?") from None


def load_platform(catalog_module: str = "generated.catalog") -> Platform:
    try:
        catalog = importlib.import_module(catalog_module)
    except ImportError as exc:
        raise PlatformError(
            f"cannot import {catalog_module} ({exc}); "
            "generate it first: python -m generator generate catalog --out generated"
        ) from exc
    return platform_from_catalog(catalog)


@dataclass(frozen=True)
class ChildSpec:
    """How to run one child. `{port}` in argv or env values is replaced by the port to bind."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    # Children started later receive this child's URL in this environment variable.
    export_url_as: str | None = None
    # Lower stages start, and must be ready, before higher ones.
    stage: int = 1


def child_specs(platform: Platform, *, python: str = sys.executable) -> list[ChildSpec]:
    """The commands for each host: the Stripe sandbox, or the generic system process."""
    specs: list[ChildSpec] = []
    for host in platform.hosts:
        if host.name == STRIPE_HOST:
            specs.append(
                ChildSpec(
                    STRIPE_HOST,
                    (python, "-m", "acme.simulators.stripe", "--port", "{port}"),
                    export_url_as="ACME_STRIPE_API_BASE",
                    stage=0,
                )
            )
        else:
            argv = (python, "-m", "acme.runtime.process", "--system", host.name, "--port", "{port}")
            specs.append(ChildSpec(host.name, argv))
    return specs


# ---------------------------------------------------------------------------------------------
# Supervising child processes


@dataclass(frozen=True)
class Backoff:
    """Delay before restart n: initial * factor**(n-1), capped; reset after a stable run."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    reset_after: float = 30.0

    def delay(self, failures: int) -> float:
        return min(self.maximum, self.initial * self.factor ** max(0, failures - 1))


@dataclass(frozen=True)
class Event:
    """Something worth telling the operator: a state change, a crash, a restart."""

    at: float
    name: str
    kind: str  # starting | ready | exited | restarting | failed | stopping | stopped | killed
    message: str


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "could not be started"
    if code == -signal.SIGTERM:
        return "ended on SIGTERM"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _port_of(url: str) -> int:
    try:
        return urlsplit(url).port or 0
    except ValueError:
        return 0


class Child:
    """One supervised process and its restart loop."""

    def __init__(self, spec: ChildSpec, supervisor: Supervisor) -> None:
        self.spec = spec
        self._sup = supervisor
        self.state = "pending"
        self.pid: int | None = None
        self.url: str | None = None
        self.port = 0
        self.restarts = 0
        self.failures = 0
        self.ready_since: float | None = None  # wall clock, for uptime
        self._ready_mono: float | None = None
        self._reuse_port = False
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._proc: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future[str] | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._monitor: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._log: IO[str] | None = None

    # -- status

    def status(self) -> SystemStatus:
        return SystemStatus(
            self.spec.name, self.state, self.url, self.pid, self.restarts, self.ready_since
        )

    @property
    def log_path(self) -> Path | None:
        d = self._sup.log_dir
        return d / f"{self.spec.name}.log" if d is not None else None

    def _set(self, state: str, kind: str, message: str) -> None:
        self.state = state
        self._sup._emit(Event(time.time(), self.spec.name, kind, message))

    # -- process plumbing

    async def _spawn(self, port: int) -> None:
        argv = [a.replace("{port}", str(port)) for a in self.spec.argv]
        env = dict(self._sup.child_env(self.spec.name))
        env.update({k: v.replace("{port}", str(port)) for k, v in self.spec.env.items()})
        self.tail.clear()
        self._open_log(argv)
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                # Own process group: a terminal's Ctrl-C reaches only the supervisor, which
                # then stops children in order; killpg also reaches their own children.
                start_new_session=True,
                limit=1 << 20,
            )
        except OSError as exc:
            self._proc = None
            raise ChildStartError(
                self.spec.name, f"could not be started ({' '.join(argv)}): {exc}"
            ) from exc
        self.pid = self._proc.pid
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read_stdout(self._proc.stdout, self._ready)),
            asyncio.create_task(self._read_stderr(self._proc.stderr)),
        ]

    def _open_log(self, argv: list[str]) -> None:
        path = self.log_path
        if path is None:
            return
        if self._log is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._log = path.open("a", encoding="utf-8", buffering=1)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self._log.write(f"=== {stamp} supervisor: starting {' '.join(argv)}\n")

    def _write_log(self, line: str) -> None:
        if self._log is not None:
            self._log.write(line + "\n")

    async def _read_stdout(self, stream: asyncio.StreamReader, ready: asyncio.Future[str]) -> None:
        async for raw in _lines(stream):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._write_log(line)
            if not ready.done() and line.startswith(READY_PREFIX):
                try:
                    ready.set_result(self._parse_ready(line))
                except ChildStartError as exc:
                    ready.set_exception(exc)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        async for raw in _lines(stream):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.tail.append(line)
            self._write_log(line)

    def _parse_ready(self, line: str) -> str:
        payload = line[len(READY_PREFIX) :].strip()
        try:
            info = json.loads(payload)
        except ValueError:
            info = None
        url = info.get("http") if isinstance(info, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ChildStartError(
                self.spec.name,
                f"printed a malformed ready line {line!r} "
                '(expected ACME-READY {"system": ..., "http": "http://host:port"})',
                list(self.tail),
            )
        return url.rstrip("/")

    async def _drain(self) -> None:
        # The pipes close when the process exits; a grandchild holding them must not hang us.
        if self._readers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._readers, return_exceptions=True), 2.0)
            for task in self._readers:
                task.cancel()
            self._readers = []

    def _signal(self, sig: signal.Signals) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    async def _wait_ready(self, timeout: float) -> str:
        assert self._proc is not None and self._ready is not None
        exited = asyncio.ensure_future(self._proc.wait())
        ready = self._ready
        waiting: set[asyncio.Future[Any]] = {ready, exited}
        try:
            done, _ = await asyncio.wait(
                waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if not exited.done():
                exited.cancel()
        if ready in done:
            try:
                return ready.result()
            except ChildStartError:
                await self._kill()
                raise
        if exited in done:
            await self._drain()
            raise ChildStartError(
                self.spec.name,
                f"{_describe_exit(self._proc.returncode)} before it reported {READY_PREFIX}",
                list(self.tail),
                self.log_path,
            )
        await self._kill()
        raise ChildStartError(
            self.spec.name,
            f"did not report {READY_PREFIX} within {timeout:g}s (pid {self._proc.pid}, killed)",
            list(self.tail),
            self.log_path,
        )

    async def _kill(self) -> None:
        self._signal(signal.SIGKILL)
        if self._proc is not None:
            await self._proc.wait()
        await self._drain()

    async def _start_once(self, port: int) -> None:
        self.url = None
        self.ready_since = None
        self._ready_mono = None
        self._set("starting", "starting", f"starting (port {port or 'any'})")
        await self._spawn(port)
        url = await self._wait_ready(self._sup.ready_timeout)
        self.url = url
        self.port = _port_of(url)
        self._reuse_port = True
        self.ready_since = time.time()
        self._ready_mono = time.monotonic()
        self._sup._child_ready(self)
        self._set("ready", "ready", f"ready at {url} (pid {self.pid})")

    async def start(self) -> None:
        """First start: any failure is the caller's (the platform does not come up)."""
        await self._start_once(0)
        self._monitor = asyncio.create_task(self._supervise())

    async def _supervise(self) -> None:
        while True:
            code: int | None = None
            if self._proc is not None:
                code = await self._proc.wait()
                await self._drain()
            if self._stopping:
                return
            if self._ready_mono is not None and (
                time.monotonic() - self._ready_mono >= self._sup.backoff.reset_after
            ):
                self.failures = 0  # it ran long enough: this is a new incident, not a loop
            self.failures += 1
            delay = self._sup.backoff.delay(self.failures)
            last = f"; last stderr: {self.tail[-1]}" if self.tail else ""
            self.url = None
            self.pid = None
            self.ready_since = None
            self._ready_mono = None
            self._set(
                "backoff",
                "exited",
                f"{_describe_exit(code)}; restarting in {delay:.1f}s "
                f"(restart #{self.restarts + 1}){last}",
            )
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            if self._stopping:
                return
            self.restarts += 1
            # Same port as before when possible, so URLs handed out earlier stay valid.
            port = self.port if self._reuse_port else 0
            try:
                await self._start_once(port)
            except ChildStartError as exc:
                self._reuse_port = False
                self._set("backoff", "failed", f"restart failed: {exc.reason}")

    async def stop(self, timeout: float, force: asyncio.Event) -> None:
        self._stopping = True
        self._wake.set()
        # End the restart loop first, so that `_proc` is the last process it started.
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        proc = self._proc
        if proc is not None and proc.returncode is None:
            self._set("stopping", "stopping", f"stopping (SIGTERM to pid {proc.pid})")
            self._signal(signal.SIGTERM)
            exited = asyncio.ensure_future(proc.wait())
            forced = asyncio.ensure_future(force.wait())
            await asyncio.wait(
                {exited, forced}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            forced.cancel()
            if not exited.done():
                exited.cancel()
                self._signal(signal.SIGKILL)
                await proc.wait()
                self._sup._emit(
                    Event(
                        time.time(),
                        self.spec.name,
                        "killed",
                        f"did not stop within {timeout:g}s of SIGTERM; sent SIGKILL",
                    )
                )
        await self._drain()
        code = proc.returncode if proc is not None else None
        self.url = None
        self.pid = None
        self.ready_since = None
        self._set("stopped", "stopped", f"stopped ({_describe_exit(code)})")
        if self._log is not None:
            self._log.close()
            self._log = None


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """Lines of a pipe; an over-long line is passed on in pieces instead of killing the reader."""
    while True:
        try:
            line = await stream.readline()
        except ValueError:
            line = await stream.read(1 << 16)
        if not line:
            return
        yield line


class Supervisor:
    """Starts children stage by stage, restarts crashed ones, stops all in reverse order."""

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        ready_timeout: float = 60.0,
        stop_timeout: float = 20.0,
        backoff: Backoff | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        names = [s.name for s in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise PlatformError(f"two children are named {', '.join(duplicates)}")
        self.env = dict(os.environ if env is None else env)
        self.log_dir = log_dir
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.backoff = backoff or Backoff()
        self.exports: dict[str, str] = {}
        self._on_event = on_event
        self._listeners: list[Callable[[Event], None]] = []
        self._children = [Child(s, self) for s in specs]
        self._started: list[Child] = []
        self._force = asyncio.Event()

    # -- hooks

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def _emit(self, event: Event) -> None:
        for listener in [*self._listeners, *([self._on_event] if self._on_event else [])]:
            listener(event)

    def child_env(self, name: str) -> dict[str, str]:
        return {**self.env, **self.exports}

    def _child_ready(self, child: Child) -> None:
        var = child.spec.export_url_as
        if var and child.url:
            old = self.exports.get(var)
            self.exports[var] = child.url
            if old and old != child.url:
                self._emit(
                    Event(
                        time.time(),
                        child.spec.name,
                        "warning",
                        f"{var} changed from {old} to {child.url}: "
                        "processes started earlier still use the old URL",
                    )
                )

    # -- lifecycle

    def snapshot(self) -> dict[str, SystemStatus]:
        return {c.spec.name: c.status() for c in self._children}

    def child(self, name: str) -> Child:
        for c in self._children:
            if c.spec.name == name:
                return c
        raise KeyError(name)

    async def start(self) -> None:
        """Start every child; on the first failure stop what runs and raise ChildStartError."""
        for stage in sorted({c.spec.stage for c in self._children}):
            group = [c for c in self._children if c.spec.stage == stage]
            self._started.extend(group)
            results = await asyncio.gather(*(c.start() for c in group), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                await self.stop()
                for err in errors:
                    if not isinstance(err, ChildStartError):
                        raise err
                if len(errors) == 1:
                    raise errors[0]
                raise PlatformError("\n\n".join(str(e) for e in errors))

    def force(self) -> None:
        """Second Ctrl-C: skip the grace period."""
        self._force.set()

    async def stop(self) -> None:
        """SIGTERM every child, later stages first; SIGKILL what is left after the timeout."""
        for stage in sorted({c.spec.stage for c in self._started}, reverse=True):
            group = [c for c in self._started if c.spec.stage == stage]
            await asyncio.gather(*(c.stop(self.stop_timeout, self._force) for c in group))
        self._started = []


# ---------------------------------------------------------------------------------------------
# The whole platform: broker, gateway, children, state file


class _GatewayServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the runner decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise PlatformError(
            f"gateway cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another port with --port or ACME_PORT (0 = any free port)"
        ) from exc
    sock.setblocking(False)
    return sock


def redact(url: str) -> str:
    """A URL without its password, for files and screens."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


BrokerStarter = Callable[[Path, Path | None], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]]


async def start_embedded_nats(
    data_dir: Path, binary: Path | None = None
) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Start nats-server with JetStream under `data_dir/nats`; returns (url, stop).

    The URL is also written to the settings' EMBEDDED_URL_FILE while the server runs, so
    commands started later (`acme dlq replay`) find the broker.
    """
    from acme.runtime.embedded_nats import EmbeddedNats
    from acme.runtime.settings import EMBEDDED_URL_FILE

    server = EmbeddedNats(data_dir / "nats", binary=binary, url_file=data_dir / EMBEDDED_URL_FILE)
    url = await asyncio.to_thread(server.start)

    async def stop() -> None:
        await asyncio.to_thread(server.stop)

    return url, stop


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The supervisor's state file, or None when there is none."""
    path = data_dir / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise PlatformError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise PlatformError(f"{path}: unknown state file format (expected version {STATE_VERSION})")
    state["running"] = isinstance(state.get("pid"), int) and _pid_alive(state["pid"])
    return state


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None


@dataclass
class RunOptions:
    data_dir: Path
    broker_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    ready_timeout: float = 60.0
    stop_timeout: float = 20.0
    backoff: Backoff = field(default_factory=Backoff)
    nats_binary: Path | None = None


class PlatformRunner:
    """Broker, gateway and children for `acme up`, plus the state file for `acme status`."""

    def __init__(
        self,
        options: RunOptions,
        platform: Platform,
        specs: Sequence[ChildSpec] | None = None,
        *,
        on_event: Callable[[Event], None] | None = None,
        start_broker: BrokerStarter = start_embedded_nats,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.options = options
        self.platform = platform
        self.data_dir = options.data_dir.resolve()
        self.table = RouteTable(platform.routes)
        self._specs = list(specs) if specs is not None else child_specs(platform)
        self._env = dict(os.environ if base_env is None else base_env)
        if STRIPE_HOST in [s.name for s in self._specs] and self._env.get("ACME_STRIPE_API_BASE"):
            # Stripe is configured from outside (a real test-mode account): no sandbox.
            self._specs = [s for s in self._specs if s.name != STRIPE_HOST]
        self._on_event = on_event
        self._start_broker = start_broker
        self.supervisor: Supervisor | None = None
        self.broker_url: str | None = None
        self.broker_embedded = False
        self.gateway_url: str | None = None
        self._stop_broker: Callable[[], Awaitable[None]] | None = None
        self._server: _GatewayServer | None = None
        self._server_task: asyncio.Task[None] | None = None
        self._started_at = time.time()

    @property
    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def snapshot(self) -> dict[str, SystemStatus]:
        return self.supervisor.snapshot() if self.supervisor else {}

    def _emit(self, name: str, kind: str, message: str) -> None:
        if self._on_event:
            self._on_event(Event(time.time(), name, kind, message))

    async def start(self) -> None:
        """Bring everything up, or tear down what started and raise PlatformError."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        existing = read_state(self.data_dir)
        if existing and existing["running"] and existing.get("pid") != os.getpid():
            raise PlatformError(
                f"the platform already runs from {self.data_dir} (supervisor pid {existing['pid']},"
                f" gateway {existing.get('gateway')}); stop it first or use another ACME_DATA_DIR"
            )
        try:
            await self._start_broker_step()
            await self._start_gateway()
            self._write_state()
            self.supervisor = Supervisor(
                self._specs,
                env=self._child_env(),
                log_dir=self.data_dir / "logs",
                ready_timeout=self.options.ready_timeout,
                stop_timeout=self.options.stop_timeout,
                backoff=self.options.backoff,
                on_event=self._on_event,
            )
            self.supervisor.subscribe(lambda _event: self._write_state())
            await self.supervisor.start()
        except BaseException:
            await self.stop()
            raise
        self._write_state()

    async def _start_broker_step(self) -> None:
        if self.options.broker_url:
            self.broker_url = self.options.broker_url
            self._emit("broker", "ready", f"using {redact(self.broker_url)}")
            return
        self._emit("broker", "starting", "starting embedded NATS")
        try:
            url, stop = await self._start_broker(self.data_dir, self.options.nats_binary)
        except PlatformError:
            raise
        except Exception as exc:  # the broker module's own errors: say where they came from
            raise PlatformError(
                f"embedded NATS did not start: {type(exc).__name__}: {exc}"
            ) from exc
        self.broker_url, self._stop_broker, self.broker_embedded = url, stop, True
        self._emit("broker", "ready", f"embedded NATS at {url}")

    async def _start_gateway(self) -> None:
        sock = _bind(self.options.host, self.options.port)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.gateway_url = f"http://{shown}:{port}"
        app = create_gateway(self.table, self.snapshot)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
            date_header=False,
        )
        self._server = _GatewayServer(config)
        self._server_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._server_task.done():
                self._server_task.result()
                raise PlatformError(f"gateway on {self.gateway_url} stopped while starting")
            await asyncio.sleep(0.02)
        self._emit("gateway", "ready", f"gateway at {self.gateway_url}")

    def _child_env(self) -> dict[str, str]:
        env = dict(self._env)
        assert self.broker_url is not None and self.gateway_url is not None
        env["ACME_BROKER_URL"] = self.broker_url
        env["ACME_DATA_DIR"] = str(self.data_dir)
        env["ACME_GATEWAY_URL"] = self.gateway_url
        env.setdefault("ACME_STRIPE_WEBHOOK_URL", self.gateway_url + "/webhooks/stripe")
        # Children print their ready line at once, not when a block buffer fills.
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _write_state(self) -> None:
        processes = {}
        for name, status in self.snapshot().items():
            child = self.supervisor.child(name) if self.supervisor else None
            processes[name] = {
                "pid": status.pid,
                "state": status.state,
                "url": status.url,
                "restarts": status.restarts,
                "since": _iso(status.since),
                "log": str(child.log_path) if child and child.log_path else None,
            }
        state = {
            "version": STATE_VERSION,
            "pid": os.getpid(),
            "started_at": _iso(self._started_at),
            "updated_at": _iso(time.time()),
            "data_dir": str(self.data_dir),
            "gateway": self.gateway_url,
            "broker": redact(self.broker_url) if self.broker_url else None,
            "broker_embedded": self.broker_embedded,
            "processes": processes,
        }
        tmp = self.state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_path)

    async def stop(self) -> None:
        """Children first (they drain into the broker), then gateway, then broker."""
        if self.supervisor is not None:
            await self.supervisor.stop()
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server_task, 5.0)
            self._server = None
        if self._stop_broker is not None:
            stop, self._stop_broker = self._stop_broker, None
            try:
                await stop()
            except Exception as exc:
                self._emit("broker", "failed", f"embedded NATS did not stop cleanly: {exc}")
            self._emit("broker", "stopped", "embedded NATS stopped")
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()

    def force(self) -> None:
        if self.supervisor is not None:
            self.supervisor.force()

    async def run(
        self, stop: asyncio.Event | None = None, *, on_started: Callable[[], None] | None = None
    ) -> None:
        """Start, wait for SIGINT/SIGTERM (or `stop`), stop. A second signal skips the grace."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []

        def on_signal() -> None:
            if stop.is_set():
                self.force()
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, on_signal)
                installed.append(sig)
        try:
            start = asyncio.create_task(self.start())
            waiter = asyncio.create_task(stop.wait())
            await asyncio.wait({start, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not start.done():
                # Stopped while starting: abandon the start, then tear down what exists.
                start.cancel()
                with contextlib.suppress(asyncio.CancelledError, PlatformError):
                    await start
                await self.stop()
                return
            waiter.cancel()
            start.result()
            if on_started is not None:
                on_started()
            await stop.wait()
            await self.stop()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
