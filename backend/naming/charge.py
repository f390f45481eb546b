"""Stripe for auction bidders: a saved card (SetupIntent through Checkout), an off-session
charge after the close, and a pay link when that charge fails.

Why a saved card: a card hold lasts 7 days at most (Visa's merchant-initiated ones less),
and an auction runs longer, so the card is saved when the bidder registers — through a
Checkout Session in `setup` mode, where 3-D Secure happens with the bidder present — and
charged off-session once they win (`off_session=true, confirm=true`). A charge that fails
(declined, or the bank wants the bidder present: `authentication_required`) becomes a pay
link: a Checkout Session in `payment` mode the winner opens within 72 hours.

Every call carries an idempotency key derived from our row (`naming-customer-{bidder}`,
`naming-setup-{bidder}`, `naming-offer-{offer}`, `naming-pay-{offer}-…`), so a retry after a
timeout or a crash gets Stripe's first answer again — the same charge, never a second one.
As in `backend.payments.card`, Stripe's messages never leave this module (they can quote
the key): failures are their status and code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import stripe

from backend.core.config import Settings
from backend.payments.base import CheckoutStarted, CheckoutUnavailable
from backend.payments.card import TIMEOUT_SECONDS

log = logging.getLogger("furusato.naming.card")


class CardUnavailable(Exception):
    """Stripe could not be reached or failed on its side: ask again with the same key."""


@dataclass(frozen=True)
class ChargeResult:
    """How an off-session charge ended: paid, or refused with Stripe's code."""

    succeeded: bool
    #: The PaymentIntent, when Stripe made one (a refused charge has one too).
    payment_intent: str | None
    #: "" when paid; else the decline code (`card_declined`, `authentication_required`, …).
    code: str


def charge_key(offer_id: int) -> str:
    """The off-session charge's idempotency key: one charge per offer, whoever asks again."""
    return f"naming-offer-{offer_id}"


def _code(exc: stripe.StripeError) -> str:
    error = getattr(exc, "error", None)
    decline = getattr(error, "decline_code", None) if error is not None else None
    return str(decline or exc.code or type(exc).__name__)[:100]


def _intent_of(exc: stripe.StripeError) -> str | None:
    error = getattr(exc, "error", None)
    intent = getattr(error, "payment_intent", None) if error is not None else None
    if isinstance(intent, dict):
        return str(intent.get("id")) if intent.get("id") else None
    found = getattr(intent, "id", None)
    return str(found) if found else None


