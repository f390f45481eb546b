"""Bidders: registering for a lot, their own view, the award offers and paying for one.

    POST /api/v1/lots/{lot_id}/bidders                       holder session; 201 new, 200 again
    GET  /api/v1/lots/{lot_id}/me                            holder session; standing, offer, proposals
    GET  /api/v1/lots/{lot_id}/offers                        the public award log
    POST /api/v1/lots/{lot_id}/offers/{offer_id}/demo-pay    holder session, demo mode only
    POST /api/v1/lots/{lot_id}/offers/{offer_id}/checkout    {token} (the pay link's) → Stripe's page

See `backend.naming.bidders` for the rules and `backend.naming.settle` for the offers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from sqlalchemy import update

from backend.core import ratelimit
from backend.core.deps import RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.schemas import MAX_ROW_ID
from backend.holders.deps import SignedInHolder
from backend.holders.models import Holder
from backend.naming import bidders as rules
from backend.naming.bidder_schemas import (
    BidderRegistered,
    BidderRegistration,
    CheckoutLink,
    CheckoutRequest,
    LotMe,
    MyOffer,
    OfferPaid,
    PublicOffer,
)
from backend.naming.bidders import CARD, DEMO, PENDING, BidderRefused
from backend.naming.charge import CardUnavailable, naming_card
from backend.naming.lots import bidder_pseudonym
from backend.naming.models import Lot, LotBidder, LotOffer, Park
from backend.payments.base import CheckoutUnavailable
from backend.payments.card import MAX_CHECKOUT_LIFETIME, MIN_CHECKOUT_LIFETIME
from backend.runtime import Runtime

router = APIRouter(prefix="/api/v1/lots/{lot_id}", tags=["naming"])

#: Registrations and payments a holder may start per window (limit, seconds).
REGISTER_LIMIT = (20, 600)
PAY_LIMIT = (30, 600)
#: Pay-link checkouts a client may start per window.
CHECKOUT_LIMIT = (30, 600)

_LOT_404 = {404: "lot_not_found"}


def public_lot(lot_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], session: SessionDep) -> Lot:
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise ApiError(404, "lot_not_found", "その命名権はありません。 (No lot with this id.)")
    return lot


LotDep = Annotated[Lot, Depends(public_lot)]


def _refused(refused: BidderRefused) -> ApiError:
    return ApiError(refused.status, refused.code, str(refused))


def _limit(runtime: Runtime, key: str, limit: tuple[int, int]) -> None:
    if not ratelimit.allow(runtime.sessions, (key, *limit)):
        raise ApiError(429, "rate_limited", "操作が多すぎます。しばらくしてからお試しください。 (Too many requests.)")


def _unavailable(method: str) -> ApiError:
    return ApiError(
        409,
        "payment_method_unavailable",
        f"この環境では {method} でのお支払いは使えません。 (Payment method {method!r} is not available here.)",
    )


def _card_down(exc: Exception) -> ApiError:
    return ApiError(
        502, "card_unavailable", f"カード決済サービスに接続できません。しばらくしてからお試しください。 ({exc})"
    )


def _registered(bidder: LotBidder, setup_url: str | None = None) -> BidderRegistered:
    return BidderRegistered(
        bidder=bidder_pseudonym(bidder.number),
        bidder_en=bidder_pseudonym(bidder.number, "en"),
        number=bidder.number,
        payment_method=bidder.payment_method,  # type: ignore[arg-type]
        payment_state=bidder.payment_state,  # type: ignore[arg-type]
        setup_url=setup_url,
    )


def _lot_url(runtime: Runtime, lot_id: int) -> str:
    return f"{runtime.settings.public_url.rstrip('/')}/lots/{lot_id}"


@router.post(
    "/bidders",
    status_code=201,
    response_model=BidderRegistered,
    responses={
        200: {"model": BidderRegistered, "description": "Registered before: the same registration"},
        **error_responses(
            401,
            404,
            409,
            422,
            429,
            502,
            codes={
                **_LOT_404,
                409: "auction_closed, payment_method_unavailable",
                502: "card_unavailable (Stripe did not answer; send the same request again)",
            },
        ),
    },
)
def register(
    body: BidderRegistration,
    lot: LotDep,
    holder: SignedInHolder,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
) -> BidderRegistered:
    """Register to bid: `demo` is ready at once (demo mode only); `card` answers `setup_url`,
    Stripe's page that saves the card (3-D Secure happens there), and is "ready" once Stripe
    confirms it. Registering again answers the same registration (200), with a fresh
    `setup_url` while the card is still pending."""
    if body.payment_method == DEMO and not runtime.settings.demo_mode:
        raise _unavailable(DEMO)
    card = naming_card(runtime.settings) if body.payment_method == CARD else None
    if body.payment_method == CARD and card is None:
        raise _unavailable(CARD)
    _limit(runtime, f"naming-register:{holder.id}", REGISTER_LIMIT)
    try:
        bidder, created = rules.register(
            session, lot.id, holder.id, body.prefecture, body.payment_method, datetime.now(UTC)
        )
    except BidderRefused as refused:
        raise _refused(refused) from None
    response.status_code = 201 if created else 200
    if bidder.payment_method != CARD or bidder.payment_state != PENDING:
        return _registered(bidder)
    card = card or naming_card(runtime.settings)
    if card is None:
        raise _unavailable(CARD)
    try:
        customer = bidder.card_customer or card.customer(bidder.id, holder.email)
        setup = card.setup_checkout(
            bidder_id=bidder.id, lot_id=lot.id, customer=customer, return_url=_lot_url(runtime, lot.id)
        )
    except (CardUnavailable, CheckoutUnavailable) as exc:
        raise _card_down(exc) from None
    rules.note_card_setup(session, bidder.id, customer, setup.session_id)
    session.commit()
    session.refresh(bidder)
    return _registered(bidder, setup.url)


@router.get("/me", response_model=LotMe, responses=error_responses(401, 404, 422, codes=_LOT_404))
def me(lot: LotDep, holder: SignedInHolder, session: SessionDep, runtime: RuntimeDep) -> LotMe:
    """Your registration, your highest bid and whether it leads, the offer made to you after
    the close (with how to pay it), whether you are the primary winner, your name proposals."""
    return LotMe.model_validate(rules.my_view(session, runtime.settings, lot, holder))


@router.get("/offers", response_model=list[PublicOffer], responses=error_responses(404, 422, codes=_LOT_404))
def offers(lot: LotDep, session: SessionDep) -> list[PublicOffer]:
    """The award log, in round order: round 1 to the winner at the winning bid, then at most
    two second-chance offers to the next distinct bidders at their own highest bid."""
    return [PublicOffer.model_validate(offer) for offer in rules.public_offers(session, lot.id)]


def _my_offer(runtime: Runtime, lot_id: int, offer: LotOffer, method: str) -> MyOffer:
    payable = offer.state == rules.OFFERED
    return MyOffer(
        id=offer.id,
        round=offer.round,
        amount_jpy=offer.amount_jpy,
        state=offer.state,  # type: ignore[arg-type]
        pay_deadline=offer.pay_deadline,
        pay_with=("demo" if method == DEMO else "checkout") if payable else None,
        pay_url=rules.pay_url(runtime.settings, lot_id, offer.id) if payable and method == CARD else None,
    )


OfferId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@router.post(
    "/offers/{offer_id}/demo-pay",
    response_model=OfferPaid,
    responses=error_responses(
        401,
        404,
        409,
        422,
        429,
        codes={
            404: "lot_not_found, offer_not_found (or demo payments are off)",
            409: "offer_paid, offer_expired, offer_not_payable",
        },
    ),
)
def demo_pay(
    lot: LotDep, offer_id: OfferId, holder: SignedInHolder, session: SessionDep, runtime: RuntimeDep
) -> OfferPaid:
    """The demo provider's pay button for your own offer (demo mode only): paid at once; the
    right is awarded on chain by the settle loop moments later."""
    if not runtime.settings.demo_mode:
        raise ApiError(404, "offer_not_found", "デモ決済は使えません。 (Demo payments are off.)")
    _limit(runtime, f"naming-pay:{holder.id}", PAY_LIMIT)
    try:
        offer = rules.demo_pay(session, lot.id, offer_id, holder.id, datetime.now(UTC))
    except BidderRefused as refused:
        raise _refused(refused) from None
    return OfferPaid(offer=_my_offer(runtime, lot.id, offer, DEMO))


def _checkout_expiry(deadline: datetime, now: datetime) -> int:
    """The page's end: the offer's deadline, kept inside Stripe's bounds (an offer lapses
    only `PAY_GRACE` after its deadline, beyond the shortest page's life)."""
    aware = deadline if deadline.tzinfo else deadline.replace(tzinfo=UTC)
    return int(max(now + MIN_CHECKOUT_LIFETIME, min(aware, now + MAX_CHECKOUT_LIFETIME)).timestamp())


