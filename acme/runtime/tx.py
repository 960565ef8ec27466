"""The unit of work a handler runs in: one database transaction plus the messages it stages.

`current()` returns the active `Tx` inside a message handler (the runtime opens it together
with the inbox row) or inside `async with app.transaction(...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from acme.runtime.errors import RuntimeStateError
from generator.contracts import MessageContext, Outbox, ServiceSpec

if TYPE_CHECKING:
    from acme.runtime.outbox import PendingRow, TxOutbox

__all__ = ["Tx", "current"]

P = TypeVar("P")

_current: ContextVar[Tx | None] = ContextVar("acme_current_tx", default=None)


@dataclass(eq=False)
class Tx:
    """An open transaction of one service on its primary data store.

    Attributes:
        service: the catalog spec of the service the work belongs to.
        store: id of the data store `conn` is connected to.
        conn: SQLAlchemy AsyncConnection inside the transaction; use it for every write.
        correlation_id: the business flow this work belongs to (copied to every message sent).
        causation_id: id of the message that caused this work, if any.
        context: delivery metadata when the work handles a message, else None.
    """

    service: ServiceSpec
    store: str
    conn: AsyncConnection
    correlation_id: str
    causation_id: str | None
    traceparent: str | None
    context: MessageContext | None
    clock: Callable[[], datetime]
    outbox: TxOutbox = field(init=False)
    staged: int = 0  # outbox rows written in this transaction
    pending: list[PendingRow] = field(default_factory=list)  # the same rows, for the relay

    def publisher(self, publisher_class: Callable[[Outbox], P]) -> P:
        """The generated publisher (e.g. `OrderServicePublisher`) bound to this transaction."""
        return publisher_class(self.outbox)

    def now(self) -> datetime:
        return self.clock()


def current() -> Tx:
    """The transaction of the running handler (raises outside of one)."""
    tx = _current.get()
    if tx is None:
        raise RuntimeStateError(
            "no active transaction: current() works inside a message handler or an "
            "`async with app.transaction(service_id)` block"
        )
    return tx


def current_or_none() -> Tx | None:
    return _current.get()


def bind(tx: Tx | None) -> object:
    return _current.set(tx)


def unbind(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
