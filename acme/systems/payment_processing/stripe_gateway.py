"""Acme's two doors to Stripe, both through the official `stripe` SDK.

- `StripeChannel`: the channel adapter of `stripe.api`. The outbox relay hands it each staged
  payment-requested / refund-requested row; it makes the Stripe call with an Idempotency-Key
  derived from the payment or refund id, then records the answer in a payment-worker
  transaction. A retried row (relay back-off, or a crash between the call and the commit)
  repeats the same call with the same key, and Stripe answers with the first result instead
  of charging again. Card declines (HTTP 402) are answers, not failures: they decline the
  payment. Other 4xx answers cannot succeed on retry and fail the payment or refund; network
  errors, 429 and 5xx are raised so that the relay retries.
- `StripeWebhook`: the decoder of `payments.outcomes` (POST /webhooks/stripe). It verifies the
  Stripe-Signature header with `stripe.Webhook.construct_event` and maps the events Acme uses
  to catalog messages whose message id is the Stripe event id, so the inbox drops Stripe's
  retries. Other event types, and events of payments that are not Acme's, are acknowledged.

The correlation id of the message that asked for a charge or refund travels with it: it is put
into the PaymentIntent's or Refund's metadata (`correlation_id`), the synchronous answer is
recorded under it, and the webhook decoder hands it on as the decoded message's correlation-id,
so one checkout or cancellation stays one trace across the round trip through Stripe.

The synchronous answer and the webhook report the same outcome; whichever arrives first
applies it and the other finds nothing left to do (see `PaymentFlow`).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import stripe
from fastapi import Request
from pydantic import BaseModel, ValidationError

from acme.runtime import OutboxRow, SystemApp, WebhookMessage, WebhookRejected
from acme.runtime.wire import CORRELATION_ID
from acme.systems.payment_processing import domain, store
from acme.systems.payment_processing.handlers import WORKER, PaymentFlow
from acme.systems.payment_processing.settings import PaymentSettings
from generated.messages.payment_failed import PaymentFailed
from generated.messages.payment_requested import PaymentRequested
from generated.messages.payment_succeeded import PaymentSucceeded
from generated.messages.refund_processed import RefundProcessed
from generated.messages.refund_requested import RefundRequested
from generated.services.payment_worker import (
    RECEIVE_PAYMENT_FAILED,
    RECEIVE_PAYMENT_SUCCEEDED,
    RECEIVE_REFUND_PROCESSED,
)
from generator.contracts import Incoming

log = logging.getLogger("acme.payments.stripe")

JsonObject = dict[str, Any]

# Stripe accepts metadata values up to 500 characters; a longer id is not carried.
CORRELATION_METADATA = "correlation_id"
_MAX_METADATA_VALUE = 500


def _carried_correlation(value: object) -> str | None:
    """A correlation id fit for Stripe metadata and a message header, else None."""
    if isinstance(value, str) and 0 < len(value) <= _MAX_METADATA_VALUE and value.isprintable():
        return value
    return None


def make_client(settings: PaymentSettings) -> stripe.StripeClient:
    """The SDK client: the local sandbox when ACME_STRIPE_API_BASE is set, else Stripe."""
    options: dict[str, Any] = {}
    if settings.api_base:
        options["base_addresses"] = {"api": settings.api_base.rstrip("/")}
    return stripe.StripeClient(
        settings.api_key.get_secret_value(),
        http_client=stripe.HTTPXClient(timeout=settings.timeout_seconds),
        max_network_retries=settings.max_network_retries,
        **options,
    )


def _error_body(exc: stripe.StripeError) -> JsonObject:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    return error if isinstance(error, dict) else {}


class StripeChannel:
    """`app.channel_adapter("stripe.api", StripeChannel(app, settings))`."""

    def __init__(
        self,
        app: SystemApp,
        settings: PaymentSettings,
        *,
        client: stripe.StripeClient | None = None,
        flow: PaymentFlow | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self._client = client
        self.flow = flow or PaymentFlow()

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    async def __call__(self, row: OutboxRow) -> None:
        correlation_id = _carried_correlation(row.headers.get(CORRELATION_ID))
        if row.message_type == "payment-requested":
            await self.charge(
                PaymentRequested.model_validate_json(row.payload), correlation_id=correlation_id
            )
        elif row.message_type == "refund-requested":
            await self.refund(
                RefundRequested.model_validate_json(row.payload), correlation_id=correlation_id
            )
        else:
            # Holding the row would block every later Stripe call (one subject): log and drop.
            log.error("stripe.api: no Stripe call for %s (%s)", row.message_type, row.message_id)

    # -- charges ---------------------------------------------------------------------------
    async def charge(self, request: PaymentRequested, *, correlation_id: str | None = None) -> None:
        payment_id = str(request.payment_id)
        metadata = {"payment_id": payment_id, "order_id": str(request.order_id)}
        if request.checkout_id is not None:
            metadata["checkout_id"] = str(request.checkout_id)
        if correlation_id is not None:
            metadata[CORRELATION_METADATA] = correlation_id
        params: dict[str, Any] = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "payment_method": request.payment_method or "pm_card_visa",
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": metadata,
            "description": f"Acme order {request.order_id}",
        }
        try:
            intent = await self.client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": domain.charge_idempotency_key(payment_id)},
            )
        except stripe.CardError as exc:
            error = _error_body(exc)
            reason = domain.decline_reason(error.get("code"), error.get("decline_code"))
            failed = error.get("payment_intent")
            failed_id = failed.get("id") if isinstance(failed, dict) else failed
            await self._decline(
                payment_id,
                reason,
                str(error.get("message") or exc),
                failed_id if isinstance(failed_id, str) else None,
                correlation_id,
            )
            return
        except (stripe.InvalidRequestError, stripe.IdempotencyError) as exc:
            # A request Stripe will refuse however often it is sent (unknown payment method,
            # bad amount, a key reused with other parameters): fail the payment.
            log.error("Stripe refused the charge of payment %s: %s", payment_id, exc)
            await self._decline(
                payment_id, "PROCESSING_ERROR", f"Stripe refused: {exc}", None, correlation_id
            )
            return
        status = str(intent.status)
        intent_id = str(intent.id)
        async with self.app.transaction(WORKER, correlation_id=correlation_id) as tx:
            payment = await store.payment_by_id(tx.conn, payment_id)
            if payment is None:
                log.error("charged payment %s is not in payment-database", payment_id)
                return
            await store.set_processor_reference(tx.conn, payment_id, intent_id, tx.now())
            if status == "succeeded":
                await self.flow.succeed(payment, intent_id, tx.now())
            elif status == "requires_payment_method":  # declined without an error answer
                last = intent.last_payment_error
                code = None if last is None else last.code
                decline_code = None if last is None else last.decline_code
                message = None if last is None else last.message
                reason = domain.decline_reason(code, decline_code)
                await self.flow.decline(payment, reason, message or status)
            else:  # processing / requires_action: the webhook tells how it ends
                log.info("payment %s: intent %s is %s", payment_id, intent_id, status)

    async def _decline(
        self,
        payment_id: str,
        reason: domain.CardDeclineReason,
        detail: str,
        intent_id: str | None,
        correlation_id: str | None = None,
    ) -> None:
        async with self.app.transaction(WORKER, correlation_id=correlation_id) as tx:
            payment = await store.payment_by_id(tx.conn, payment_id)
            if payment is None:
                log.error("declined payment %s is not in payment-database", payment_id)
                return
            if intent_id:
                await store.set_processor_reference(tx.conn, payment_id, intent_id, tx.now())
            await self.flow.decline(payment, reason, detail)

    # -- refunds ---------------------------------------------------------------------------
    async def refund(self, request: RefundRequested, *, correlation_id: str | None = None) -> None:
        refund_id = str(request.refund_id)
        if not request.processor_reference:
            async with self.app.transaction(WORKER, correlation_id=correlation_id):
                await self.flow.fail_refund(refund_id, "no PaymentIntent to refund")
            return
        metadata = {"refund_id": refund_id, "payment_id": str(request.payment_id)}
        if request.order_id is not None:
            metadata["order_id"] = str(request.order_id)
        if correlation_id is not None:
            metadata[CORRELATION_METADATA] = correlation_id
        try:
            refund = await self.client.v1.refunds.create_async(
                {
                    "payment_intent": request.processor_reference,
                    "amount": request.amount,
                    "reason": "requested_by_customer",
                    "metadata": metadata,
                },
                {"idempotency_key": domain.refund_idempotency_key(refund_id)},
            )
        except (stripe.InvalidRequestError, stripe.IdempotencyError) as exc:
            async with self.app.transaction(WORKER, correlation_id=correlation_id):
                await self.flow.fail_refund(refund_id, str(exc))
            return
        status, stripe_id = str(refund.status), str(refund.id)
        async with self.app.transaction(WORKER, correlation_id=correlation_id) as tx:
            await store.set_refund_reference(tx.conn, refund_id, stripe_id)
            if status == "succeeded":
                await self.flow.complete_refund(refund_id, stripe_id, tx.now())
            elif status in {"failed", "canceled"}:
                await self.flow.fail_refund(refund_id, f"Stripe refund {stripe_id} is {status}")


# -- webhooks ------------------------------------------------------------------------------


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _when(event: JsonObject) -> datetime:
    created = event.get("created")
    if isinstance(created, int | float):
        return datetime.fromtimestamp(created, UTC)
    return datetime.now(UTC)


# The Stripe events decode_event turns into catalog messages: what Acme's webhook endpoint must
# subscribe to (`enabled_events`; the sandbox's default subscription is this list).
WEBHOOK_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "refund.created",
    "refund.updated",
)


def decode_event(event: JsonObject) -> tuple[Incoming, BaseModel] | None:
    """The catalog message a Stripe event stands for, or None when Acme does not use it.

    `payment_intent.succeeded` -> payment-succeeded; `payment_intent.payment_failed` ->
    payment-failed (decline code mapped to the reason); `refund.created` / `refund.updated`
    with status succeeded -> refund-processed. Ids come from the metadata Acme set."""
    kind = event.get("type")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        return None
    raw_metadata = obj.get("metadata")
    metadata: JsonObject = raw_metadata if isinstance(raw_metadata, dict) else {}
    payment_id = _uuid(metadata.get("payment_id"))
    order_id = _uuid(metadata.get("order_id"))
    when = _when(event)
    currency = str(obj.get("currency") or "").upper()
    if kind in {"payment_intent.succeeded", "payment_intent.payment_failed"}:
        if payment_id is None or order_id is None:
            return None
        if kind == "payment_intent.succeeded":
            return RECEIVE_PAYMENT_SUCCEEDED, PaymentSucceeded(
                payment_id=payment_id,
                order_id=order_id,
                amount=int(obj.get("amount_received") or obj.get("amount") or 0),
                currency=currency,
                processor_reference=str(obj.get("id")),
                succeeded_at=when,
            )
        raw_error = obj.get("last_payment_error")
        error: JsonObject = raw_error if isinstance(raw_error, dict) else {}
        return RECEIVE_PAYMENT_FAILED, PaymentFailed(
            payment_id=payment_id,
            order_id=order_id,
            reason=domain.decline_reason(error.get("code"), error.get("decline_code")),
            failed_at=when,
        )
    if kind in {"refund.created", "refund.updated"} and obj.get("status") == "succeeded":
        refund_id = _uuid(metadata.get("refund_id"))
        if refund_id is None or payment_id is None:
            return None
        return RECEIVE_REFUND_PROCESSED, RefundProcessed(
            refund_id=refund_id,
            payment_id=payment_id,
            order_id=order_id,
            amount=int(obj.get("amount") or 0),
            currency=currency,
            processed_at=when,
        )
    return None


def event_correlation(event: JsonObject) -> str | None:
    """The correlation id Acme put into the metadata of the event's object, if any."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(metadata, dict):
        return None
    return _carried_correlation(metadata.get(CORRELATION_METADATA))


