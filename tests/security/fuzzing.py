"""Drive the in-process systems from schemathesis's synchronous test cases.

The systems (SQLAlchemy engines, NATS connections, relays) live in one asyncio event loop, so
they run in a background thread that owns that loop for the whole module. Schemathesis sends
requests through a `requests.Session`; `LoopBridge` is that session's transport adapter and
hands each request to the system's own httpx ASGI client inside the loop, then converts the
answer back. Nothing listens on a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import Awaitable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import httpx
import requests
import requests.adapters
import urllib3
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPHeaderDict

from tests.security.platform import Platform, cheap_argon2

__all__ = ["BASE_URL", "BackgroundPlatform", "LoopBridge"]

BASE_URL = "http://test"
T = TypeVar("T")


class LoopBridge(requests.adapters.BaseAdapter):
    """A requests transport that answers from an httpx ASGI client living in `loop`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> None:
        super().__init__()
        self.loop = loop
        self.client = client

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        body = request.body
        if isinstance(body, str):
            body = body.encode()
        elif body is not None and not isinstance(body, bytes):
            # A multipart encoder's chunks (the catalog's APIs take JSON, but be general).
            body = b"".join(c.encode() if isinstance(c, str) else c for c in body)  # type: ignore[union-attr]
        headers = [(name, str(value)) for name, value in request.headers.items()]
        call = self.client.request(
            request.method or "GET", request.url or "/", headers=headers, content=body
        )
        answer = asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=60)
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers)
        # Schemathesis reads the headers (repeated ones too) and HTTP version off `raw`.
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(answer.content),
            headers=HTTPHeaderDict(answer.headers.multi_items()),
            status=answer.status_code,
            version=11,
            preload_content=False,
        )
        response._content = answer.content
        response.encoding = answer.encoding
        response.reason = answer.reason_phrase
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


class BackgroundPlatform:
    """A `Platform` whose event loop runs in a daemon thread until `close`."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="security-systems", daemon=True)
        self._argon2 = cheap_argon2()
        self._argon2.__enter__()
        self._thread.start()
        self.platform = Platform(data_dir)
        self._sessions: dict[str, requests.Session] = {}
        self._clients = contextlib.AsyncExitStack()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coroutine: Coroutine[Any, Any, T] | Awaitable[T], timeout: float = 120) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]
        return future.result(timeout=timeout)

    def session(self, host_id: str) -> requests.Session:
        """A requests session whose every request reaches `host_id`'s HTTP app."""
        if host_id not in self._sessions:
            self._sessions[host_id] = self.run(self._session(host_id))
        return self._sessions[host_id]

    async def _session(self, host_id: str) -> requests.Session:
        system = await self.platform.system(host_id)
        # Unlike the harness's client, answer an unhandled error with its 500 response
        # instead of raising it here: a 5xx is what the fuzz checks look for.
        transport = httpx.ASGITransport(app=system.app.http_app, raise_app_exceptions=False)
        client = await self._clients.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        )
        session = requests.Session()
        session.mount(BASE_URL, LoopBridge(self.loop, client))
        return session

    def close(self) -> None:
        try:
            self.run(self._clients.aclose())
            self.run(self.platform.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=30)
            self.loop.close()
            self._argon2.__exit__(None, None, None)