@router.post(
    "/offers/{offer_id}/checkout",
    response_model=CheckoutLink,
    responses=error_responses(
        404,
        409,
        422,
        429,
        502,
        codes={
            404: "lot_not_found, offer_not_found (an unknown pay link)",
            409: "offer_paid, offer_expired, offer_not_payable, payment_method_unavailable",
            502: "card_unavailable",
        },
    ),
)
def checkout(
    lot: LotDep, offer_id: OfferId, body: CheckoutRequest, request: Request, session: SessionDep, runtime: RuntimeDep
) -> CheckoutLink:
    """Stripe's payment page for an offer, from the mailed pay link (`/lots/{id}?offer={offer_id}&pay=
    <token>`): the same open page while it lasts, a new one once it expired."""
    client = request.client.host if request.client else "unknown"
    _limit(runtime, f"naming-checkout:{client}", CHECKOUT_LIMIT)
    card = naming_card(runtime.settings)
    if card is None:
        raise _unavailable(CARD)
    now = datetime.now(UTC)
    offer = rules.offer_for_token(session, lot.id, offer_id, body.token)
    if offer is None:
        raise ApiError(404, "offer_not_found", "このお支払いリンクは無効です。 (This pay link is not valid.)")
    try:
        rules.payable(offer, now)
    except BidderRefused as refused:
        raise _refused(refused) from None
    assert offer.pay_deadline is not None
    bidder = session.get(LotBidder, offer.bidder_id)
    park = session.get(Park, lot.park_id)
    assert bidder is not None
    assert park is not None
    holder = session.get(Holder, bidder.holder_id)
    assert holder is not None
    previous = offer.payment_ref if offer.payment_ref and offer.payment_ref.startswith("cs_") else None
    session.commit()  # nothing written: no connection held while Stripe answers
    try:
        if previous is not None:
            status, url, expires_at = card.checkout_state(previous)
            if status == "complete":
                raise ApiError(409, "offer_paid", "お支払いを確認しています。 (The payment is being recorded.)")
            if status == "open" and url and expires_at > now.timestamp() + 60:
                return CheckoutLink(checkout_url=url)
        started = card.pay_checkout(
            offer_id=offer.id,
            lot_id=lot.id,
            amount_jpy=offer.amount_jpy,
            item=f"{park.name_ja} 命名権 (naming right, lot {lot.id})",
            customer=bidder.card_customer,
            email=holder.email,
            return_url=_lot_url(runtime, lot.id),
            expires_at=_checkout_expiry(offer.pay_deadline, now),
            idempotency_key=f"naming-pay-{offer.id}-after-{previous or 'none'}",
        )
    except CheckoutUnavailable as exc:
        raise _card_down(exc) from None
    session.execute(
        update(LotOffer)
        .where(LotOffer.id == offer.id, LotOffer.state == rules.OFFERED)
        .values(payment_ref=started.session_id)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return CheckoutLink(checkout_url=started.url)