class NamingCard:
    """The bidders' Stripe calls; `settings.card_api_base` points it elsewhere (tests)."""

    def __init__(self, settings: Settings) -> None:
        if settings.card_api_key is None:
            raise ValueError("card payments need FURUSATO_CARD_API_KEY")
        self._client = stripe.StripeClient(
            settings.card_api_key.get_secret_value(),
            base_addresses={"api": settings.card_api_base} if settings.card_api_base else None,
            max_network_retries=1,
            http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        )

    def _unavailable(self, what: str, exc: stripe.StripeError) -> Exception:
        reason = exc.code or type(exc).__name__
        log.warning("stripe: %s failed: HTTP %s %s", what, exc.http_status, reason)
        return CardUnavailable(f"Stripe: {what} failed (HTTP {exc.http_status}, {reason})")

    # ── registering: a customer and a saved card ─────────────────────────────

    def customer(self, bidder_id: int, email: str) -> str:
        """The bidder's Stripe Customer (the same one however often this is asked)."""
        params: dict[str, Any] = {"email": email, "metadata": {"naming_bidder_id": str(bidder_id)}}
        try:
            made = self._client.v1.customers.create(params, {"idempotency_key": f"naming-customer-{bidder_id}"})  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise self._unavailable("creating a customer", exc) from None
        return str(made.id)

    def setup_checkout(self, *, bidder_id: int, lot_id: int, customer: str, return_url: str) -> CheckoutStarted:
        """A Checkout Session in setup mode that saves a card for off-session charges (the
        same session for 24 hours: the idempotency key's life and the session's)."""
        separator = "&" if "?" in return_url else "?"
        metadata = {"naming": "setup", "lot_id": str(lot_id), "bidder_id": str(bidder_id)}
        params: dict[str, Any] = {
            "mode": "setup",
            "currency": "jpy",
            "customer": customer,
            "client_reference_id": f"naming-bidder-{bidder_id}",
            "metadata": metadata,
            "setup_intent_data": {"metadata": metadata},
            "locale": "ja",
            "success_url": f"{return_url}{separator}setup=success",
            "cancel_url": f"{return_url}{separator}setup=cancelled",
        }
        try:
            session = self._client.v1.checkout.sessions.create(params, {"idempotency_key": f"naming-setup-{bidder_id}"})  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise CheckoutUnavailable(str(self._unavailable("starting a card setup", exc))) from None
        if not session.url:
            raise CheckoutUnavailable("Stripe returned a setup session without a page URL")
        return CheckoutStarted(session_id=session.id, url=session.url)

    def saved_payment_method(self, setup_session: str) -> str | None:
        """The card a completed setup session saved (its SetupIntent's payment method)."""
        try:
            session = self._client.v1.checkout.sessions.retrieve(setup_session, {"expand": ["setup_intent"]})
        except stripe.StripeError as exc:
            raise self._unavailable("reading a card setup", exc) from None
        intent = session.setup_intent
        if intent is None or isinstance(intent, str):
            return None
        method = intent.payment_method
        if method is None:
            return None
        return method if isinstance(method, str) else str(method.id)

    # ── after the close: the charge, else a pay link ─────────────────────────

    def charge(
        self, *, offer_id: int, lot_id: int, amount_jpy: int, customer: str, payment_method: str, description: str
    ) -> ChargeResult:
        """Charge the saved card off-session, once per offer (`charge_key`). Raises
        `CardUnavailable` when the answer is unknown (then ask again: same key, same charge)."""
        metadata = {"naming": "offer", "lot_id": str(lot_id), "offer_id": str(offer_id)}
        params: dict[str, Any] = {
            "amount": amount_jpy,
            "currency": "jpy",
            "customer": customer,
            "payment_method": payment_method,
            "off_session": True,
            "confirm": True,
            "description": description[:200],
            "metadata": metadata,
        }
        try:
            intent = self._client.v1.payment_intents.create(params, {"idempotency_key": charge_key(offer_id)})  # type: ignore[arg-type]
            if intent.status == "processing":  # rare for cards; ask for the outcome
                intent = self._client.v1.payment_intents.retrieve(intent.id)
        except stripe.CardError as exc:
            return ChargeResult(False, _intent_of(exc), _code(exc))
        except (stripe.APIConnectionError, stripe.IdempotencyError, stripe.RateLimitError) as exc:
            raise self._unavailable(f"charging offer {offer_id}", exc) from None
        except stripe.StripeError as exc:
            if exc.http_status is None or exc.http_status >= 500:
                raise self._unavailable(f"charging offer {offer_id}", exc) from None
            return ChargeResult(False, _intent_of(exc), _code(exc))
        if intent.status == "processing":
            raise CardUnavailable(f"Stripe: the charge of offer {offer_id} is still processing")
        if intent.status == "succeeded" and intent.amount == amount_jpy and intent.currency == "jpy":
            return ChargeResult(True, str(intent.id), "")
        return ChargeResult(False, str(intent.id), str(intent.status)[:100])

    def pay_checkout(
        self,
        *,
        offer_id: int,
        lot_id: int,
        amount_jpy: int,
        item: str,
        customer: str | None,
        email: str,
        return_url: str,
        expires_at: int,
        idempotency_key: str,
    ) -> CheckoutStarted:
        """The pay link's Checkout Session (payment mode) for an offer, in yen."""
        separator = "&" if "?" in return_url else "?"
        metadata = {"naming": "offer", "lot_id": str(lot_id), "offer_id": str(offer_id)}
        params: dict[str, Any] = {
            "mode": "payment",
            "currency": "jpy",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {"currency": "jpy", "unit_amount": amount_jpy, "product_data": {"name": item}},
                }
            ],
            "client_reference_id": f"naming-offer-{offer_id}",
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "locale": "ja",
            "success_url": f"{return_url}{separator}checkout=success",
            "cancel_url": f"{return_url}{separator}checkout=cancelled",
            "expires_at": expires_at,
        }
        if customer:
            params["customer"] = customer
        else:
            params["customer_email"] = email
        try:
            session = self._client.v1.checkout.sessions.create(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise CheckoutUnavailable(
                str(self._unavailable(f"starting the payment of offer {offer_id}", exc))
            ) from None
        if not session.url:
            raise CheckoutUnavailable("Stripe returned a checkout without a payment page URL")
        return CheckoutStarted(session_id=session.id, url=session.url)

    def checkout_state(self, session_id: str) -> tuple[str, str | None, int]:
        """(status — open, complete or expired —, page URL, expires_at) of a Checkout Session."""
        try:
            session = self._client.v1.checkout.sessions.retrieve(session_id)
        except stripe.StripeError as exc:
            raise CheckoutUnavailable(str(self._unavailable("reading a checkout", exc))) from None
        return str(session.status or "open"), session.url, int(session.expires_at or 0)


def naming_card(settings: Settings) -> NamingCard | None:
    """The bidders' Stripe client when card payments are configured, else None."""
    return NamingCard(settings) if settings.card_api_key is not None else None