class StripeWebhook:
    """`app.webhook("payments.outcomes", StripeWebhook(settings))`."""

    def __init__(self, settings: PaymentSettings) -> None:
        self.settings = settings

    async def __call__(self, request: Request) -> list[WebhookMessage]:
        payload = await request.body()
        signature = request.headers.get("stripe-signature")
        if not signature:
            raise WebhookRejected("missing Stripe-Signature header")
        try:
            # The SDK's signature check alone: construct_event would also build a StripeObject
            # tree of the whole event that nothing here reads (the body is parsed once below).
            stripe.WebhookSignature.verify_header(
                payload,
                signature,
                self.settings.webhook_secret.get_secret_value(),
                tolerance=self.settings.webhook_tolerance_seconds,
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected(f"Stripe-Signature does not verify: {exc}") from None
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise WebhookRejected(f"the body is not a Stripe event: {exc}") from None
        event_id = event.get("id") if isinstance(event, dict) else None
        if not isinstance(event_id, str) or not event_id:
            raise WebhookRejected("the Stripe event has no id")
        try:
            decoded = decode_event(event)
        except ValidationError as exc:
            # Genuine but not mappable: a 4xx would only make Stripe retry it for days.
            log.error(
                "Stripe event %s (%s) does not fit the catalog: %s",
                event_id,
                event.get("type"),
                exc,
            )
            return []
        if decoded is None:
            log.debug("Stripe event %s (%s) is not used by Acme", event_id, event.get("type"))
            return []
        incoming, message = decoded
        # Without one (an intent created elsewhere) the runtime falls back to the event id.
        correlation_id = event_correlation(event)
        headers = {CORRELATION_ID: correlation_id} if correlation_id else None
        return [WebhookMessage(incoming, message, event_id, headers)]
