"""The runtime every Acme system runs on: one process per system, FastStream underneath.

A system package (``acme/systems/<system>/__init__.py``, or ``acme/simulators/<name>``) exposes
``create(app)``; the process entry (``python -m acme.runtime.process --system <id>``) builds
a `SystemApp` for that host from ``generated.catalog``, calls ``create(app)``, checks the
registered objects against the generated contracts and runs them::

    from acme.runtime import SystemApp, current

    def create(app: SystemApp) -> None:
        app.handle("order-service", OrderServiceImpl(app))      # <Service>Handlers Protocol
        app.serve("order-service", OrderHttpImpl(app))          # <Service>HttpHandlers Protocol
        app.every(30.0, archive_old_orders)                     # async () -> None
        app.webhook("payments.outcomes", decode_stripe_event)   # Request -> [WebhookMessage]
        app.channel_adapter("stripe.api", deliver_to_stripe)    # async (OutboxRow) -> None

    class OrderServiceImpl:
        async def on_create_order(self, message: CreateOrder, context: MessageContext) -> None:
            tx = current()                    # opened by the runtime with the inbox row
            await tx.conn.execute(...)        # SQLAlchemy AsyncConnection, same transaction
            await tx.publisher(OrderServicePublisher).order_created(OrderCreated(...))

    # HTTP handlers open their own transaction (correlation id from the request):
    async with app.transaction("order-service", correlation_id=request.correlation_id) as tx:
        ...

Guarantees: a handler's writes, its inbox row and the messages it publishes commit together;
the broker message is acknowledged only after that commit; a duplicate delivery (same
message-id) is acknowledged without running the handler; a failing handler is retried with
exponential back-off (`ACME_MAX_ATTEMPTS`), then dead-lettered; invalid messages (JSON,
schema, major version) are dead-lettered at once. Raise `PermanentFailure` to dead-letter
without retrying. Delivery is at least once: handlers must only have effects through
`tx.conn` and the publisher (or be idempotent by message id, like a channel adapter).

Configuration: `Settings` (env prefix ``ACME_``). Default broker is the embedded NATS the
supervisor starts; ``ACME_BROKER_URL`` picks nats/amqp/redis/kafka, ``ACME_DATABASE_URL``
(with ``{store}``) a server database instead of SQLite files.
"""

from acme.runtime.app import SystemApp, WebhookMessage
from acme.runtime.auth import issue_token
from acme.runtime.errors import (
    ConfigurationError,
    PermanentFailure,
    RemoteError,
    RequestTimeout,
    WebhookRejected,
)
from acme.runtime.outbox import OutboxRow
from acme.runtime.settings import Settings
from acme.runtime.tx import Tx, current

__all__ = [
    "ConfigurationError",
    "OutboxRow",
    "PermanentFailure",
    "RemoteError",
    "RequestTimeout",
    "Settings",
    "SystemApp",
    "Tx",
    "WebhookMessage",
    "WebhookRejected",
    "current",
    "issue_token",
]
