"""The Stripe sandbox, driven by the unmodified official `stripe` SDK over real HTTP.

The sandbox runs under uvicorn in a background thread (one per module, reset before each test);
webhooks go to a small receiving server that checks every delivery with
`stripe.Webhook.construct_event`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
import uvicorn

from acme.simulators.stripe import DEFAULT_WEBHOOK_SECRET, SandboxSettings, create_app
from acme.simulators.stripe.errors import StripeApiError
from acme.simulators.stripe.forms import decode_form

API_KEY = "sk_test_acme_sandbox_tests"
REPO = Path(__file__).resolve().parents[2]


# --- harness -------------------------------------------------------------------------------------


class ThreadedUvicorn:
    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        wait_until(lambda: self.server.started, "uvicorn did not start")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll until `condition()` is truthy; a deadline only turns a hang into a clear failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out: {what}")


class Receiver:
    """Webhook endpoint that verifies signatures the way a Stripe integration does."""

    def __init__(self, secret: str = DEFAULT_WEBHOOK_SECRET) -> None:
        self.secret = secret
        self.fail_next = 0  # answer 500 to this many deliveries first
        self.events: list[stripe.Event] = []  # verified deliveries, in arrival order
        self.rejected: list[str] = []  # signature failures
        self.posts = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                payload = self.rfile.read(int(self.headers["Content-Length"]))
                signature = self.headers.get("Stripe-Signature")
                status = receiver.handle(payload, signature)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/stripe"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def handle(self, payload: bytes, signature: str | None) -> int:
        with self.lock:
            self.posts += 1
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500
            try:
                event = stripe.Webhook.construct_event(payload, signature, self.secret)
            except (stripe.SignatureVerificationError, ValueError) as exc:
                self.rejected.append(str(exc))
                return 400
            self.events.append(event)
            return 200

    def types_for(self, intent_id: str) -> list[str]:
        with self.lock:
            return [e.type for e in self.events if _intent_of(e) == intent_id]

    def ids_for(self, intent_id: str) -> list[str]:
        with self.lock:
            return [e.id for e in self.events if _intent_of(e) == intent_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _intent_of(event: stripe.Event) -> str:
    obj = event.data.object
    return str(obj["id"] if obj["object"] == "payment_intent" else obj["payment_intent"])


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    settings = SandboxSettings(
        in_memory=True,
        webhook_url=None,
        webhook_secret=DEFAULT_WEBHOOK_SECRET,
        webhook_max_attempts=4,
        webhook_retry_base_ms=20,
        webhook_retry_max_ms=100,
        reorder_window_ms=300,
    )
    with ThreadedUvicorn(create_app(settings)) as url:
        yield url


@pytest.fixture
def admin(sandbox_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_url, timeout=10) as http:
        http.post("/_sandbox/reset").raise_for_status()
        http.post("/_sandbox/webhook", json={"url": None}).raise_for_status()
        yield http
        http.delete("/_sandbox/faults").raise_for_status()


@pytest.fixture
def client(sandbox_url: str, admin: httpx.Client) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": sandbox_url}, max_network_retries=0)


@pytest.fixture
def receiver(admin: httpx.Client) -> Iterator[Receiver]:
    hook = Receiver()
    # Every event, so that the tests see the sandbox's whole event stream.
    admin.post(
        "/_sandbox/webhook",
        json={"url": hook.url, "secret": DEFAULT_WEBHOOK_SECRET, "enabled_events": ["*"]},
    ).raise_for_status()
    yield hook
    hook.close()


def state(admin: httpx.Client) -> dict[str, Any]:
    response = admin.get("/_sandbox/state")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def pay(client: stripe.StripeClient, pm: str = "pm_card_visa", **extra: Any) -> Any:
    params = {"amount": 2500, "currency": "usd", "payment_method": pm, "confirm": True, **extra}
    return client.v1.payment_intents.create(params=params)  # type: ignore[arg-type]


def replay_header(obj: stripe.StripeObject) -> str | None:
    assert obj.last_response is not None
    return obj.last_response.headers.get("Idempotent-Replayed")


def error_of(exc: stripe.StripeError) -> stripe.ErrorObject:
    assert exc.error is not None
    return exc.error


def declined_intent(exc: stripe.StripeError) -> stripe.PaymentIntent:
    intent = error_of(exc).payment_intent
    assert intent is not None
    return intent


# --- payments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pm", "brand"), [("pm_card_visa", "visa"), ("pm_card_mastercard", "mastercard")]
)
def test_confirmed_payment_succeeds_and_is_captured_once(
    client: stripe.StripeClient, admin: httpx.Client, pm: str, brand: str
) -> None:
    intent = pay(client, pm, metadata={"order_id": "ord_1", "cart": "c 7"}, description="Order 1")

    assert intent.object == "payment_intent"
    assert (intent.status, intent.amount_received, intent.amount_capturable) == (
        "succeeded",
        2500,
        0,
    )
    assert intent.metadata.to_dict() == {"order_id": "ord_1", "cart": "c 7"}
    assert intent.description == "Order 1"
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.status, charge.captured, charge.amount_captured) == ("succeeded", True, 2500)
    assert charge["payment_method_details"]["card"]["brand"] == brand
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    assert state(admin)["counts"][intent.id] == {
        "charges": 1,
        "captures": 1,
        "refunds": 0,
        "amount_captured": 2500,
        "amount_refunded": 0,
    }


def test_create_then_confirm_walks_the_status_machine(client: stripe.StripeClient) -> None:
    intent = client.v1.payment_intents.create(params={"amount": 999, "currency": "EUR"})
    assert (intent.status, intent.currency) == ("requires_payment_method", "eur")
    intent = client.v1.payment_intents.update(intent.id, params={"payment_method": "pm_card_visa"})
    assert intent.status == "requires_confirmation"
    intent = client.v1.payment_intents.confirm(intent.id)
    assert intent.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.confirm(intent.id)
    assert refused.value.code == "payment_intent_unexpected_state"


@pytest.mark.parametrize(
    ("pm", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", "processing_error"),
    ],
)
def test_declines_are_card_errors_and_the_intent_can_be_retried(
    client: stripe.StripeClient, admin: httpx.Client, pm: str, code: str, decline_code: str
) -> None:
    with pytest.raises(stripe.CardError) as declined:
        pay(client, pm)

    error = declined.value
    assert (error.http_status, error.code, error_of(error).type) == (402, code, "card_error")
    assert error_of(error).decline_code == decline_code
    failed = declined_intent(error)
    assert failed.status == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == code
    assert client.v1.charges.retrieve(str(failed.latest_charge)).status == "failed"

    retried = client.v1.payment_intents.confirm(
        failed.id, params={"payment_method": "pm_card_visa"}
    )
    assert retried.status == "succeeded"
    counts = state(admin)["counts"][failed.id]
    assert (counts["charges"], counts["captures"]) == (2, 1)


def test_unknown_payment_method_is_resource_missing(
    client: stripe.StripeClient, admin: httpx.Client
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        pay(client, "pm_card_doesNotExist")
    assert (missing.value.http_status, missing.value.code) == (400, "resource_missing")
    assert missing.value.param == "payment_method"
    assert state(admin)["payment_intents"] == []


def test_manual_capture_happens_once(client: stripe.StripeClient, admin: httpx.Client) -> None:
    intent = pay(client, capture_method="manual")
    assert (intent.status, intent.amount_capturable, intent.amount_received) == (
        "requires_capture",
        2500,
        0,
    )

    captured = client.v1.payment_intents.capture(intent.id)
    assert (captured.status, captured.amount_received) == ("succeeded", 2500)
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.payment_intents.capture(intent.id)
    assert twice.value.code == "payment_intent_unexpected_state"
    assert state(admin)["counts"][intent.id]["captures"] == 1


def test_partial_capture_limits_refunds(client: stripe.StripeClient) -> None:
    intent = pay(client, capture_method="manual")
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 2501})
    assert too_much.value.param == "amount_to_capture"

    captured = client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 1500})
    assert (captured.amount_received, captured.amount_capturable) == (1500, 0)
    with pytest.raises(stripe.InvalidRequestError) as over:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1501})
    assert (over.value.code, over.value.param) == ("amount_too_large", "amount")
    assert client.v1.refunds.create(params={"payment_intent": intent.id}).amount == 1500


def test_cancel_releases_an_authorization_and_blocks_capture(client: stripe.StripeClient) -> None:
    intent = pay(client, capture_method="manual")
    canceled = client.v1.payment_intents.cancel(
        intent.id, params={"cancellation_reason": "requested_by_customer"}
    )
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "requested_by_customer")
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.capture(intent.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.cancel(pay(client).id)  # succeeded cannot be canceled


def test_full_refund_then_nothing_left(client: stripe.StripeClient, admin: httpx.Client) -> None:
    intent = pay(client)
    refund = client.v1.refunds.create(
        params={
            "payment_intent": intent.id,
            "reason": "requested_by_customer",
            "metadata": {"r": "1"},
        }
    )
    assert (refund.status, refund.amount, refund.payment_intent) == ("succeeded", 2500, intent.id)
    assert client.v1.refunds.retrieve(refund.id)["metadata"]["r"] == "1"
    assert client.v1.charges.retrieve(intent.latest_charge).refunded is True
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert again.value.code == "charge_already_refunded"
    assert state(admin)["counts"][intent.id]["amount_refunded"] == 2500


def test_partial_refunds_add_up_to_the_captured_amount(
    client: stripe.StripeClient, admin: httpx.Client
) -> None:
    intent = pay(client)
    client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1000})
    client.v1.refunds.create(params={"charge": intent.latest_charge, "amount": 1000})
    with pytest.raises(stripe.InvalidRequestError) as over:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 501})
    assert over.value.code == "amount_too_large"
    listed = client.v1.refunds.list(params={"payment_intent": intent.id})
    assert sorted(r.amount for r in listed.data) == [1000, 1000]
    counts = state(admin)["counts"][intent.id]
    assert (counts["refunds"], counts["amount_refunded"]) == (2, 2000)


def test_refund_of_an_uncaptured_intent_is_refused(client: stripe.StripeClient) -> None:
    intent = pay(client, capture_method="manual")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert refused.value.code == "payment_intent_unexpected_state"


# --- idempotency and auth ------------------------------------------------------------------------


def test_same_key_same_parameters_replays_the_first_answer(
    client: stripe.StripeClient, admin: httpx.Client
) -> None:
    params: Any = {
        "amount": 700,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
    }
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": "order-1"})
    second = client.v1.payment_intents.create(params=params, options={"idempotency_key": "order-1"})

    assert second.id == first.id
    assert replay_header(first) is None
    assert replay_header(second) == "true"
    snapshot = state(admin)
    assert len(snapshot["payment_intents"]) == 1
    assert snapshot["counts"][first.id]["charges"] == 1
    assert snapshot["requests"]["replayed"] == 1


def test_a_replayed_decline_does_not_charge_again(
    client: stripe.StripeClient, admin: httpx.Client
) -> None:
    params: Any = {
        "amount": 700,
        "currency": "usd",
        "payment_method": "pm_card_chargeDeclined",
        "confirm": True,
    }
    ids = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            client.v1.payment_intents.create(params=params, options={"idempotency_key": "decl-1"})
        ids.append(declined_intent(declined.value).id)
    assert ids[0] == ids[1]
    assert state(admin)["counts"][ids[0]]["charges"] == 1


def test_same_key_different_parameters_is_an_idempotency_error(
    client: stripe.StripeClient, sandbox_url: str
) -> None:
    options: Any = {"idempotency_key": "order-2"}
    first = client.v1.payment_intents.create(
        params={"amount": 700, "currency": "usd"}, options=options
    )
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(params={"amount": 701, "currency": "usd"}, options=options)
    with pytest.raises(stripe.IdempotencyError):  # same parameters, another endpoint
        client.v1.refunds.create(params={"amount": 700, "currency": "usd"}, options=options)

    # Keys belong to an API key: another account's request with the same key runs on its own.
    other = stripe.StripeClient("sk_test_other_account", base_addresses={"api": sandbox_url})
    theirs = other.v1.payment_intents.create(
        params={"amount": 701, "currency": "usd"}, options=options
    )
    assert theirs.id != first.id


def test_concurrent_requests_with_one_key_execute_once(
    client: stripe.StripeClient, admin: httpx.Client
) -> None:
    admin.post("/_sandbox/faults", json={"latency_ms": 300}).raise_for_status()
    params: Any = {
        "amount": 900,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
    }
    results: list[Any] = []

    def create() -> None:
        results.append(
            client.v1.payment_intents.create(params=params, options={"idempotency_key": "race-1"})
        )

    threads = [threading.Thread(target=create) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({intent.id for intent in results}) == 1
    replays = [replay_header(r) for r in results]
    assert sorted(replays, key=str) == [None, "true", "true"]
    assert state(admin)["counts"][results[0].id]["charges"] == 1


def test_only_test_secret_keys_are_accepted(sandbox_url: str, admin: httpx.Client) -> None:
    live = stripe.StripeClient("sk_live_notallowedhere", base_addresses={"api": sandbox_url})
    with pytest.raises(stripe.AuthenticationError) as refused:
        live.v1.payment_intents.list()
    assert refused.value.http_status == 401

    anonymous = admin.get("/v1/payment_intents")
    assert anonymous.status_code == 401
    assert "API key" in anonymous.json()["error"]["message"]
    # curl -u sk_test_...: works too.
    assert admin.get("/v1/payment_intents", auth=(API_KEY, "")).status_code == 200


def test_bad_parameters_get_stripe_style_errors(admin: httpx.Client) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    cases = [
        ("amount=abc&currency=usd", "amount", "parameter_invalid_integer"),
        ("currency=usd", "amount", "parameter_missing"),
        ("amount=5&currency=usd&colour=red", "colour", "parameter_unknown"),
        ("amount=5&currency=usd&metadata=x&metadata[a]=b", None, None),
        ("amount=5&currency=dollars", "currency", None),
        ("amount=5&currency=usd&confirm=maybe", "confirm", "parameter_invalid_boolean"),
    ]
    for body, param, code in cases:
        response = admin.post(
            "/v1/payment_intents",
            content=body,
            headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error.get("param") == param, body
        assert error.get("code") == code, body
    as_json = admin.post("/v1/payment_intents", json={"amount": 5}, headers=auth)
    assert as_json.status_code == 400
    assert "form-encoded" in as_json.json()["error"]["message"]
    unknown = admin.get("/v1/customers", headers=auth)
    assert unknown.status_code == 404
    assert admin.post("/_sandbox/faults", json={"error_rate": 2}).status_code == 422


def test_form_decoding_of_nested_keys() -> None:
    decoded = decode_form(b"metadata[order_id]=o%201&expand[0]=a&expand[1]=b&x[y][z]=1&tags[]=p")
    assert decoded == {
        "metadata": {"order_id": "o 1"},
        "expand": ["a", "b"],
        "x": {"y": {"z": "1"}},
        "tags": ["p"],
    }
    for bad in (b"a[b=1", b"0=a&1=b", b"a=1&a[b]=2", b"\xff=1"):
        with pytest.raises(StripeApiError):
            decode_form(bad)


# --- webhooks ------------------------------------------------------------------------------------


def test_webhooks_are_signed_and_arrive_in_order(
    client: stripe.StripeClient, admin: httpx.Client, receiver: Receiver
) -> None:
    intent = pay(client, capture_method="manual", metadata={"order_id": "ord_9"})
    client.v1.payment_intents.capture(intent.id)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 100})

    expected = [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.amount_capturable_updated",
        "charge.captured",
        "payment_intent.succeeded",
        "refund.created",
        "charge.refunded",
    ]
    wait_until(lambda: len(receiver.types_for(intent.id)) == len(expected), "webhooks")
    assert receiver.types_for(intent.id) == expected
    assert receiver.rejected == []
    succeeded = next(e for e in receiver.events if e.type == "payment_intent.succeeded")
    assert succeeded.id.startswith("evt_") and succeeded.api_version
    assert succeeded.data.object["metadata"]["order_id"] == "ord_9"
    assert succeeded.data["previous_attributes"]["status"] == "requires_capture"
    assert receiver.events[-2].data.object["id"] == refund.id
    # Events are also readable from the API, like Stripe's /v1/events.
    assert client.v1.events.retrieve(succeeded.id).type == "payment_intent.succeeded"
    wait_until(lambda: state(admin)["webhooks"]["delivered"] == len(expected), "delivery marks")


def test_only_enabled_events_are_sent_and_the_rest_stay_listed(
    client: stripe.StripeClient, admin: httpx.Client, receiver: Receiver
) -> None:
    answer = admin.post(
        "/_sandbox/webhook",
        json={"url": receiver.url, "enabled_events": ["payment_intent.succeeded"]},
    )
    assert answer.json()["enabled_events"] == ["payment_intent.succeeded"]
    intent = pay(client)
    with pytest.raises(stripe.CardError):
        pay(client, "pm_card_chargeDeclined")
    wait_until(lambda: state(admin)["webhooks"]["delivered"] == 1, "the one subscribed event")
    webhooks = state(admin)["webhooks"]
    assert (webhooks["pending"], webhooks["not_enabled"]) == (0, 2 + 3)  # success, decline
    assert receiver.types_for(intent.id) == ["payment_intent.succeeded"]
    assert len(receiver.events) == 1
    # Not sent, still created: GET /v1/events lists them, as Stripe's API does.
    listed = client.v1.events.list(params={"type": "charge.succeeded"}).data
    assert [e.data.object["payment_intent"] for e in listed] == [intent.id]
    assert listed[0].pending_webhooks == 0


@pytest.mark.parametrize("bad", [[], ["payment intent"], ["payment_intent."], "*"])
def test_enabled_events_must_be_event_types(admin: httpx.Client, bad: object) -> None:
    answer = admin.post("/_sandbox/webhook", json={"url": None, "enabled_events": bad})
    assert answer.status_code == 422
    assert "enabled_events" in answer.text


def test_the_setting_names_the_bad_event_type() -> None:
    with pytest.raises(ValueError, match="'payment-intent.succeeded' is not a Stripe event type"):
        SandboxSettings(webhook_events="payment_intent.succeeded, payment-intent.succeeded")
    assert SandboxSettings(webhook_events=" * ").webhook_event_types == ("*",)


def test_failed_payment_sends_payment_failed(
    client: stripe.StripeClient, receiver: Receiver
) -> None:
    with pytest.raises(stripe.CardError) as declined:
        pay(client, "pm_card_chargeDeclinedInsufficientFunds")
    intent_id = declined_intent(declined.value).id
    wait_until(lambda: len(receiver.types_for(intent_id)) == 3, "webhooks")
    assert receiver.types_for(intent_id)[1:] == ["charge.failed", "payment_intent.payment_failed"]
    failed = receiver.events[-1]
    assert failed.data.object["last_payment_error"]["decline_code"] == "insufficient_funds"


def test_a_wrong_secret_is_caught_by_the_sdk_and_delivery_gives_up(
    client: stripe.StripeClient, admin: httpx.Client, receiver: Receiver
) -> None:
    admin.post(
        "/_sandbox/webhook", json={"url": receiver.url, "secret": "whsec_somebody_else"}
    ).raise_for_status()
    intent = pay(client)
    wait_until(lambda: state(admin)["webhooks"]["failed"] == 3, "deliveries to give up")
    assert receiver.events == []
    assert len(receiver.rejected) == 3 * 4  # three events, four bounded attempts each
    assert all("signature" in reason.lower() for reason in receiver.rejected)
    assert {e["last_error"] for e in state(admin)["events"]} == {"HTTP 400"}
    assert intent.status == "succeeded"


def test_failed_deliveries_are_retried_without_breaking_the_order(
    client: stripe.StripeClient, admin: httpx.Client, receiver: Receiver
) -> None:
    receiver.fail_next = 2
    intent = pay(client)
    wait_until(lambda: len(receiver.types_for(intent.id)) == 3, "webhooks")
    assert receiver.types_for(intent.id) == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]
    first = state(admin)["events"][0]
    assert (first["type"], first["attempts"], first["status"]) == (
        "payment_intent.created",
        3,
        "delivered",
    )


def test_duplicate_webhook_fault_delivers_each_event_twice(
    client: stripe.StripeClient, admin: httpx.Client, receiver: Receiver
) -> None:
    admin.post("/_sandbox/faults", json={"duplicate_webhooks": 1.0, "seed": 7}).raise_for_status()
    intent = pay(client)
    wait_until(lambda: len(receiver.ids_for(intent.id)) == 6, "duplicated webhooks")
    ids = receiver.ids_for(intent.id)
    assert len(set(ids)) == 3
    assert all(ids.count(event_id) == 2 for event_id in ids)


def test_reorder_webhook_fault_lets_later_events_overtake(
    client: stripe.StripeClient, admin: httpx.Client, receiver: Receiver
) -> None:
    admin.post("/_sandbox/faults", json={"reorder_webhooks": 1.0, "seed": 7}).raise_for_status()
    intent = pay(client)
    wait_until(lambda: len(receiver.types_for(intent.id)) == 3, "webhooks")
    emitted = [e["type"] for e in state(admin)["events"]]
    received = receiver.types_for(intent.id)
    assert sorted(received) == sorted(emitted)
    assert received != emitted
    assert received[0] == "charge.succeeded"  # overtook payment_intent.created


# --- API faults ----------------------------------------------------------------------------------


def test_500_before_the_call_is_an_api_error_and_changes_nothing(
    client: stripe.StripeClient, admin: httpx.Client
) -> None:
    admin.post(
        "/_sandbox/faults", json={"fail_next": 1, "error_phase": "before"}
    ).raise_for_status()
    with pytest.raises(stripe.APIError) as failed:
        pay(client)
    assert failed.value.http_status == 500
    assert state(admin)["payment_intents"] == []
    assert pay(client).status == "succeeded"  # the fault was for one call only


def test_sdk_retry_after_a_lost_answer_does_not_charge_twice(
    sandbox_url: str, admin: httpx.Client
) -> None:
    # The first call runs and is saved, but its answer is replaced by a 500. The SDK retries on
    # its own with the same Idempotency-Key and receives the saved answer.
    admin.post("/_sandbox/faults", json={"fail_next": 1, "error_phase": "after"}).raise_for_status()
    retrying = stripe.StripeClient(
        API_KEY, base_addresses={"api": sandbox_url}, max_network_retries=2
    )
    intent = pay(retrying)

    assert intent.status == "succeeded"
    assert replay_header(intent) == "true"
    snapshot = state(admin)
    assert len(snapshot["payment_intents"]) == 1
    assert snapshot["counts"][intent.id]["charges"] == 1
    assert snapshot["counts"][intent.id]["captures"] == 1
    assert snapshot["requests"]["faults_after"] == 1


def test_random_500s_never_double_charge(sandbox_url: str, admin: httpx.Client) -> None:
    admin.post("/_sandbox/faults", json={"error_rate": 0.4, "seed": 3}).raise_for_status()
    retrying = stripe.StripeClient(
        API_KEY, base_addresses={"api": sandbox_url}, max_network_retries=2
    )
    outcomes = []
    for n in range(3):
        try:
            outcomes.append(pay(retrying, metadata={"n": str(n)}).id)
        except stripe.APIError:
            outcomes.append(None)
    snapshot = state(admin)
    requests = snapshot["requests"]
    # The seed gives both kinds of 500: lost requests and lost answers.
    assert requests["faults_before"] > 0 and requests["faults_after"] > 0
    # Every executed create made one intent; retries of lost answers were replays.
    assert requests["executed"] == len(snapshot["payment_intents"]) <= 3
    assert all(c["captures"] <= 1 and c["charges"] <= 1 for c in snapshot["counts"].values())
    assert {i for i in outcomes if i} <= {pi["id"] for pi in snapshot["payment_intents"]}


def test_latency_fault_times_out_the_sdk_and_the_retry_is_replayed(
    sandbox_url: str, admin: httpx.Client
) -> None:
    admin.post("/_sandbox/faults", json={"latency_ms": 2000}).raise_for_status()
    impatient = stripe.StripeClient(
        API_KEY,
        base_addresses={"api": sandbox_url},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=0.5),
    )
    params: Any = {
        "amount": 1200,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
    }
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.payment_intents.create(params=params, options={"idempotency_key": "slow-1"})

    # The sandbox finished the call after the client gave up: the retry must not charge again.
    wait_until(lambda: state(admin)["payment_intents"], "the slow call to finish")
    admin.delete("/_sandbox/faults").raise_for_status()
    retried = impatient.v1.payment_intents.create(
        params=params, options={"idempotency_key": "slow-1"}
    )
    assert replay_header(retried) == "true"
    assert state(admin)["counts"][retried.id]["charges"] == 1


# --- the process ---------------------------------------------------------------------------------


def _start_process(data_dir: Path, webhook_url: str) -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "ACME_DATA_DIR": str(data_dir),
        "ACME_STRIPE_WEBHOOK_URL": webhook_url,
        "ACME_STRIPE_WEBHOOK_EVENTS": "*",
        "ACME_STRIPE_WEBHOOK_MAX_ATTEMPTS": "50",
        "ACME_STRIPE_WEBHOOK_RETRY_BASE_MS": "50",
        "ACME_STRIPE_WEBHOOK_RETRY_MAX_MS": "200",
    }
    env.pop("ACME_STRIPE_IN_MEMORY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "acme.simulators.stripe", "--port", "0"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("ACME-READY "), line
    ready = json.loads(line.removeprefix("ACME-READY "))
    assert ready["system"] == "stripe"
    return process, ready["http"]


def test_the_process_keeps_intents_keys_and_pending_webhooks_across_restarts(
    tmp_path: Path,
) -> None:
    receiver = Receiver()
    receiver.fail_next = 10**6  # the receiver is down during the first run
    params: Any = {
        "amount": 4200,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
    }
    options: Any = {"idempotency_key": "restart-1"}
    try:
        process, url = _start_process(tmp_path, receiver.url)
        try:
            sdk = stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)
            created = sdk.v1.payment_intents.create(params=params, options=options)
            wait_until(lambda: receiver.posts >= 2, "failing deliveries")
        finally:
            process.terminate()
            rest, _ = process.communicate(timeout=10)
        assert rest == ""  # the READY line was the only stdout output
        assert (tmp_path / "stripe_sandbox.sqlite3").exists()
        assert receiver.events == []

        receiver.fail_next = 0
        process, url = _start_process(tmp_path, receiver.url)
        try:
            sdk = stripe.StripeClient(API_KEY, base_addresses={"api": url}, max_network_retries=0)
            assert sdk.v1.payment_intents.retrieve(created.id).status == "succeeded"
            replayed = sdk.v1.payment_intents.create(params=params, options=options)
            assert replayed.id == created.id
            assert replay_header(replayed) == "true"
            wait_until(lambda: len(receiver.types_for(created.id)) == 3, "resumed deliveries")
            assert receiver.types_for(created.id) == [
                "payment_intent.created",
                "charge.succeeded",
                "payment_intent.succeeded",
            ]
        finally:
            process.terminate()
            process.communicate(timeout=10)
    finally:
        receiver.close()
