"""What the sandbox does with each API call: PaymentIntents, Charges, Refunds and their Events.

Operations are synchronous and run inside one store transaction opened by the caller, which also
records the idempotency answer; they raise `StripeApiError` for error answers. An error marked
`idempotent` (a card decline, a capture in the wrong state) is an answer of an endpoint that ran:
its state changes are kept and the answer is saved for the key, as Stripe does.

Status machine of a PaymentIntent (the subset Stripe uses for server-side card payments):

    requires_payment_method --(payment_method set)--> requires_confirmation
    requires_confirmation --confirm--> succeeded            (capture_method automatic)
                                    \\-> requires_capture    (capture_method manual)
                                    \\-> requires_payment_method   (declined, last_payment_error)
    requires_capture --capture--> succeeded
    requires_payment_method | requires_confirmation | requires_capture --cancel--> canceled
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from acme.simulators.stripe.cards import TEST_CARDS, SandboxCard
from acme.simulators.stripe.errors import (
    StripeApiError,
    invalid,
    no_such,
    unexpected_state,
)
from acme.simulators.stripe.forms import (
    Params,
    get_bool,
    get_enum,
    get_expand,
    get_int,
    get_metadata,
    get_str,
    merge_metadata,
    reject_unknown,
)
from acme.simulators.stripe.store import EventRecord, JsonObject, SandboxStore

MAX_AMOUNT = 99_999_999
_ALPHABET = string.ascii_letters + string.digits

# Accepted so that ordinary client code works, but without effect in the sandbox.
_IGNORED_CONFIRM_PARAMS = {
    "return_url",
    "off_session",
    "setup_future_usage",
    "error_on_requires_action",
    "payment_method_types",
    "payment_method_options",
    "mandate_data",
    "use_stripe_sdk",
}
_PI_CREATE_PARAMS = {
    "amount",
    "currency",
    "payment_method",
    "confirm",
    "capture_method",
    "confirmation_method",
    "metadata",
    "description",
    "receipt_email",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "automatic_payment_methods",
    "expand",
    *_IGNORED_CONFIRM_PARAMS,
}
_PI_UPDATE_PARAMS = {
    "amount",
    "currency",
    "payment_method",
    "capture_method",
    "metadata",
    "description",
    "receipt_email",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "expand",
    "payment_method_types",
}
_PI_CONFIRM_PARAMS = {"payment_method", "capture_method", "receipt_email", "expand"} | (
    _IGNORED_CONFIRM_PARAMS
)
_PI_CAPTURE_PARAMS = {
    "amount_to_capture",
    "metadata",
    "expand",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "final_capture",
}
_PI_CANCEL_PARAMS = {"cancellation_reason", "expand"}
_REFUND_CREATE_PARAMS = {
    "payment_intent",
    "charge",
    "amount",
    "reason",
    "metadata",
    "expand",
    "instructions_email",
}
_CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
_CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
_CANCELABLE = (
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "requires_capture",
    "processing",
)
_CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
_REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
_LIST_PARAMS = {"limit", "starting_after", "ending_before", "expand"}


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _now() -> int:
    return int(time.time())


@dataclass
class Call:
    """Who asked: carried into the `request` field of the events the call causes."""

    api_version: str
    request_id: str
    idempotency_key: str | None
    events: list[EventRecord] = field(default_factory=list)


Operation = Callable[[Call, Params], JsonObject]


class Engine:
    def __init__(self, store: SandboxStore, delivers: Callable[[str], bool] | None = None) -> None:
        self.store = store
        # Whether the webhook endpoint subscribes to an event type (its `enabled_events`).
        self.delivers: Callable[[str], bool] = delivers or (lambda _type: True)

    # --- PaymentIntents --------------------------------------------------------------------------

    def create_payment_intent(self, call: Call, params: Params) -> JsonObject:
        reject_unknown(params, _PI_CREATE_PARAMS)
        amount = get_int(params, "amount", required=True, minimum=1, maximum=MAX_AMOUNT)
        currency = _currency(params, required=True)
        payment_method = self._payment_method_param(params)
        confirm = get_bool(params, "confirm")
        capture_method = get_enum(params, "capture_method", _CAPTURE_METHODS, default="automatic")
        get_enum(params, "confirmation_method", ("automatic", "manual"))
        metadata = merge_metadata({}, get_metadata(params))
        description = get_str(params, "description", max_length=1000)
        expand = get_expand(params)
        _check_payment_method_types(params)
        if confirm and payment_method is None:
            raise invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "Pass payment_method with confirm=true.",
                param="payment_method",
                code="parameter_missing",
            )

        intent_id = new_id("pi_")
        intent: JsonObject = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture_method,
            "client_secret": f"{intent_id}_secret_{new_id('', 25)}",
            "confirmation_method": params.get("confirmation_method", "automatic"),
            "created": _now(),
            "currency": currency,
            "customer": None,
            "description": description,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": metadata,
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": payment_method,
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": get_str(params, "receipt_email", max_length=800),
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "source": None,
            "statement_descriptor": get_str(params, "statement_descriptor", max_length=22),
            "statement_descriptor_suffix": get_str(
                params, "statement_descriptor_suffix", max_length=22
            ),
            "status": "requires_confirmation" if payment_method else "requires_payment_method",
            "transfer_data": None,
            "transfer_group": None,
        }
        self._save_intent(intent)
        self._emit(call, "payment_intent.created", intent, intent_id)
        if confirm:
            assert payment_method is not None
            self._charge(call, intent, payment_method)
        return self.expand_intent(intent, expand)

    def retrieve_payment_intent(self, call: Call, params: Params, intent_id: str) -> JsonObject:
        reject_unknown(params, {"expand", "client_secret"})
        return self.expand_intent(self._intent(intent_id), get_expand(params))

    def update_payment_intent(self, call: Call, params: Params, intent_id: str) -> JsonObject:
        reject_unknown(params, _PI_UPDATE_PARAMS)
        intent = self._intent(intent_id)
        amount = get_int(params, "amount", minimum=1, maximum=MAX_AMOUNT)
        currency = _currency(params, required=False)
        payment_method = self._payment_method_param(params)
        capture_method = get_enum(params, "capture_method", _CAPTURE_METHODS)
        metadata = get_metadata(params)
        description = get_str(params, "description", max_length=1000)
        expand = get_expand(params)
        _check_payment_method_types(params)
        changes_payment = any(
            value is not None for value in (amount, currency, payment_method, capture_method)
        )
        if changes_payment and intent["status"] not in (
            "requires_payment_method",
            "requires_confirmation",
        ):
            raise unexpected_state(
                f"This PaymentIntent's amount, currency, payment_method or capture_method could "
                f"not be updated because it has a status of {intent['status']}."
            )
        if amount is not None:
            intent["amount"] = amount
        if currency is not None:
            intent["currency"] = currency
        if capture_method is not None:
            intent["capture_method"] = capture_method
        if payment_method is not None:
            intent["payment_method"] = payment_method
            intent["status"] = "requires_confirmation"
        intent["metadata"] = merge_metadata(intent["metadata"], metadata)
        if description is not None:
            intent["description"] = description
        for name in ("receipt_email", "statement_descriptor", "statement_descriptor_suffix"):
            if name in params:
                intent[name] = get_str(params, name, max_length=800)
        self._save_intent(intent)
        return self.expand_intent(intent, expand)

    def confirm_payment_intent(self, call: Call, params: Params, intent_id: str) -> JsonObject:
        reject_unknown(params, _PI_CONFIRM_PARAMS)
        intent = self._intent(intent_id)
        payment_method = self._payment_method_param(params) or intent["payment_method"]
        capture_method = get_enum(params, "capture_method", _CAPTURE_METHODS)
        receipt_email = get_str(params, "receipt_email", max_length=800)
        expand = get_expand(params)
        if intent["status"] not in _CONFIRMABLE:
            raise unexpected_state(
                f"This PaymentIntent's status is {intent['status']}, but must be one of "
                f"{', '.join(_CONFIRMABLE)} to be confirmed."
            )
        if payment_method is None:
            raise invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "Pass payment_method or update the PaymentIntent with one first.",
                param="payment_method",
                code="parameter_missing",
            )
        if capture_method is not None:
            intent["capture_method"] = capture_method
        if receipt_email is not None:
            intent["receipt_email"] = receipt_email
        self._charge(call, intent, payment_method)
        return self.expand_intent(intent, expand)

    def capture_payment_intent(self, call: Call, params: Params, intent_id: str) -> JsonObject:
        reject_unknown(params, _PI_CAPTURE_PARAMS)
        intent = self._intent(intent_id)
        amount = get_int(params, "amount_to_capture", minimum=1, maximum=MAX_AMOUNT)
        metadata = get_metadata(params)
        expand = get_expand(params)
        if intent["status"] != "requires_capture":
            raise unexpected_state(
                f"This PaymentIntent could not be captured because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
                f"may be captured: requires_capture."
            )
        capturable = int(intent["amount_capturable"])
        if amount is None:
            amount = capturable
        if amount > capturable:
            raise StripeApiError(
                400,
                f"The amount_to_capture ({amount}) is greater than the amount capturable "
                f"({capturable}) of this PaymentIntent.",
                param="amount_to_capture",
                code="amount_too_large",
                idempotent=True,
            )
        charge = self._charge_of(intent)
        charge.update(captured=True, amount_captured=amount)
        self.store.put("charge", charge, payment_intent=intent_id)
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        intent["metadata"] = merge_metadata(intent["metadata"], metadata)
        self._save_intent(intent)
        self.store.bump(intent_id, "captures")
        self.store.bump(intent_id, "amount_captured", amount)
        self._emit(call, "charge.captured", charge, intent_id)
        self._emit(
            call,
            "payment_intent.succeeded",
            intent,
            intent_id,
            previous={"status": "requires_capture", "amount_capturable": capturable},
        )
        return self.expand_intent(intent, expand)

    def cancel_payment_intent(self, call: Call, params: Params, intent_id: str) -> JsonObject:
        reject_unknown(params, _PI_CANCEL_PARAMS)
        intent = self._intent(intent_id)
        reason = get_enum(params, "cancellation_reason", _CANCELLATION_REASONS)
        expand = get_expand(params)
        if intent["status"] not in _CANCELABLE:
            raise unexpected_state(
                f"You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
                f"may be canceled: {', '.join(_CANCELABLE)}."
            )
        previous_status = intent["status"]
        if previous_status == "requires_capture":
            # The authorization is released: Stripe shows it as a refund of the uncaptured charge.
            charge = self._charge_of(intent)
            charge.update(refunded=True, amount_refunded=charge["amount"])
            self.store.put("charge", charge, payment_intent=intent_id)
        intent.update(
            status="canceled",
            canceled_at=_now(),
            cancellation_reason=reason,
            amount_capturable=0,
        )
        self._save_intent(intent)
        self._emit(
            call, "payment_intent.canceled", intent, intent_id, previous={"status": previous_status}
        )
        return self.expand_intent(intent, expand)

    def list_payment_intents(self, call: Call, params: Params) -> JsonObject:
        return self._list(params, "payment_intent", "/v1/payment_intents", self.expand_intent)

    # --- Charges and PaymentMethods (read-only) --------------------------------------------------

    def retrieve_charge(self, call: Call, params: Params, charge_id: str) -> JsonObject:
        reject_unknown(params, {"expand"})
        charge = self.store.get("charge", charge_id)
        if charge is None:
            raise no_such("charge", charge_id)
        return self.expand_charge(charge, get_expand(params))

    def list_charges(self, call: Call, params: Params) -> JsonObject:
        return self._list(params, "charge", "/v1/charges", self.expand_charge, by_intent=True)

    def retrieve_payment_method(self, call: Call, params: Params, pm_id: str) -> JsonObject:
        reject_unknown(params, {"expand"})
        card = TEST_CARDS.get(pm_id)
        if card is None:
            raise no_such("PaymentMethod", pm_id)
        return card.payment_method_object(_now())

    # --- Refunds ---------------------------------------------------------------------------------

    def create_refund(self, call: Call, params: Params) -> JsonObject:
        reject_unknown(params, _REFUND_CREATE_PARAMS)
        intent_id = get_str(params, "payment_intent", max_length=255)
        charge_id = get_str(params, "charge", max_length=255)
        amount = get_int(params, "amount", minimum=1, maximum=MAX_AMOUNT)
        reason = get_enum(params, "reason", _REFUND_REASONS)
        metadata = merge_metadata({}, get_metadata(params))
        get_str(params, "instructions_email", max_length=800)
        expand = get_expand(params)
        if (intent_id is None) == (charge_id is None):
            raise invalid(
                "Exactly one of payment_intent or charge must be given to create a refund.",
                param="payment_intent",
            )
        if intent_id is not None:
            intent = self.store.get("payment_intent", intent_id)
            if intent is None:
                raise no_such("payment_intent", intent_id, param="payment_intent")
            if intent["status"] != "succeeded" or intent["latest_charge"] is None:
                raise unexpected_state(
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to "
                    f"refund: its status is {intent['status']}."
                )
            charge = self._charge_of(intent)
        else:
            assert charge_id is not None
            found = self.store.get("charge", charge_id)
            if found is None:
                raise no_such("charge", charge_id, param="charge")
            charge = found
            if charge["status"] != "succeeded" or not charge["captured"]:
                raise StripeApiError(
                    400,
                    f"Charge {charge_id} has no captured amount to refund.",
                    param="charge",
                    code="charge_not_refundable",
                    idempotent=True,
                )
        intent_id = charge["payment_intent"]
        remaining = int(charge["amount_captured"]) - int(charge["amount_refunded"])
        if remaining <= 0:
            raise StripeApiError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
                idempotent=True,
            )
        if amount is None:
            amount = remaining
        if amount > remaining:
            raise StripeApiError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining}).",
                param="amount",
                code="amount_too_large",
                idempotent=True,
            )
        refund: JsonObject = {
            "id": new_id("re_"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": None,
            "charge": charge["id"],
            "created": _now(),
            "currency": charge["currency"],
            "destination_details": {"card": {"type": "refund"}, "type": "card"},
            "metadata": metadata,
            "payment_intent": intent_id,
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": None,
        }
        self.store.put("refund", refund, payment_intent=intent_id)
        previous_refunded = charge["amount_refunded"]
        charge["amount_refunded"] = int(charge["amount_refunded"]) + amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self.store.put("charge", charge, payment_intent=intent_id)
        self.store.bump(intent_id, "refunds")
        self.store.bump(intent_id, "amount_refunded", amount)
        self._emit(call, "refund.created", refund, intent_id)
        self._emit(
            call,
            "charge.refunded",
            charge,
            intent_id,
            previous={"amount_refunded": previous_refunded, "refunded": False},
        )
        return self.expand_refund(refund, expand)

    def retrieve_refund(self, call: Call, params: Params, refund_id: str) -> JsonObject:
        reject_unknown(params, {"expand"})
        return self.expand_refund(self._refund(refund_id), get_expand(params))

    def update_refund(self, call: Call, params: Params, refund_id: str) -> JsonObject:
        reject_unknown(params, {"metadata", "expand"})
        refund = self._refund(refund_id)
        metadata = get_metadata(params)
        expand = get_expand(params)
        previous = dict(refund["metadata"])
        refund["metadata"] = merge_metadata(previous, metadata)
        self.store.put("refund", refund, payment_intent=refund["payment_intent"])
        if refund["metadata"] != previous:
            self._emit(
                call,
                "refund.updated",
                refund,
                refund["payment_intent"],
                previous={"metadata": previous},
            )
        return self.expand_refund(refund, expand)

    def list_refunds(self, call: Call, params: Params) -> JsonObject:
        return self._list(params, "refund", "/v1/refunds", self.expand_refund, by_intent=True)

    # --- Events ----------------------------------------------------------------------------------

    def retrieve_event(self, call: Call, params: Params, event_id: str) -> JsonObject:
        reject_unknown(params, set())
        record = self.store.get_event(event_id)
        if record is None:
            raise no_such("event", event_id)
        return record.body

    def list_events(self, call: Call, params: Params) -> JsonObject:
        reject_unknown(params, {"limit", "type"})
        limit = get_int(params, "limit", minimum=1, maximum=100) or 10
        event_type = get_str(params, "type", max_length=100)
        records = self.store.events(type=event_type, limit=limit + 1, newest_first=True)
        return {
            "object": "list",
            "data": [record.body for record in records[:limit]],
            "has_more": len(records) > limit,
            "url": "/v1/events",
        }

    # --- expansion -------------------------------------------------------------------------------

    def expand_intent(self, intent: JsonObject, expand: list[str]) -> JsonObject:
        return self._expand(
            intent,
            expand,
            {
                "latest_charge": lambda charge_id: self.store.get("charge", charge_id),
                "payment_method": _payment_method_object,
            },
        )

    def expand_charge(self, charge: JsonObject, expand: list[str]) -> JsonObject:
        return self._expand(
            charge,
            expand,
            {
                "payment_intent": lambda pi: self.store.get("payment_intent", pi),
                "payment_method": _payment_method_object,
            },
        )

    def expand_refund(self, refund: JsonObject, expand: list[str]) -> JsonObject:
        return self._expand(
            refund,
            expand,
            {
                "charge": lambda charge_id: self.store.get("charge", charge_id),
                "payment_intent": lambda pi: self.store.get("payment_intent", pi),
            },
        )

    @staticmethod
    def _expand(
        obj: JsonObject,
        expand: list[str],
        resolvers: Mapping[str, Callable[[str], JsonObject | None]],
    ) -> JsonObject:
        if not expand:
            return obj
        result = dict(obj)
        for path in expand:
            resolver = resolvers.get(path)
            if resolver is None:
                raise invalid(f"This property cannot be expanded ({path}).", param="expand")
            if isinstance(result.get(path), str):
                result[path] = resolver(result[path]) or result[path]
        return result

    # --- internals -------------------------------------------------------------------------------

    def _intent(self, intent_id: str) -> JsonObject:
        intent = self.store.get("payment_intent", intent_id)
        if intent is None:
            raise no_such("payment_intent", intent_id)
        return intent

    def _refund(self, refund_id: str) -> JsonObject:
        refund = self.store.get("refund", refund_id)
        if refund is None:
            raise no_such("refund", refund_id)
        return refund

    def _charge_of(self, intent: JsonObject) -> JsonObject:
        charge = self.store.get("charge", intent["latest_charge"])
        if charge is None:  # only if the data file was edited by hand
            raise StripeApiError(
                500,
                f"Charge {intent['latest_charge']} of {intent['id']} is missing.",
                type="api_error",
            )
        return charge

    def _save_intent(self, intent: JsonObject) -> None:
        self.store.put("payment_intent", intent, payment_intent=intent["id"])

    def _payment_method_param(self, params: Params) -> str | None:
        payment_method = get_str(params, "payment_method", max_length=255)
        if payment_method is not None and payment_method not in TEST_CARDS:
            raise no_such("PaymentMethod", payment_method, param="payment_method")
        return payment_method

    def _charge(self, call: Call, intent: JsonObject, payment_method: str) -> None:
        """Confirm: one charge attempt with the card's documented outcome."""
        card = TEST_CARDS[payment_method]
        intent_id = intent["id"]
        automatic = intent["capture_method"] != "manual"
        amount = int(intent["amount"])
        previous_status = intent["status"]
        decline = card.decline
        charge: JsonObject = {
            "id": new_id("ch_"),
            "object": "charge",
            "amount": amount,
            "amount_captured": amount if automatic and decline is None else 0,
            "amount_refunded": 0,
            "balance_transaction": None,
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "captured": automatic and decline is None,
            "created": _now(),
            "currency": intent["currency"],
            "description": intent["description"],
            "disputed": False,
            "failure_code": None if decline is None else decline.code,
            "failure_message": None if decline is None else decline.message,
            "livemode": False,
            "metadata": dict(intent["metadata"]),
            "outcome": _outcome(card),
            "paid": decline is None,
            "payment_intent": intent_id,
            "payment_method": payment_method,
            "payment_method_details": {"card": card.card_details(), "type": "card"},
            "receipt_email": intent["receipt_email"],
            "receipt_url": None,
            "refunded": False,
            "status": "succeeded" if decline is None else "failed",
        }
        self.store.put("charge", charge, payment_intent=intent_id)
        self.store.bump(intent_id, "charges")
        intent["latest_charge"] = charge["id"]

        if decline is None:
            intent["payment_method"] = payment_method
            intent["last_payment_error"] = None
            if automatic:
                intent.update(status="succeeded", amount_received=amount)
                self.store.bump(intent_id, "captures")
                self.store.bump(intent_id, "amount_captured", amount)
            else:
                intent.update(status="requires_capture", amount_capturable=amount)
            self._save_intent(intent)
            self._emit(call, "charge.succeeded", charge, intent_id)
            if automatic:
                self._emit(
                    call,
                    "payment_intent.succeeded",
                    intent,
                    intent_id,
                    previous={"status": previous_status},
                )
            else:
                self._emit(
                    call,
                    "payment_intent.amount_capturable_updated",
                    intent,
                    intent_id,
                    previous={"status": previous_status, "amount_capturable": 0},
                )
            return

        error = StripeApiError(
            402,
            decline.message,
            type="card_error",
            code=decline.code,
            decline_code=decline.decline_code,
            idempotent=True,
        )
        last_error = error.body()["error"]
        last_error.update(
            charge=charge["id"], payment_method=card.payment_method_object(charge["created"])
        )
        # Stripe detaches the failed payment method: the shopper must supply another one.
        intent.update(
            status="requires_payment_method", payment_method=None, last_payment_error=last_error
        )
        self._save_intent(intent)
        self._emit(call, "charge.failed", charge, intent_id)
        self._emit(
            call,
            "payment_intent.payment_failed",
            intent,
            intent_id,
            previous={"status": previous_status},
        )
        error.extra = {
            "charge": charge["id"],
            "payment_intent": intent,
            "payment_method": last_error["payment_method"],
        }
        raise error

    def _emit(
        self,
        call: Call,
        event_type: str,
        obj: JsonObject,
        ordering_key: str,
        *,
        previous: JsonObject | None = None,
    ) -> None:
        subscribed = self.delivers(event_type)
        data: JsonObject = {"object": obj}
        if previous is not None:
            data["previous_attributes"] = previous
        event: JsonObject = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": call.api_version,
            "created": _now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if subscribed else 0,
            "request": {"id": call.request_id, "idempotency_key": call.idempotency_key},
            "type": event_type,
        }
        # An event no endpoint subscribes to is kept (GET /v1/events lists it) but never sent.
        status = "pending" if subscribed else "not_enabled"
        call.events.append(self.store.add_event(event, ordering_key, status))

    def _list(
        self,
        params: Params,
        kind: str,
        url: str,
        expander: Callable[[JsonObject, list[str]], JsonObject],
        *,
        by_intent: bool = False,
    ) -> JsonObject:
        allowed = _LIST_PARAMS | ({"payment_intent", "charge"} if by_intent else set())
        reject_unknown(params, allowed)
        limit = get_int(params, "limit", minimum=1, maximum=100) or 10
        expand = [path.removeprefix("data.") for path in get_expand(params)]
        intent_id = get_str(params, "payment_intent", max_length=255)
        if "ending_before" in params:
            raise invalid("ending_before is not supported by the sandbox.", param="ending_before")
        before_seq: int | None = None
        starting_after = get_str(params, "starting_after", max_length=255)
        if starting_after is not None:
            before_seq = self.store.seq_of(kind, starting_after)
            if before_seq is None:
                raise no_such(kind, starting_after, param="starting_after")
        rows = self.store.list_objects(
            kind, payment_intent=intent_id, limit=limit + 1, before_seq=before_seq
        )
        charge_id = get_str(params, "charge", max_length=255)
        if charge_id is not None:
            rows = [row for row in rows if row.get("charge") == charge_id]
        return {
            "object": "list",
            "data": [expander(row, expand) for row in rows[:limit]],
            "has_more": len(rows) > limit,
            "url": url,
        }


def _currency(params: Params, *, required: bool) -> str | None:
    currency = get_str(params, "currency", required=required, max_length=10)
    if currency is None:
        return None
    if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
        raise invalid(
            f"Invalid currency: {currency}. Use a three-letter ISO currency code.",
            param="currency",
        )
    return currency.lower()


def _check_payment_method_types(params: Params) -> None:
    types = params.get("payment_method_types")
    if types is None:
        return
    if not isinstance(types, list) or any(item != "card" for item in types):
        raise invalid(
            "The sandbox only supports payment_method_types=['card'].",
            param="payment_method_types",
        )


def _payment_method_object(pm_id: str) -> JsonObject | None:
    card = TEST_CARDS.get(pm_id)
    return None if card is None else card.payment_method_object(_now())


def _outcome(card: SandboxCard) -> JsonObject:
    if card.decline is None:
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "network_status": "declined_by_network",
        "reason": card.decline.decline_code,
        "risk_level": "normal",
        "seller_message": "The bank did not return any further details with this decline.",
        "type": card.decline.outcome_type,
    }


__all__ = ["Call", "Engine", "Operation", "new_id"]
