"""Stripe's error envelope: `{"error": {type, code, decline_code, message, param, ...}}`.

The official SDK picks its exception class from the HTTP status and `error.type`
(400/404 -> InvalidRequestError or IdempotencyError, 401 -> AuthenticationError,
402 -> CardError, 5xx -> APIError), so both must match what Stripe sends.
"""

from __future__ import annotations

from typing import Any


class StripeApiError(Exception):
    """An error answer of the API.

    `idempotent` tells whether the answer is saved under the request's Idempotency-Key: Stripe
    saves a result only once the endpoint started executing, not for parameter validation.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
        idempotent: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.idempotent = idempotent

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://docs.stripe.com/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        if self.decline_code is not None:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeApiError:
    """A parameter problem found before anything ran (never saved for idempotency)."""
    return StripeApiError(400, message, param=param, code=code)


def missing_param(param: str) -> StripeApiError:
    return invalid(f"Missing required param: {param}.", param=param, code="parameter_missing")


def no_such(kind: str, object_id: str, *, param: str | None = None) -> StripeApiError:
    return StripeApiError(
        404 if param is None else 400,
        f"No such {kind}: '{object_id}'",
        param=param,
        code="resource_missing",
    )


def unexpected_state(message: str) -> StripeApiError:
    # The endpoint ran and looked at the object: Stripe saves this answer for the key.
    return StripeApiError(400, message, code="payment_intent_unexpected_state", idempotent=True)
