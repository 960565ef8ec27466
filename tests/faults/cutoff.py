"""A TCP relay between the platform and a shared broker, which can cut it off for a while.

A shared broker server cannot be restarted by a test (others use it). What a restart looks
like to its clients can still be produced: every connection drops at once, and new ones are
refused until the server is back. `BrokerCutoff` listens on a free local port and relays each
connection to the broker; `outage(seconds)` closes every relayed connection, stops listening
(so connecting fails with "connection refused"), waits, and listens again on the same port.
The platform's processes are given the relay's URL instead of the broker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from urllib.parse import urlsplit, urlunsplit

__all__ = ["BrokerCutoff", "relayable"]

log = logging.getLogger("tests.faults.cutoff")
DEFAULT_PORTS = {"nats": 4222, "amqp": 5672, "redis": 6379, "kafka": 9092}
CHUNK = 65536


def relayable(url: str) -> str | None:
    """Why `url`'s broker cannot be cut off through a relay, or None when it can."""
    scheme = urlsplit(url).scheme
    if scheme == "kafka":
        # The bootstrap server answers with the brokers' advertised addresses, and clients
        # then connect there directly: a relay in front of the bootstrap cuts nothing.
        return (
            "a Kafka client connects to the addresses the broker advertises, not to the "
            "bootstrap address given to it, so a relay cannot cut it off from the broker"
        )
    if "," in (urlsplit(url).netloc or ""):
        return f"{url} names several servers; the relay stands for one"
    return None


class BrokerCutoff:
    """Relay 127.0.0.1:<port> -> the broker of `url`; `outage()` cuts every client off."""

    def __init__(self, url: str) -> None:
        reason = relayable(url)
        if reason is not None:
            raise ValueError(reason)
        parts = urlsplit(url)
        if parts.hostname is None:
            raise ValueError(f"broker URL {url!r} names no host")
        self.url = url
        self.target = (parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme, 0))
        if not self.target[1]:
            raise ValueError(f"broker URL {url!r} names no port and its scheme has no default")
        self.port = 0
        self.outages = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def relay_url(self) -> str:
        """`url` with the relay's address in place of the broker's (credentials kept)."""
        parts = urlsplit(self.url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = (auth + "@" if auth else "") + f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def start(self) -> str:
        """Start listening (on a free port the first time, the same port after); the relay URL."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, sock=sock)
        return self.relay_url

    async def stop(self) -> None:
        """Stop listening and drop every relayed connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                transport = writer.transport
                transport.abort()  # a reset, as when a server process dies
        for task in list(self._pipes):
            task.cancel()
        if self._pipes:
            await asyncio.gather(*self._pipes, return_exceptions=True)
        self._pipes.clear()
        self._writers.clear()

    async def outage(self, downtime: float) -> None:
        """Cut every client off, refuse connections for `downtime` seconds, then relay again."""
        await self.stop()
        await asyncio.sleep(downtime)
        await self.start()
        self.outages += 1

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError as exc:
            log.warning("relay cannot reach the broker at %s:%s: %s", *self.target, exc)
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink, (writer, up_writer)))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while data := await source.read(CHUNK):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # one side gone: the other goes too, as with a direct connection
            for writer in pair:
                self._writers.discard(writer)
                with contextlib.suppress(Exception):
                    writer.transport.abort()
