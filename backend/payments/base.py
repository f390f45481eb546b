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


class HostedCheckout(Protocol):
    """A payment provider with a hosted payment page and signed webhooks."""

    name: str

    def start(self, order: Order, drop: Drop, town: Municipality, *, return_url: str) -> CheckoutStarted:
        """Create the provider's checkout for `order` (amount in yen); raise `CheckoutUnavailable`."""
        ...
