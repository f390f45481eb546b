"""The `card` provider: Stripe Checkout, through the `stripe` package's own client.

Why the library rather than raw HTTP: it encodes nested parameters the way Stripe expects,
pins the API version, and retries safely with an idempotency key. We only choose what a
checkout contains (yen, the order's exact amount, the order id twice so events find it) and
turn every failure into a one-line `CheckoutUnavailable` that never carries the API key.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe

from backend.core.config import Settings
from backend.payments.base import CheckoutStarted, CheckoutUnavailable, RefundRefused, RefundStarted, RefundUnavailable
from backend.sales.models import Drop, Order
from backend.towns.models import Municipality

log = logging.getLogger("furusato.payments")

#: Stripe accepts `expires_at` between 30 minutes and 24 hours after creation.
MIN_CHECKOUT_LIFETIME = timedelta(minutes=31)
MAX_CHECKOUT_LIFETIME = timedelta(hours=23, minutes=59)
#: Seconds to wait for Stripe; a buyer is waiting on the other end.
TIMEOUT_SECONDS = 10.0


def checkout_expiry(order: Order, now: datetime) -> int:
    """When the hosted page stops taking money: the order's own expiry, kept inside Stripe's
    bounds. A payment after the reservation expired is still honoured (or refunded) by
    `apply_payment`, so a page that outlives the reservation by a few minutes is safe."""
    expires = order.expires_at if order.expires_at.tzinfo else order.expires_at.replace(tzinfo=UTC)
    expires = max(expires, now + MIN_CHECKOUT_LIFETIME)
    return int(min(expires, now + MAX_CHECKOUT_LIFETIME).timestamp())


def line_items(order: Order, drop: Drop) -> list[dict[str, Any]]:
    """One line for the drop whose total is exactly `order.amount_jpy` (yen has no decimals)."""
    unit, rest = divmod(order.amount_jpy, order.quantity)
    name, quantity = drop.title_ja, order.quantity
    if rest:  # a total that does not split evenly: one line for the lot
        unit, name, quantity = order.amount_jpy, f"{drop.title_ja} × {order.quantity}", 1
    price = {"currency": "jpy", "unit_amount": unit, "product_data": {"name": name}}
    return [{"quantity": quantity, "price_data": price}]


class StripeCheckout:
    """Creates Stripe Checkout Sessions; `settings.card_api_base` points it elsewhere (tests)."""

    name = "card"

    def __init__(self, settings: Settings) -> None:
        if settings.card_api_key is None:
            raise ValueError("card payments need FURUSATO_CARD_API_KEY")
        self._client = stripe.StripeClient(
            settings.card_api_key.get_secret_value(),
            base_addresses={"api": settings.card_api_base} if settings.card_api_base else None,
            max_network_retries=1,
            http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        )

    def start(self, order: Order, drop: Drop, town: Municipality, *, return_url: str) -> CheckoutStarted:
        """Create the checkout for `order`; the idempotency key makes a retried call return
        the same session instead of a second one."""
        separator = "&" if "?" in return_url else "?"
        params: dict[str, Any] = {
            "mode": "payment",
            "currency": "jpy",
            "line_items": line_items(order, drop),
            "client_reference_id": order.id,
            "metadata": {"order_id": order.id, "drop_id": str(drop.id), "town": town.slug},
            "payment_intent_data": {"metadata": {"order_id": order.id}},
            "customer_email": order.email,
            "locale": "ja",
            "success_url": f"{return_url}{separator}checkout=success",
            "cancel_url": f"{return_url}{separator}checkout=cancelled",
            "expires_at": checkout_expiry(order, datetime.now(UTC)),
        }
        try:
            session = self._client.v1.checkout.sessions.create(
                params,  # type: ignore[arg-type]  # the TypedDict is exact; ours is built above
                {"idempotency_key": f"checkout-{order.id}"},
            )
        except stripe.APIConnectionError:
            log.warning("stripe unreachable creating checkout for %s", order.id)
            raise CheckoutUnavailable("Stripe could not be reached") from None
        except stripe.StripeError as exc:
            # Stripe's own message can quote part of the key ("Invalid API Key provided: sk_…"):
            # report the status and code only.
            reason = exc.code or type(exc).__name__
            log.warning("stripe refused checkout for %s: HTTP %s %s", order.id, exc.http_status, reason)
            raise CheckoutUnavailable(f"Stripe refused the checkout (HTTP {exc.http_status}, {reason})") from None
        if not session.url:
            raise CheckoutUnavailable("Stripe returned a checkout without a payment page URL")
        return CheckoutStarted(session_id=session.id, url=session.url)

    def refund(self, payment_intent: str, amount: int, idempotency_key: str) -> RefundStarted:
        """Refund `amount` yen of the PaymentIntent through Stripe's Refunds API.

        The idempotency key (the caller derives it from the order) makes a retry after a
        timeout or a crash return the refund Stripe already made, never a second one. As for
        checkouts, Stripe's message never leaves this method (it can quote the key)."""
        params: dict[str, Any] = {
            "payment_intent": payment_intent,
            "amount": amount,
            "reason": "requested_by_customer",
        }
        try:
            refund = self._client.v1.refunds.create(
                params,  # type: ignore[arg-type]  # the TypedDict is exact; ours is built above
                {"idempotency_key": idempotency_key},
            )
        except stripe.APIConnectionError:
            log.warning("stripe unreachable refunding %s", payment_intent)
            raise RefundUnavailable("Stripe could not be reached") from None
        except stripe.StripeError as exc:
            reason = exc.code or type(exc).__name__
            log.warning("stripe refused the refund of %s: HTTP %s %s", payment_intent, exc.http_status, reason)
            if exc.http_status is not None and exc.http_status >= 500:
                raise RefundUnavailable(f"Stripe failed (HTTP {exc.http_status})") from None
            raise RefundRefused(reason, f"Stripe refused the refund (HTTP {exc.http_status}, {reason})") from None
        return RefundStarted(refund_id=refund.id, status=refund.status or "pending")
