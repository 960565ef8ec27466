"""Webhook delivery: signed POSTs of Event objects, retried with back-off, in order per intent.

Signature (what `stripe.Webhook.construct_event` checks): header
`Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by the secret>`.

Each ordering key (the payment intent an event belongs to) has its own queue and worker, so the
events of one intent are delivered one after the other, a failing delivery holding back the later
ones until it succeeds or runs out of attempts, while different intents do not wait for each
other. Events are in the store before they are queued; the store says which are still pending,
so a restarted sandbox resumes their delivery. Delivery is at least once, like Stripe's: a
receiver deduplicates by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable

import httpx

from acme.simulators.stripe.faults import Faults
from acme.simulators.stripe.settings import SandboxSettings
from acme.simulators.stripe.store import EventRecord, SandboxStore

log = logging.getLogger("acme.simulators.stripe.webhooks")

# A worker whose queue stayed empty this long ends; the next event starts a new one.
_IDLE_S = 5.0


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header value for `payload`."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{ts}.".encode() + payload, hashlib.sha256)
    return f"t={ts},v1={mac.hexdigest()}"


class WebhookSender:
    def __init__(self, store: SandboxStore, settings: SandboxSettings, faults: Faults) -> None:
        self._store = store
        self._faults = faults
        self.url = settings.webhook_url
        self.secret = settings.webhook_secret
        self.enabled_events = settings.webhook_event_types
        self._max_attempts = settings.webhook_max_attempts
        self._base_s = settings.webhook_retry_base_ms / 1000
        self._max_s = settings.webhook_retry_max_ms / 1000
        self._reorder_window_s = settings.reorder_window_ms / 1000
        self._timeout_s = settings.webhook_timeout_s
        self._queues: dict[str, asyncio.Queue[EventRecord]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None
        self._running = False
        self.posts = 0  # every POST, successful or not, duplicates included

    def configure(
        self, url: str | None, secret: str | None, enabled_events: Iterable[str] | None = None
    ) -> None:
        self.url = url
        if secret is not None:
            self.secret = secret
        if enabled_events is not None:
            self.enabled_events = tuple(enabled_events)

    def wants(self, event_type: str) -> bool:
        """Whether the endpoint subscribes to `event_type` (Stripe's `enabled_events`)."""
        return "*" in self.enabled_events or event_type in self.enabled_events

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._timeout_s)
        self._running = True
        self.submit(self._store.events(status="pending"))

    async def stop(self) -> None:
        self._running = False
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self._queues.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def submit(self, events: Iterable[EventRecord]) -> None:
        """Queue committed events; called right after the transaction that stored them."""
        if not self._running:
            return  # picked up from the store by start()
        for event in events:
            if event.status != "pending":
                continue  # not subscribed: stored for GET /v1/events, never sent
            queue = self._queues.get(event.ordering_key)
            if queue is None:
                queue = asyncio.Queue()
                self._queues[event.ordering_key] = queue
            queue.put_nowait(event)
            if event.ordering_key not in self._workers:
                self._workers[event.ordering_key] = asyncio.create_task(
                    self._work(event.ordering_key, queue),
                    name=f"webhooks-{event.ordering_key}",
                )

    async def _work(self, key: str, queue: asyncio.Queue[EventRecord]) -> None:
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), _IDLE_S)
                except TimeoutError:
                    if queue.empty():  # no await between this check and the removal
                        del self._workers[key]
                        del self._queues[key]
                        return
                    continue
                overtaking: EventRecord | None = None
                if self._faults.reorder_webhook():
                    # Hold this event back until the next one of the same intent went first.
                    with contextlib.suppress(TimeoutError):
                        overtaking = await asyncio.wait_for(queue.get(), self._reorder_window_s)
                if overtaking is not None:
                    await self._deliver(overtaking)
                await self._deliver(event)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not silently stop deliveries of this intent
            log.exception("webhook worker for %s crashed", key)
            self._workers.pop(key, None)
            self._queues.pop(key, None)

    async def _deliver(self, event: EventRecord) -> None:
        url = self.url
        if not url:
            self._store.record_delivery(event.id, status="no_endpoint")
            return
        payload = json.dumps(event.body, indent=2).encode("utf-8")
        for attempt in range(1, self._max_attempts + 1):
            error = await self._post(url, payload)
            if error is None:
                self._store.record_delivery(event.id, status="delivered", attempts=1, deliveries=1)
                if self._faults.duplicate_webhook() and await self._post(url, payload) is None:
                    self._store.record_delivery(event.id, status="delivered", deliveries=1)
                return
            last = attempt == self._max_attempts
            self._store.record_delivery(
                event.id, status="failed" if last else "pending", attempts=1, error=error
            )
            log.info("webhook %s (%s) attempt %d failed: %s", event.id, event.type, attempt, error)
            if not last:
                await asyncio.sleep(min(self._base_s * 2 ** (attempt - 1), self._max_s))
        log.warning("webhook %s (%s) given up after %d attempts", event.id, event.type, attempt)

    async def _post(self, url: str, payload: bytes) -> str | None:
        """One POST; None on a 2xx answer, else what went wrong."""
        assert self._client is not None
        self.posts += 1
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "AcmeStripeSandbox/1.0 (webhooks)",
            # Signed per attempt: the timestamp is the time of sending, as Stripe does.
            "Stripe-Signature": sign(payload, self.secret),
        }
        try:
            response = await self._client.post(url, content=payload, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"
