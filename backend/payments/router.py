"""Payment provider callbacks: `POST /api/v1/payments/card/webhook` (Stripe events).

The signature is checked by the stripe library itself over the raw bytes, before anything
is parsed or stored: a body re-serialised on the way (other spacing, other key order) fails,
as it must. A failed check answers 400 `invalid_signature` and touches nothing. A verified
event answers 200 once it is stored (applied, parked or ignored) so Stripe stops retrying;
an error on our side answers 500 and Stripe delivers it again later.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Header, Request
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from backend.core.deps import RuntimeDep
from backend.core.errors import ApiError, error_responses
from backend.payments import card_events
from backend.runtime import Runtime

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])
log = logging.getLogger("furusato.payments")

#: Seconds a signed event stays acceptable (Stripe's default): older ones may be replays.
TOLERANCE_SECONDS = 300
StripeSignature = Annotated[str | None, Header(alias="Stripe-Signature")]


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_signature", message)


def verify(runtime: Runtime, raw: bytes, signature: str | None) -> dict[str, Any]:
    """The event, if `signature` is Stripe's for exactly these bytes and recent enough."""
    secret = runtime.settings.card_webhook_secret
    if secret is None:
        raise _invalid("Card webhooks are not configured on this deployment.")
    try:
        stripe.Webhook.construct_event(raw, signature, secret.get_secret_value(), tolerance=TOLERANCE_SECONDS)
        event = json.loads(raw)
    except stripe.SignatureVerificationError:
        raise _invalid("The Stripe-Signature header does not match this body, or is too old.") from None
    except ValueError:  # not UTF-8 or not JSON, though signed
        raise _invalid("The signed body is not a JSON event.") from None
    if not isinstance(event, dict):
        raise _invalid("The signed body is not a JSON event.")
    return event


def apply(runtime: Runtime, event: dict[str, Any], payload: str) -> dict[str, bool]:
    """Store and apply the event in one transaction; a concurrent copy that lost the race
    (a primary or unique key taken meanwhile, and the event's row now there) is the same
    event: answered as a duplicate. Any other constraint failure is raised (500), so Stripe
    delivers the event again instead of it being dropped as done."""
    with runtime.sessions() as session:
        try:
            state = card_events.receive(session, event, payload, datetime.now(UTC))
            if state == card_events.DUPLICATE:
                session.rollback()
                return {"received": True, "duplicate": True}
            session.commit()
        except card_events.InvalidEvent as exc:
            session.rollback()
            raise ApiError(400, "invalid_event", str(exc)) from None
        except IntegrityError:
            session.rollback()
            if not card_events.is_stored(session, event["id"]):
                raise
            log.info("card event %s lost a race to a concurrent delivery", event.get("id"))
            return {"received": True, "duplicate": True}
    log.info("card event %s (%s): %s", event["id"], event["type"], state)
    return {"received": True, "duplicate": False}


@router.post("/card/webhook", responses=error_responses(400, codes={400: "invalid_signature, invalid_event"}))
async def card_webhook(request: Request, runtime: RuntimeDep, stripe_signature: StripeSignature = None) -> Any:
    """Stripe's events about checkouts and charges (see backend.payments.card_events)."""
    raw = await request.body()
    event = verify(runtime, raw, stripe_signature)
    return await run_in_threadpool(apply, runtime, event, raw.decode("utf-8"))
