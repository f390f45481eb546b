"""What a hosted-checkout provider does for an order; the `card` provider implements it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from backend.sales.models import Drop, Order
from backend.towns.models import Municipality


@dataclass(frozen=True)
class CheckoutStarted:
    """A checkout the buyer is sent to; `session_id` is how the provider's events name it."""

    session_id: str
    url: str


class CheckoutUnavailable(Exception):
    """The provider could not be reached or refused to start a checkout (message: one line)."""


@dataclass(frozen=True)
class RefundStarted:
    """A refund the provider accepted: its id, and its status there ("succeeded", "pending", …).
    The provider's webhooks tell how it ends."""

    refund_id: str
    status: str


class RefundUnavailable(Exception):
    """The provider could not be reached (or did not answer in time): the refund may or may
    not exist there; asking again with the same idempotency key finds out without a second."""


class RefundRefused(Exception):
    """The provider refused the refund; `code` is its error code (e.g. `charge_already_refunded`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class HostedCheckout(Protocol):
    """A payment provider with a hosted payment page and signed webhooks."""

    name: str

    def start(self, order: Order, drop: Drop, town: Municipality, *, return_url: str) -> CheckoutStarted:
        """Create the provider's checkout for `order` (amount in yen); raise `CheckoutUnavailable`."""
        ...

    def refund(self, payment_intent: str, amount: int, idempotency_key: str) -> RefundStarted:
        """Refund `amount` yen of the payment; the same key, the same refund. Raises
        `RefundUnavailable` or `RefundRefused`."""
        ...
