"""Message handlers of the Checkout System: checkout-api opens sessions, checkout-orchestrator
runs the saga (implements CheckoutApiHandlers and CheckoutOrchestratorHandlers)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from acme.runtime import PermanentFailure, SystemApp, Tx, current
from acme.systems.checkout import store
from acme.systems.checkout.domain import (
    STEP_OF,
    Action,
    CheckoutStatus,
    FailureReason,
    Reply,
    Shortage,
    Step,
    StepStatus,
    clip,
    decide,
    decline_reason,
    shortage_detail,
    timeout_reason,
)
from generated.messages.authorize_payment import AuthorizePayment
from generated.messages.cancel_order import CancelOrder
from generated.messages.cart_checked_out import CartCheckedOut
from generated.messages.checkout_completed import CheckoutCompleted
from generated.messages.checkout_failed import CheckoutFailed
from generated.messages.checkout_started import (
    CheckoutStarted,
    CheckoutStartedDeliveryAddress,
    CheckoutStartedItem,
)
from generated.messages.create_order import CreateOrder, CreateOrderDeliveryAddress, CreateOrderItem
from generated.messages.inventory_reserved import InventoryReserved
from generated.messages.inventory_unavailable import InventoryUnavailable
from generated.messages.order_created import OrderCreated
from generated.messages.payment_authorized import PaymentAuthorized
from generated.messages.payment_declined import PaymentDeclined
from generated.messages.release_inventory import ReleaseInventory
from generated.messages.reserve_inventory import ReserveInventory, ReserveInventoryItem
from generated.services.checkout_api import CheckoutApiPublisher
from generated.services.checkout_orchestrator import CheckoutOrchestratorPublisher
from generator.contracts import MessageContext

__all__ = ["CheckoutApiMessages", "CheckoutOrchestrator", "CheckoutSettings"]

CHECKOUT_DATABASE = "checkout-database"
ORCHESTRATOR = "checkout-orchestrator"
DEFAULT_PAYMENT_METHOD = "pm_card_visa"

logger = logging.getLogger("acme.checkout")


class CheckoutSettings(BaseSettings):
    """Saga timing (environment: ACME_CHECKOUT_STEP_TIMEOUT_SECONDS, ...)."""

    model_config = SettingsConfigDict(env_prefix="ACME_CHECKOUT_", extra="ignore")

    step_timeout_seconds: float = Field(default=60.0, gt=0, description="Deadline per step.")
    sweep_interval_seconds: float = Field(default=5.0, gt=0, description="Deadline sweep.")
    sweep_batch_size: int = Field(default=100, ge=1)


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


class CheckoutApiMessages:
    """checkout-api: a checkout session per cart-checked-out, announced with checkout-started."""

    def __init__(self, settings: CheckoutSettings) -> None:
        self.settings = settings

    async def on_cart_checked_out(self, message: CartCheckedOut, context: MessageContext) -> None:
        tx = current()
        checkout_id = str(message.event_id)
        cart_id = str(message.cart_id)
        if await store.get_checkout(tx.conn, checkout_id) is not None:
            return  # the same checkout announced again: already open
        running = await store.active_for_cart(tx.conn, cart_id)
        if running is not None:
            logger.warning(
                "cart %s checked out again (%s) while checkout %s is running: ignored",
                cart_id,
                checkout_id,
                running,
            )
            return
        items: dict[str, store.ItemRow] = {}
        for line in message.items:
            product_id = str(line.product_id)
            if product_id in items:
                raise PermanentFailure(
                    f"cart-checked-out {checkout_id} lists product {product_id} twice"
                )
            items[product_id] = store.ItemRow(product_id, line.sku, line.quantity, line.unit_price)
        now = tx.now()
        order_id = str(uuid.uuid4())  # allocated now: reservation, payment and order share it
        payment_method = message.payment_method or DEFAULT_PAYMENT_METHOD
        address = (
            message.delivery_address.model_dump(mode="json", by_alias=True, exclude_none=True)
            if message.delivery_address is not None
            else None
        )
        await store.insert_checkout(
            tx.conn,
            {
                "checkout_id": checkout_id,
                "order_id": order_id,
                "cart_id": cart_id,
                "customer_id": str(message.customer_id),
                "status": CheckoutStatus.STARTED.value,
                "subtotal_cents": message.subtotal,
                "discount_cents": message.discount,
                "total_cents": message.total,
                "currency": message.currency,
                "payment_method": payment_method,
                "delivery_address": address,
                "deadline_at": now + timedelta(seconds=self.settings.step_timeout_seconds),
                "started_at": now,
                "updated_at": now,
            },
            list(items.values()),
        )
        await tx.publisher(CheckoutApiPublisher).checkout_started(
            CheckoutStarted(
                checkout_id=message.event_id,
                order_id=uuid.UUID(order_id),
                cart_id=message.cart_id,
                customer_id=message.customer_id,
                items=[
                    CheckoutStartedItem(
                        product_id=line.product_id,
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                        sku=line.sku,
                    )
                    for line in message.items
                ],
                subtotal=message.subtotal,
                discount=message.discount,
                total=message.total,
                currency=message.currency,
                payment_method=payment_method,
                delivery_address=(
                    CheckoutStartedDeliveryAddress.model_validate(address) if address else None
                ),
                started_at=now,
            ),
            key=checkout_id,
        )


class CheckoutOrchestrator:
    """checkout-orchestrator: each reply moves one checkout one step, in one transaction with
    the next command; failures and late replies are compensated exactly once."""

    def __init__(self, app: SystemApp, settings: CheckoutSettings) -> None:
        self.app = app
        self.settings = settings

    def _deadline(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.step_timeout_seconds)

    # -- step 0: the session is open -------------------------------------------------------
    async def on_checkout_started(self, message: CheckoutStarted, context: MessageContext) -> None:
        tx = current()
        checkout = await store.get_checkout(tx.conn, str(message.checkout_id))
        if checkout is None:
            logger.warning("checkout-started for unknown checkout %s", message.checkout_id)
            return
        now = tx.now()
        deadline = self._deadline(now)
        moved = await store.transition(
            tx.conn,
            checkout.checkout_id,
            CheckoutStatus.STARTED,
            status=CheckoutStatus.RESERVING_INVENTORY.value,
            deadline_at=deadline,
            updated_at=now,
        )
        if not moved:
            return  # already running (duplicate) or failed by the sweep
        items = await store.get_items(tx.conn, checkout.checkout_id)
        sent = await tx.publisher(CheckoutOrchestratorPublisher).reserve_inventory(
            ReserveInventory(
                cart_id=uuid.UUID(checkout.cart_id),
                customer_id=uuid.UUID(checkout.customer_id),
                items=[
                    ReserveInventoryItem(product_id=uuid.UUID(i.product_id), quantity=i.quantity)
                    for i in items
                ],
                checkout_id=uuid.UUID(checkout.checkout_id),
                order_id=uuid.UUID(checkout.order_id),
            ),
            key=f"reserve-inventory:{checkout.checkout_id}",
        )
        # The command is staged first so that the step's row is written once, with its id.
        await store.start_step(
            tx.conn,
            checkout.checkout_id,
            Step.RESERVE_INVENTORY,
            now=now,
            deadline=deadline,
            command_message_id=sent,
        )

    # -- step 1: stock ---------------------------------------------------------------------
    async def on_inventory_reserved(
        self, message: InventoryReserved, context: MessageContext
    ) -> None:
        tx = current()
        checkout = await self._find(tx, message.checkout_id, message.order_id, "inventory-reserved")
        if checkout is None:
            return
        reservation_id = str(message.reservation_id)
        if checkout.reservation_id not in (None, reservation_id):
            # A second hold for one checkout (the stock service answered twice): give it back.
            logger.warning(
                "checkout %s got a second reservation %s (has %s): releasing it",
                checkout.checkout_id,
                reservation_id,
                checkout.reservation_id,
            )
            await self._send_release(tx, reservation_id)
            return
        action = decide(checkout.status, Reply.INVENTORY_RESERVED)
        if action is Action.COMPENSATE:
            logger.info(
                "reservation %s arrived after checkout %s failed: releasing it",
                reservation_id,
                checkout.checkout_id,
            )
            await store.transition(
                tx.conn,
                checkout.checkout_id,
                CheckoutStatus.FAILED,
                reservation_id=reservation_id,
                updated_at=tx.now(),
            )
            await self._release(tx, checkout.checkout_id, reservation_id)
            return
        if action is not Action.ADVANCE:
            self._ignored(checkout, Reply.INVENTORY_RESERVED)
            return
        now = tx.now()
        deadline = self._deadline(now)
        if not await store.transition(
            tx.conn,
            checkout.checkout_id,
            CheckoutStatus.RESERVING_INVENTORY,
            status=CheckoutStatus.AUTHORIZING_PAYMENT.value,
            reservation_id=reservation_id,
            deadline_at=deadline,
            updated_at=now,
        ):
            return
        await store.finish_step(
            tx.conn, checkout.checkout_id, Step.RESERVE_INVENTORY, StepStatus.SUCCEEDED, now=now
        )
        sent = await tx.publisher(CheckoutOrchestratorPublisher).authorize_payment(
            AuthorizePayment(
                cart_id=uuid.UUID(checkout.cart_id),
                customer_id=uuid.UUID(checkout.customer_id),
                amount=checkout.total_cents,
                currency=checkout.currency,
                checkout_id=uuid.UUID(checkout.checkout_id),
                order_id=uuid.UUID(checkout.order_id),
                payment_method=checkout.payment_method,
            ),
            key=f"authorize-payment:{checkout.checkout_id}",
        )
        await store.start_step(
            tx.conn,
            checkout.checkout_id,
            Step.AUTHORIZE_PAYMENT,
            now=now,
            deadline=deadline,
            command_message_id=sent,
        )

    async def on_inventory_unavailable(
        self, message: InventoryUnavailable, context: MessageContext
    ) -> None:
        tx = current()
        checkout = await self._find(
            tx, message.checkout_id, message.order_id, "inventory-unavailable"
        )
        if checkout is None:
            return
        if decide(checkout.status, Reply.INVENTORY_UNAVAILABLE) is not Action.FAIL:
            self._ignored(checkout, Reply.INVENTORY_UNAVAILABLE)
            return
        detail = shortage_detail(
            Shortage(str(i.product_id), i.requested, i.available) for i in message.unavailable_items
        )
        await self._fail(
            tx, checkout, FailureReason.OUT_OF_STOCK, detail, step_status=StepStatus.FAILED
        )

    # -- step 2: payment -------------------------------------------------------------------
    async def on_payment_authorized(
        self, message: PaymentAuthorized, context: MessageContext
    ) -> None:
        tx = current()
        checkout = await self._find(tx, message.checkout_id, message.order_id, "payment-authorized")
        if checkout is None:
            return
        if decide(checkout.status, Reply.PAYMENT_AUTHORIZED) is not Action.ADVANCE:
            # After a failure the Payment Worker refunds on its own (it receives checkout-failed).
            self._ignored(checkout, Reply.PAYMENT_AUTHORIZED)
            return
        if message.amount != checkout.total_cents or message.currency != checkout.currency:
            logger.warning(
                "checkout %s: payment %s authorized %d %s, the checkout charges %d %s",
                checkout.checkout_id,
                message.payment_id,
                message.amount,
                message.currency,
                checkout.total_cents,
                checkout.currency,
            )
        now = tx.now()
        deadline = self._deadline(now)
        if not await store.transition(
            tx.conn,
            checkout.checkout_id,
            CheckoutStatus.AUTHORIZING_PAYMENT,
            status=CheckoutStatus.CREATING_ORDER.value,
            payment_id=str(message.payment_id),
            processor_reference=message.processor_reference,
            deadline_at=deadline,
            updated_at=now,
        ):
            return
        await store.finish_step(
            tx.conn, checkout.checkout_id, Step.AUTHORIZE_PAYMENT, StepStatus.SUCCEEDED, now=now
        )
        items = await store.get_items(tx.conn, checkout.checkout_id)
        address = checkout.delivery_address
        sent = await tx.publisher(CheckoutOrchestratorPublisher).create_order(
            CreateOrder(
                cart_id=uuid.UUID(checkout.cart_id),
                customer_id=uuid.UUID(checkout.customer_id),
                items=[
                    CreateOrderItem(
                        product_id=uuid.UUID(i.product_id),
                        quantity=i.quantity,
                        unit_price=i.unit_price_cents,
                        sku=i.sku,
                    )
                    for i in items
                ],
                total=checkout.total_cents,
                currency=checkout.currency,
                payment_authorization_id=message.processor_reference,
                checkout_id=uuid.UUID(checkout.checkout_id),
                order_id=uuid.UUID(checkout.order_id),
                inventory_reservation_id=_uuid(checkout.reservation_id),
                delivery_address=(
                    CreateOrderDeliveryAddress.model_validate(address) if address else None
                ),
            ),
            key=f"create-order:{checkout.checkout_id}",
        )
        await store.start_step(
            tx.conn,
            checkout.checkout_id,
            Step.CREATE_ORDER,
            now=now,
            deadline=deadline,
            command_message_id=sent,
        )

    async def on_payment_declined(self, message: PaymentDeclined, context: MessageContext) -> None:
        tx = current()
        checkout = await self._find(tx, message.checkout_id, message.order_id, "payment-declined")
        if checkout is None:
            return
        if decide(checkout.status, Reply.PAYMENT_DECLINED) is not Action.FAIL:
            self._ignored(checkout, Reply.PAYMENT_DECLINED)
            return
        reason = decline_reason(message.reason)
        detail = f"Payment declined ({message.reason})"
        if message.detail:
            detail += f": {message.detail}"
        await self._fail(tx, checkout, reason, clip(detail), step_status=StepStatus.FAILED)

    # -- step 3: order ---------------------------------------------------------------------
    async def on_order_created(self, message: OrderCreated, context: MessageContext) -> None:
        tx = current()
        checkout = await self._find(tx, None, message.order_id, "order-created")
        if checkout is None:
            return
        action = decide(checkout.status, Reply.ORDER_CREATED)
        now = tx.now()
        if action is Action.COMPENSATE:
            await self._cancel_late_order(tx, checkout)
            return
        if action is not Action.ADVANCE:
            self._ignored(checkout, Reply.ORDER_CREATED)
            return
        if not await store.transition(
            tx.conn,
            checkout.checkout_id,
            CheckoutStatus.CREATING_ORDER,
            status=CheckoutStatus.COMPLETED.value,
            completed_at=now,
            updated_at=now,
        ):
            return
        await store.finish_step(
            tx.conn, checkout.checkout_id, Step.CREATE_ORDER, StepStatus.SUCCEEDED, now=now
        )
        await tx.publisher(CheckoutOrchestratorPublisher).checkout_completed(
            CheckoutCompleted(
                checkout_id=uuid.UUID(checkout.checkout_id),
                order_id=uuid.UUID(checkout.order_id),
                cart_id=uuid.UUID(checkout.cart_id),
                completed_at=now,
            ),
            key=f"checkout-completed:{checkout.checkout_id}",
        )

    # -- deadlines -------------------------------------------------------------------------
    async def sweep(self) -> int:
        """Fail every checkout whose current step is overdue; returns how many were failed."""
        now = self.app.clock()
        async with self.app.store(CHECKOUT_DATABASE).connect() as conn:
            due = await store.overdue(conn, now, self.settings.sweep_batch_size)
        failed = 0
        for checkout_id, _status in due:
            async with self.app.transaction(ORCHESTRATOR, correlation_id=checkout_id) as tx:
                checkout = await store.get_checkout(tx.conn, checkout_id)
                if checkout is None or checkout.deadline_at > tx.now():
                    continue
                if checkout.status not in STEP_OF and checkout.status != CheckoutStatus.STARTED:
                    continue  # finished while we were looking
                step = STEP_OF.get(CheckoutStatus(checkout.status))
                waited = f"{self.settings.step_timeout_seconds:g}s"
                detail = (
                    f"No answer to {step.value} within {waited}"
                    if step is not None
                    else f"The saga did not start within {waited}"
                )
                reason = timeout_reason(checkout.status)
                if await self._fail(tx, checkout, reason, detail, StepStatus.TIMED_OUT):
                    failed += 1
        return failed

    # -- helpers ---------------------------------------------------------------------------
    async def _find(
        self, tx: Tx, checkout_id: uuid.UUID | None, order_id: uuid.UUID | None, what: str
    ) -> store.CheckoutRow | None:
        """Replies name their checkout by checkoutId when they carry it, else by orderId."""
        checkout = None
        if checkout_id is not None:
            checkout = await store.get_checkout(tx.conn, str(checkout_id))
        elif order_id is not None:
            checkout = await store.get_checkout_by_order(tx.conn, str(order_id))
        if checkout is None:
            logger.info(
                "%s for unknown checkout (checkoutId %s, orderId %s): acknowledged",
                what,
                checkout_id,
                order_id,
            )
        return checkout

    def _ignored(self, checkout: store.CheckoutRow, reply: Reply) -> None:
        logger.info(
            "checkout %s is %s: %s ignored", checkout.checkout_id, checkout.status, reply.value
        )

    async def _fail(
        self,
        tx: Tx,
        checkout: store.CheckoutRow,
        reason: FailureReason,
        detail: str,
        step_status: StepStatus,
    ) -> bool:
        """Fail a running checkout: status, step, compensation and checkout-failed together."""
        now = tx.now()
        if not await store.transition(
            tx.conn,
            checkout.checkout_id,
            checkout.status,
            status=CheckoutStatus.FAILED.value,
            failure_reason=reason.value,
            failure_detail=clip(detail),
            completed_at=now,
            updated_at=now,
        ):
            return False
        step = STEP_OF.get(CheckoutStatus(checkout.status))
        if step is not None:
            await store.finish_step(
                tx.conn, checkout.checkout_id, step, step_status, now=now, detail=clip(detail)
            )
        if checkout.reservation_id is not None:
            await self._release(tx, checkout.checkout_id, checkout.reservation_id)
        await tx.publisher(CheckoutOrchestratorPublisher).checkout_failed(
            CheckoutFailed(
                checkout_id=uuid.UUID(checkout.checkout_id),
                cart_id=uuid.UUID(checkout.cart_id),
                order_id=uuid.UUID(checkout.order_id),
                reason=reason.value,
                detail=clip(detail),
                failed_at=now,
            ),
            key=f"checkout-failed:{checkout.checkout_id}",
        )
        logger.info("checkout %s failed: %s (%s)", checkout.checkout_id, reason.value, detail)
        return True

    async def _release(self, tx: Tx, checkout_id: str, reservation_id: str) -> None:
        """Compensation: release the checkout's reservation, once (the RELEASE_INVENTORY step
        row guards it; the message id derived from the reservation guards the outbox)."""
        now = tx.now()
        if not await store.start_step(
            tx.conn, checkout_id, Step.RELEASE_INVENTORY, now=now, deadline=None
        ):
            return
        sent = await self._send_release(tx, reservation_id)
        # Nothing answers a release: the step is done once the command is in the outbox.
        await store.finish_step(
            tx.conn,
            checkout_id,
            Step.RELEASE_INVENTORY,
            StepStatus.SUCCEEDED,
            now=now,
            detail=f"reservation {reservation_id} released",
            command_message_id=sent,
        )

    async def _send_release(self, tx: Tx, reservation_id: str) -> str:
        return await tx.publisher(CheckoutOrchestratorPublisher).release_inventory(
            ReleaseInventory(reservation_id=uuid.UUID(reservation_id), reason="CHECKOUT_FAILED"),
            key=f"release-inventory:{reservation_id}",
        )

    async def _cancel_late_order(self, tx: Tx, checkout: store.CheckoutRow) -> None:
        now = tx.now()
        if not await store.start_step(
            tx.conn, checkout.checkout_id, Step.CANCEL_ORDER, now=now, deadline=None
        ):
            return
        logger.info(
            "order %s was created after checkout %s failed: cancelling it",
            checkout.order_id,
            checkout.checkout_id,
        )
        sent = await tx.publisher(CheckoutOrchestratorPublisher).cancel_order(
            CancelOrder(order_id=uuid.UUID(checkout.order_id), reason="PAYMENT_FAILED"),
            key=f"cancel-order:{checkout.order_id}",
        )
        await store.finish_step(
            tx.conn,
            checkout.checkout_id,
            Step.CANCEL_ORDER,
            StepStatus.SUCCEEDED,
            now=now,
            detail="late order cancelled",
            command_message_id=sent,
        )


def periodic(orchestrator: CheckoutOrchestrator) -> Callable[[], Awaitable[None]]:
    async def sweep_deadlines() -> None:
        await orchestrator.sweep()

    return sweep_deadlines
