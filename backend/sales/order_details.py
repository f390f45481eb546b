"""An order as staff read it: the list's row, and its page with payments, cards, chain
transactions, refund and history (its own timestamps, staff actions from the audit log, and
the payment provider's events about it), all read in a handful of queries."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.core.models import AuditEntry
from backend.payments.models import Payment, WebhookEvent
from backend.sales.models import Drop, Order, OrderCard, Refund
from backend.sales.order_schemas import (
    CardView,
    ChainTransaction,
    ChainView,
    HistoryEntry,
    PaymentView,
    RefundPublic,
    StaffOrder,
    StaffOrderDetail,
)
from backend.sales.order_search import prefecture_label
from backend.sales.orders import ZERO_ADDRESS, aware, aware_or_none, job_ref
from backend.staff.models import StaffMember
from minting.store import ChainTxRow, MintJobRow, TokenOwnerRow, TokenTransferRow


def staff_order(order: Order, drop: Drop, token_ids: list[int]) -> StaffOrder:
    return StaffOrder(
        order_id=order.id,
        status=order.status,
        drop_id=order.drop_id,
        drop_title_ja=drop.title_ja,
        drop_title_en=drop.title_en,
        quantity=order.quantity,
        amount_jpy=order.amount_jpy,
        payment_method=order.payment_method,
        email=order.email,
        prefecture=order.prefecture,
        prefecture_name=prefecture_label(order.prefecture),
        campaign_code=order.campaign_code,
        token_ids=token_ids,
        created_at=aware(order.created_at),
        paid_at=aware_or_none(order.paid_at),
        minted_at=aware_or_none(order.minted_at),
        failure=order.failure,
    )


def refund_public(session: Session, refund: Refund, order_status: str) -> RefundPublic:
    member = session.get(StaffMember, refund.staff_id) if refund.staff_id is not None else None
    return RefundPublic(
        order_id=refund.order_id,
        status=refund.status,  # type: ignore[arg-type]
        order_status=order_status,
        reason=refund.reason,
        amount_jpy=refund.amount_jpy,
        requested_by=member.email if member else None,
        provider_ref=refund.provider_ref,
        failure=refund.failure,
        created_at=aware(refund.created_at),
        completed_at=aware_or_none(refund.completed_at),
    )


def _cards_and_chain(session: Session, order: Order, drop: Drop) -> tuple[list[CardView], ChainView]:
    cards = session.scalars(select(OrderCard).where(OrderCard.order_id == order.id).order_by(OrderCard.token_id)).all()
    ids = [int(card.token_id) for card in cards]
    jobs = {
        int(token_id): (status, mined_hash, block)
        for token_id, status, mined_hash, block in session.execute(
            select(MintJobRow.token_id, MintJobRow.status, ChainTxRow.mined_hash, ChainTxRow.block_number)
            .outerjoin(ChainTxRow, ChainTxRow.id == MintJobRow.chain_tx_id)
            .where(MintJobRow.order_ref.in_([job_ref(order.id, token_id) for token_id in ids]))
        )
    }
    owners = {
        int(token_id): owner
        for token_id, owner in session.execute(
            select(TokenOwnerRow.token_id, TokenOwnerRow.owner).where(
                TokenOwnerRow.chain_id == drop.chain_id,
                TokenOwnerRow.contract == drop.contract,
                TokenOwnerRow.token_id.in_(ids),
            )
        )
    }
    bought: dict[int, tuple[str, int]] = {}
    if order.payment_method == "wallet":  # bought on chain: the mint the indexer saw (no job of ours)
        mints = session.execute(
            select(TokenTransferRow.token_id, TokenTransferRow.tx_hash, TokenTransferRow.block_number).where(
                TokenTransferRow.chain_id == drop.chain_id,
                TokenTransferRow.contract == drop.contract,
                TokenTransferRow.token_id.in_(ids),
                TokenTransferRow.from_address == ZERO_ADDRESS,
            )
        )
        bought = {int(token_id): (tx_hash, int(block)) for token_id, tx_hash, block in mints}
    views: list[CardView] = []
    transactions: dict[str, ChainTransaction] = {}
    for card in cards:
        token_id = int(card.token_id)
        status, tx_hash, block = jobs.get(token_id, (None, None, None))
        if token_id in bought:
            tx_hash, block = bought[token_id]
        views.append(
            CardView(
                token_id=token_id,
                revoked_at=aware_or_none(card.revoked_at),
                mint_status=status,
                # Until the indexer has seen a fresh mint: where the confirmed mint sent it.
                owner=owners.get(token_id) or (order.recipient if status == "confirmed" else None),
                tx_hash=tx_hash,
            )
        )
        if tx_hash:
            entry = transactions.setdefault(
                tx_hash, ChainTransaction(tx_hash=tx_hash, block_number=block, token_ids=[])
            )
            entry.token_ids.append(token_id)
    chain = ChainView(chain_id=drop.chain_id, contract=drop.contract, transactions=list(transactions.values()))
    return views, chain


def _history(session: Session, order: Order, refund: Refund | None, town_id: int) -> list[HistoryEntry]:
    entries = [HistoryEntry(at=aware(order.created_at), kind="status", event="created")]
    if order.paid_at:
        entries.append(HistoryEntry(at=aware(order.paid_at), kind="status", event="paid"))
    if order.minted_at:
        entries.append(HistoryEntry(at=aware(order.minted_at), kind="status", event="minted"))
    if order.status == "expired":
        entries.append(HistoryEntry(at=aware(order.expires_at), kind="status", event="expired"))
    if refund is not None:
        entries.append(HistoryEntry(at=aware(refund.created_at), kind="status", event="refund_requested"))
        if refund.completed_at:
            entries.append(HistoryEntry(at=aware(refund.completed_at), kind="status", event="refunded"))
    audit_rows = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.municipality_id == town_id,
            AuditEntry.target_type == "order",
            AuditEntry.target_id == order.id,
        )
        .order_by(AuditEntry.id)
    )
    for row in audit_rows:
        after: Any = json.loads(row.after)
        entries.append(
            HistoryEntry(
                at=aware(row.at),
                kind="audit",
                event=row.action,
                actor=row.actor,
                detail={"before": json.loads(row.before), "after": after},
            )
        )
    events = session.execute(
        select(WebhookEvent.type, WebhookEvent.state, WebhookEvent.received_at)
        .where(WebhookEvent.order_id == order.id)
        .order_by(WebhookEvent.received_at)
    )
    for event_type, state, received_at in events:
        entries.append(HistoryEntry(at=aware(received_at), kind="provider", event=event_type, detail={"state": state}))
    return sorted(entries, key=lambda entry: entry.at)


def order_detail(session: Session, order: Order, town_id: int) -> StaffOrderDetail:
    """The order's page (the caller has brought its status up to date)."""
    drop = session.get(Drop, order.drop_id)
    assert drop is not None
    payments = [
        PaymentView(
            provider=payment.provider,
            provider_ref=payment.provider_ref,
            status=payment.status,
            amount_jpy=payment.amount_jpy,
            created_at=aware(payment.created_at),
        )
        for payment in session.scalars(select(Payment).where(Payment.order_id == order.id).order_by(Payment.id))
    ]
    cards, chain = _cards_and_chain(session, order, drop)
    refund = session.scalar(select(Refund).where(Refund.order_id == order.id))
    base = staff_order(order, drop, [card.token_id for card in cards])
    return StaffOrderDetail(
        **base.model_dump(),
        expires_at=aware(order.expires_at),
        wallet_address=order.wallet_address,
        recipient=order.recipient,
        payments=payments,
        cards=cards,
        chain=chain,
        refund=refund_public(session, refund, order.status) if refund is not None else None,
        history=_history(session, order, refund, town_id),
    )
