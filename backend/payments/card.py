"""The `card` provider: Stripe Checkout (to be completed)."""

from __future__ import annotations

from backend.config import Settings
from backend.models import Drop, Municipality, Order
from backend.payments.base import CheckoutStarted, CheckoutUnavailable


class StripeCheckout:
    name = "card"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def start(self, order: Order, drop: Drop, town: Municipality, *, return_url: str) -> CheckoutStarted:
        raise CheckoutUnavailable("not implemented yet")
