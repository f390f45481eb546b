"""Casting votes: one card, one vote, by whoever held the card at the opening.

A request names an option and 1–50 cards. Each card must be an elector of the poll (frozen
at the opening, `backend.polls.electorate`) whose address then is one of the caller's, and
not revoked now. So a card bought after the opening has no vote; a card moved after the
opening still has one, cast by its holder at the opening, never by the new owner. All cards
or none: one refused card refuses the request.

Exactly once, in the database: a vote is the row (poll, card), inserted with ON CONFLICT DO
NOTHING; when another request inserted it first, or the card had voted, the row is read FOR
UPDATE and changed in place (new option, new receipt, `changes + 1`) if the poll allows it,
else 409 `vote_final`. Concurrent votes of one card end as one row; no IntegrityError, no 500.

Against the close: the transaction first takes the poll row FOR SHARE (PostgreSQL; many votes
share it) or the write lock (SQLite, where writes are serialised anyway), then reads the
status: the close's UPDATE waits for votes in flight and later votes see it closed, so the
ballot file's head covers exactly the votes that count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from backend.analytics.changes import mark_address
from backend.polls.ballots import aware, new_nonce, receipt_of
from backend.polls.models import Poll, PollElector, PollOption, PollVote
from backend.polls.poll_schemas import VoteOut
from backend.sales.models import OrderCard
from minting.store import insert_for


@dataclass
class VoteRefused(Exception):
    status: int
    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def _not_open() -> VoteRefused:
    return VoteRefused(409, "poll_not_open", "この投票は受付中ではありません。 (This poll is not open for votes.)")


def lock_poll(session: Session, poll_id: int) -> Poll | None:
    """The poll, read after taking its row lock for this transaction (module docstring)."""
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(
            select(Poll).where(Poll.id == poll_id).with_for_update(read=True).execution_options(populate_existing=True)
        )
    session.execute(
        update(Poll).where(Poll.id == poll_id).values(id=Poll.id).execution_options(synchronize_session=False)
    )
    return session.get(Poll, poll_id, populate_existing=True)


def _card_name(contract: str, token_id: int) -> str:
    return f"{contract}:{token_id}"


def check_electors(
    session: Session, poll_id: int, addresses: frozenset[str], cards: list[tuple[str, int]]
) -> dict[tuple[str, int], PollElector]:
    """The electors of `cards`, each cast by one of `addresses`; else 409 `not_eligible`."""
    matches = or_(*(and_(PollElector.contract == contract, PollElector.token_id == token) for contract, token in cards))
    electors = {
        (e.contract, int(e.token_id)): e
        for e in session.scalars(select(PollElector).where(PollElector.poll_id == poll_id, matches))
    }
    outside = [card for card in cards if card not in electors]
    if outside:
        names = ", ".join(_card_name(*card) for card in outside)
        raise VoteRefused(
            409,
            "not_eligible",
            f"投票開始時に対象のカードではありません: {names} "
            f"(Not in this poll's electorate, the cards of its series held at the opening: {names})",
        )
    others = [card for card in cards if electors[card].address not in addresses]
    if others:
        names = ", ".join(_card_name(*card) for card in others)
        raise VoteRefused(
            409,
            "not_eligible",
            f"このカードの票は投票開始時の持ち主のものです: {names} "
            f"(A card's vote belongs to whoever held it when the poll opened: {names})",
        )
    revoked = session.execute(
        select(OrderCard.drop_id, OrderCard.token_id).where(
            OrderCard.revoked_at.is_not(None),
            or_(*(and_(OrderCard.drop_id == e.drop_id, OrderCard.token_id == e.token_id) for e in electors.values())),
        )
    ).all()
    if revoked:
        gone = {(int(drop_id), int(token_id)) for drop_id, token_id in revoked}
        names = ", ".join(_card_name(*card) for card in cards if (electors[card].drop_id, card[1]) in gone)
        raise VoteRefused(
            409,
            "not_eligible",
            f"返金により無効になったカードは投票できません: {names} (Revoked by a refund: {names})",
        )
    return electors


def _final(card: tuple[str, int]) -> VoteRefused:
    name = _card_name(*card)
    return VoteRefused(
        409,
        "vote_final",
        f"このカードは投票済みです（この投票は変更できません）: {name} "
        f"(This card has voted and this poll does not allow changes: {name})",
    )


def cast(
    session: Session,
    poll_id: int,
    addresses: frozenset[str],
    option_id: int,
    cards: list[tuple[str, int]],
    now: datetime,
) -> list[VoteOut]:
    """Cast or change the votes of `cards` for `option_id` (module docstring), in the
    caller's transaction, which must commit. The poll must have been brought up to date
    (`backend.polls.polls.catch_up`) before."""
    poll = lock_poll(session, poll_id)
    if poll is None:
        raise VoteRefused(404, "poll_not_found", "その投票はありません。 (No such poll.)")
    if poll.status != "open" or not aware(poll.opens_at) <= now < aware(poll.closes_at):
        raise _not_open()
    option = session.get(PollOption, option_id)
    if option is None or option.poll_id != poll.id:
        raise VoteRefused(404, "option_not_found", "この投票にその選択肢はありません。 (No such option in this poll.)")
    electors = check_electors(session, poll.id, addresses, cards)
    keys = [
        {"poll_id": poll.id, "chain_id": electors[card].chain_id, "contract": card[0], "token_id": card[1]}
        for card in cards
    ]
    existing = _locked_votes(session, poll.id, cards)
    if not poll.allow_change:
        for card in cards:
            if card in existing:
                raise _final(card)
    insert = insert_for(session)
    answers: list[VoteOut] = []
    for address in sorted({electors[card].address for card in cards}):
        mark_address(session, address, poll.municipality_id)
    for card, key in zip(cards, keys, strict=True):
        nonce = new_nonce()
        row = existing.get(card)
        if row is None:
            receipt = receipt_of(poll.id, card[0], card[1], option.position, nonce)
            inserted = session.execute(
                insert(PollVote)
                .values(**key, option_id=option.id, receipt=receipt, changes=0, voted_at=now)
                .on_conflict_do_nothing()
                .returning(PollVote.token_id)  # psycopg's rowcount is -1 for an INSERT
            ).first()
            if inserted is not None:
                answers.append(_answer(card, option, receipt, nonce, 0))
                continue
            # Another request inserted it meanwhile (and has committed): change it, if allowed.
            row = _locked_votes(session, poll.id, [card]).get(card)
            assert row is not None
            if not poll.allow_change:
                raise _final(card)
        receipt = receipt_of(poll.id, card[0], card[1], option.position, nonce)
        row.option_id, row.receipt, row.changes, row.voted_at = option.id, receipt, row.changes + 1, now
        session.flush()
        answers.append(_answer(card, option, receipt, nonce, row.changes))
    return answers


def _locked_votes(session: Session, poll_id: int, cards: list[tuple[str, int]]) -> dict[tuple[str, int], PollVote]:
    matches = or_(*(and_(PollVote.contract == contract, PollVote.token_id == token) for contract, token in cards))
    rows = session.scalars(
        select(PollVote)
        .where(PollVote.poll_id == poll_id, matches)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {(row.contract, int(row.token_id)): row for row in rows}


def _answer(card: tuple[str, int], option: PollOption, receipt: str, nonce: str, changes: int) -> VoteOut:
    return VoteOut(
        contract=card[0],
        token_id=card[1],
        option_id=option.id,
        position=option.position,
        receipt=receipt,
        receipt_nonce=nonce,
        changes=changes,
    )
