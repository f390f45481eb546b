"""Sales over HTTP: `GET /api/v1/drops` (what is on sale) and the orders,
`POST /api/v1/orders`, `GET /api/v1/orders/{id}`, `POST /api/v1/orders/{id}/demo-pay`.

An order is read with its bearer token (`Authorization: Bearer <order_token>`); a wrong or
missing token answers 404 exactly like an unknown id, so ids cannot be probed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.core import ratelimit
from backend.core.deps import PageDep, RuntimeDep, SessionDep
from backend.core.errors import ApiError, error_responses
from backend.core.ratelimit import is_loopback
from backend.core.schemas import MAX_ROW_ID
from backend.holders.custody import ensure_holder
from backend.payments.base import CheckoutUnavailable
from backend.payments.wallet import vouchers_for
from backend.runtime import Runtime
from backend.sales import idempotency
from backend.sales.drops import PAUSED, PUBLIC_STATUSES, drops_of, refuse_unorderable
from backend.sales.models import Drop, Order
from backend.sales.orders import (
    ORDER_ID_PATTERN,
    MintOutcome,
    NewOrder,
    OrderRefused,
    PaymentResult,
    apply_payment,
    assign_cards,
    aware,
    card_ids,
    expire,
    expire_due,
    on_sale,
    refresh,
    reserve,
    token_matches,
)
from backend.sales.schemas import DropPublic, DropsPage, OrderCreate, OrderCreated, OrderPublic
from backend.towns.models import Municipality

router = APIRouter(tags=["sales"])


def drop_status(drop: Drop, now: datetime) -> str:
    if drop.status == PAUSED:
        return "paused"
    if now < aware(drop.starts_at):
        return "upcoming"
    if drop.ends_at is not None and now >= aware(drop.ends_at):
        return "ended"
    return "sold_out" if drop.reserved >= drop.supply else "on_sale"


def drop_public(drop: Drop, town: str, now: datetime, payment_methods: list[str]) -> DropPublic:
    return DropPublic(
        id=drop.id,
        kind=drop.kind,
        sale_mode=drop.sale_mode,
        municipality=town,
        title_ja=drop.title_ja,
        title_en=drop.title_en,
        description_ja=drop.description_ja,
        description_en=drop.description_en,
        price_jpy=drop.price_jpy,
        supply=drop.supply,
        sold=drop.reserved,
        remaining=drop.supply - drop.reserved,
        per_buyer_limit=drop.per_buyer_limit,
        payment_methods=payment_methods,
        starts_at=aware(drop.starts_at),
        ends_at=aware(drop.ends_at) if drop.ends_at else None,
        status=drop_status(drop, now),
        chain_id=drop.chain_id,
        contract=drop.contract,
    )


@router.get("/api/v1/drops", response_model=DropsPage)
def list_drops(
    session: SessionDep,
    runtime: RuntimeDep,
    page: PageDep,
    municipality: Annotated[str | None, Query(max_length=64, description="a town's slug")] = None,
) -> DropsPage:
    query = drops_of(runtime.manifest.chain_id, municipality)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.limit(page.limit).offset(page.offset)).all()
    now = datetime.now(UTC)
    items = [drop_public(drop, slug, now, runtime.payment_methods(drop.payment_methods)) for drop, slug in rows]
    return DropsPage(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/api/v1/drops/{drop_id}", response_model=DropPublic, responses=error_responses(404, codes={404: "drop_not_found"})
)
def get_drop(
    drop_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], session: SessionDep, runtime: RuntimeDep
) -> DropPublic:
    row = session.execute(
        select(Drop, Municipality.slug).join(Municipality).where(Drop.id == drop_id, Drop.status.in_(PUBLIC_STATUSES))
    ).first()
    if row is None:
        raise ApiError(404, "drop_not_found", "No drop with this id.")
    return drop_public(row[0], row[1], datetime.now(UTC), runtime.payment_methods(row[0].payment_methods))


IDEMPOTENCY_SCOPE = "orders"
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
Authorization = Annotated[str | None, Header()]


def _not_found() -> ApiError:
    return ApiError(404, "order_not_found", "No order with this id (or the order token does not match).")


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def _authorised_order(session: Session, order_id: str, authorization: str | None, *, lock: bool = False) -> Order:
    if not ORDER_ID_PATTERN.fullmatch(order_id):  # cannot exist; PostgreSQL refuses NUL in text
        raise _not_found()
    order = session.get(Order, order_id, with_for_update=lock)
    if order is None or not token_matches(order, _bearer(authorization)):
        raise _not_found()
    return order


def _check_method(runtime: Runtime, drop: Drop, body: OrderCreate) -> None:
    if body.payment_method not in runtime.payment_methods(drop.payment_methods):
        raise ApiError(400, "payment_method_unavailable", f"This drop cannot be paid by {body.payment_method} here.")
    if body.payment_method == "wallet" and body.wallet_address is None:
        raise ApiError(400, "wallet_address_required", "Paying from a wallet needs the wallet's address.")


#: `payment_method_unavailable` is a business outcome (which methods this drop and deployment
#: take), `wallet_address_required` is also stated in the schema (`OrderCreate`).
ORDER_REFUSALS = error_responses(
    400,
    404,
    409,
    429,
    502,
    codes={
        400: "payment_method_unavailable, wallet_address_required",
        404: "drop_not_found",
        409: (
            "sold_out, limit_exceeded, not_on_sale, drop_paused, lottery_only, idempotency_key_reused, "
            "request_in_progress"
        ),
        502: "payment_provider_unavailable",
    },
)


#: What a client does next with a new order (OpenAPI links; schemathesis follows them too).
_WITH_ORDER_TOKEN = {
    "order_id": "$response.body#/order_id",
    "header.authorization": "Bearer {$response.body#/order_token}",
}
ORDER_LINKS = {
    "ReadOrder": {
        "operationRef": "#/paths/~1api~1v1~1orders~1{order_id}/get",
        "parameters": _WITH_ORDER_TOKEN,
        "description": "The order's status, with its order token",
    },
    "DemoPay": {
        "operationRef": "#/paths/~1api~1v1~1orders~1{order_id}~1demo-pay/post",
        "parameters": _WITH_ORDER_TOKEN,
        "description": "Pay a `demo` order (demo deployments)",
    },
}


@router.post(
    "/api/v1/orders",
    status_code=201,
    response_model=OrderCreated,
    responses={201: {"links": ORDER_LINKS}, **ORDER_REFUSALS},
)
def create_order(
    body: OrderCreate, request: Request, runtime: RuntimeDep, idempotency_key: IdempotencyKey = None
) -> Any:
    """Reserve cards for a buyer; pay next (demo-pay, the checkout URL, or the vouchers on chain)."""
    _check_rate(request, runtime)
    now = datetime.now(UTC)
    body_hash = idempotency.request_hash(body.model_dump(mode="json"))
    try:
        try:
            answer = _create_once(runtime, body, idempotency_key, body_hash, now)
        except OrderRefused as refused:
            # Sold out may only mean reservations ran out unpaid: give them back (in their own
            # transaction, so locks are always taken order → buyers → drop), then try once more.
            if refused.code != "sold_out" or not _reclaim_expired(runtime, body.drop_id, now):
                raise
            answer = _create_once(runtime, body, idempotency_key, body_hash, now)
    except OrderRefused as refused:
        raise ApiError(refused.status, refused.code, str(refused)) from None
    except idempotency.KeyReuse as reuse:
        raise ApiError(409, reuse.code, str(reuse)) from None
    if isinstance(answer, idempotency.Replay):
        if answer.status_code != idempotency.IN_PROGRESS:
            return JSONResponse(answer.body, status_code=answer.status_code, headers={"Idempotent-Replayed": "true"})
        # The first request stopped between its reservation and its checkout: finish it.
        answer = OrderCreated.model_validate(answer.body)
        if not _still_pending(runtime, answer.order_id):
            return JSONResponse(answer.model_dump(mode="json"), status_code=201)
        answer.checkout_url = _start_checkout(
            runtime, answer.order_id, idempotency_key, body_hash, answer, release_on_failure=False
        )
    elif body.payment_method == "card":
        answer.checkout_url = _start_checkout(runtime, answer.order_id, idempotency_key, body_hash, answer)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201)


def _still_pending(runtime: Runtime, order_id: str) -> bool:
    with runtime.sessions() as session:
        order = session.get(Order, order_id)
        return order is not None and order.status == "pending_payment"


def _check_rate(request: Request, runtime: Runtime) -> None:
    """At most `order_rate_per_minute` orders a minute from one client address, so a script
    cannot hold a drop's stock with throw-away emails. Behind a reverse proxy, the client's
    address comes from X-Forwarded-For (uvicorn's proxy headers, trusted from 127.0.0.1).
    Counted in the shared database counters, so several API processes keep one limit."""
    per_minute = runtime.settings.order_rate_per_minute
    host = request.client.host if request.client else None
    if (
        per_minute
        and not is_loopback(host)
        and not ratelimit.allow(runtime.sessions, (f"orders:ip:{host}", per_minute, 60))
    ):
        raise ApiError(429, "rate_limited", "Too many orders from this address; please try again in a minute.")


def _reclaim_expired(runtime: Runtime, drop_id: int, now: datetime) -> int:
    with runtime.sessions() as session:
        expired = expire_due(session, now, drop_id=drop_id)
        session.commit()
    return expired


def _create_once(
    runtime: Runtime, body: OrderCreate, idempotency_key: str | None, body_hash: str, now: datetime
) -> OrderCreated | idempotency.Replay:
    """One transaction: the order, its stock and counts, wallet vouchers, the stored answer.
    Returns the stored answer when the Idempotency-Key was seen before."""
    vault = runtime.vault
    with runtime.sessions() as session:
        try:
            if idempotency_key and (
                replay := idempotency.lookup(session, vault, IDEMPOTENCY_SCOPE, idempotency_key, body_hash)
            ):
                return replay
            if idempotency_key:
                idempotency.claim(session, IDEMPOTENCY_SCOPE, idempotency_key, body_hash)
            drop = session.get(Drop, body.drop_id)
            if drop is None or drop.chain_id != runtime.manifest.chain_id or drop.status not in PUBLIC_STATUSES:
                raise ApiError(404, "drop_not_found", "No drop with this id.")
            refuse_unorderable(drop)
            if not on_sale(drop, now):
                raise ApiError(409, "not_on_sale", "This drop is not on sale now.")
            _check_method(runtime, drop, body)
            holder = None if body.wallet_address else ensure_holder(session, vault, body.email)
            request = NewOrder(
                body.drop_id,
                body.quantity,
                body.email,
                body.prefecture,
                body.payment_method,
                body.wallet_address,
                body.campaign_code,
            )
            order, token = reserve(
                session,
                drop,
                request,
                recipient=body.wallet_address or (holder.address if holder else None),
                holder_id=holder.id if holder else None,
                ttl=timedelta(seconds=runtime.settings.order_ttl_seconds),
                now=now,
            )
            created = OrderCreated(
                order_id=order.id,
                status=order.status,
                order_token=token,
                drop_id=drop.id,
                quantity=order.quantity,
                amount_jpy=order.amount_jpy,
                payment_method=order.payment_method,
                expires_at=order.expires_at,
            )
            if body.payment_method == "wallet":
                _attach_vouchers(session, runtime, drop, order, created)
            if idempotency_key:
                status = idempotency.IN_PROGRESS if body.payment_method == "card" else 201
                answer = created.model_dump(mode="json")
                idempotency.remember(session, vault, IDEMPOTENCY_SCOPE, idempotency_key, body_hash, status, answer)
            session.commit()
            return created
        except IntegrityError:
            # Another request with the same Idempotency-Key committed first: answer as it did.
            session.rollback()
            if idempotency_key is None:
                raise
            replay = idempotency.lookup(session, vault, IDEMPOTENCY_SCOPE, idempotency_key, body_hash)
            if replay is None:
                raise
            return replay


def _attach_vouchers(session: Session, runtime: Runtime, drop: Drop, order: Order, created: OrderCreated) -> None:
    """Number the wallet order's cards now (a voucher binds the id) and sign one voucher each."""
    assert order.wallet_address is not None
    vouchers = vouchers_for(
        runtime.chain.w3,
        runtime.voucher_signer,
        contract=drop.contract,
        buyer=order.wallet_address,
        token_ids=assign_cards(session, order),
        price_wei=int(drop.price_wei),
        deadline=order.expires_at,
        order_id=order.id,
    )
    order.payment_data = json.dumps({"vouchers": vouchers})
    created.voucher, created.vouchers = vouchers[0], vouchers


def _start_checkout(
    runtime: Runtime,
    order_id: str,
    idempotency_key: str | None,
    body_hash: str,
    created: OrderCreated,
    *,
    release_on_failure: bool = True,
) -> str:
    """Create the provider's checkout after the reservation committed (no lock held while we
    wait on the network). If the provider fails, the reservation is released at once and the
    Idempotency-Key forgotten, so a retry starts afresh; a retry finishing an abandoned first
    request (`release_on_failure=False`) leaves both for the next retry. The provider's own
    idempotency key (`checkout-<order id>`) makes every try return the same checkout."""
    assert runtime.card_checkout is not None
    with runtime.sessions() as session:
        order = session.get(Order, order_id)
        assert order is not None
        drop = session.get(Drop, order.drop_id)
        assert drop is not None
        town = session.get(Municipality, drop.municipality_id)
        assert town is not None
        try:
            started = runtime.card_checkout.start(
                order, drop, town, return_url=f"{runtime.settings.public_url}/order.html?id={order.id}"
            )
        except CheckoutUnavailable as exc:
            if release_on_failure:
                session.refresh(order, with_for_update=True)
                expire(session, order)
                order.status, order.failure = "failed", "checkout_unavailable"
                if idempotency_key:
                    idempotency.forget(session, IDEMPOTENCY_SCOPE, idempotency_key)
                session.commit()
            message = f"The card payment service did not answer: {exc}"
            raise ApiError(502, "payment_provider_unavailable", message) from None
        order.payment_data = json.dumps({"checkout_session": started.session_id, "checkout_url": started.url})
        created.checkout_url = started.url
        if idempotency_key:
            idempotency.remember(
                session,
                runtime.vault,
                IDEMPOTENCY_SCOPE,
                idempotency_key,
                body_hash,
                201,
                created.model_dump(mode="json"),
            )
        session.commit()
    return started.url


def order_public(session: Session, runtime: Runtime, order: Order, *, just_paid: bool = False) -> OrderPublic:
    """The order as its buyer sees it, after bringing its status up to date (not needed when
    this request has just paid it: its cards are numbered and queued, nothing more yet)."""
    outcome = (
        MintOutcome(card_ids(session, order.id), None, None)
        if just_paid
        else refresh(session, order, datetime.now(UTC))
    )
    drop = session.get(Drop, order.drop_id)
    assert drop is not None
    payment: dict[str, Any] = json.loads(order.payment_data or "{}")
    vouchers = payment.get("vouchers") if order.status == "pending_payment" else None
    minted = order.status == "minted"
    return OrderPublic(
        order_id=order.id,
        status=order.status,
        drop_id=order.drop_id,
        quantity=order.quantity,
        amount_jpy=order.amount_jpy,
        payment_method=order.payment_method,
        prefecture=order.prefecture,
        created_at=aware(order.created_at),
        expires_at=aware(order.expires_at),
        paid_at=aware(order.paid_at) if order.paid_at else None,
        token_ids=outcome.token_ids,
        chain_id=drop.chain_id if minted else None,
        contract=drop.contract if minted else None,
        tx_hash=outcome.tx_hash if minted else None,
        owner=outcome.owner if minted else None,
        checkout_url=payment.get("checkout_url") if order.status == "pending_payment" else None,
        voucher=vouchers[0] if vouchers else None,
        vouchers=vouchers,
        failure=order.failure,
    )


@router.get(
    "/api/v1/orders/{order_id}",
    response_model=OrderPublic,
    responses=error_responses(404, codes={404: "order_not_found (also for a token that does not match)"}),
)
def get_order(order_id: str, runtime: RuntimeDep, authorization: Authorization = None) -> OrderPublic:
    with runtime.sessions() as session:
        order = _authorised_order(session, order_id, authorization)
        public = order_public(session, runtime, order)
        session.commit()
    return public


@router.post(
    "/api/v1/orders/{order_id}/demo-pay",
    response_model=OrderPublic,
    responses=error_responses(
        404,
        409,
        codes={
            404: "order_not_found; not_found when demo payments are off",
            409: "wrong_payment_method, order_expired, not_payable, amount_mismatch",
        },
    ),
)
def demo_pay(order_id: str, runtime: RuntimeDep, authorization: Authorization = None) -> OrderPublic:
    """The demo provider's pay button: the order is paid at once (demo mode only)."""
    if not runtime.settings.demo_mode:
        raise ApiError(404, "not_found", "Demo payments are off on this deployment.")
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        order = _authorised_order(session, order_id, authorization)
        if order.payment_method != "demo":
            raise ApiError(409, "wrong_payment_method", f"This order is paid by {order.payment_method}, not demo.")
        if order.status == "pending_payment" and aware(order.expires_at) <= now:
            expire(session, order)
            session.commit()
        if order.status == "expired":
            raise ApiError(409, "order_expired", "The reservation expired before payment; please order again.")
        result = None
        if order.status == "pending_payment":
            try:
                result = apply_payment(
                    session, order, provider="demo", provider_ref=order.id, amount_jpy=order.amount_jpy, now=now
                )
            except OrderRefused as refused:
                session.rollback()
                raise ApiError(refused.status, refused.code, str(refused)) from None
            if result is PaymentResult.LATE:
                session.commit()
                raise ApiError(409, "order_expired", "The reservation expired before payment.")
        session.commit()  # first: the payment's locks go as soon as possible
        if result is PaymentResult.DUPLICATE:
            session.refresh(order)  # a concurrent request paid it: read what it wrote
        public = order_public(session, runtime, order, just_paid=result is PaymentResult.APPLIED)
        session.commit()
    return public
