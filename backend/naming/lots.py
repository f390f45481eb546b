"""Lots (a park's naming right for a term, and its yen auction): created, relisted and awarded
on chain exactly once.

    create    the row first (`chain_state` "creating", in the staff request's transaction with
              its audit row), then `createLot` through the exactly-once sender under purpose
              `naming:lot:{id}:create`; the contract's lot id comes from the receipt's
              `LotCreated` event, and one conditional UPDATE moves the row to "ready". A node
              that is down or slow leaves it "creating" (the reason in `chain_error`): the
              settle loop (`backend.naming.settle`) resumes it under the same purpose, so
              the stored transaction is the one that counts. A revert (found by the gas
              estimate, or mined) makes it "failed" with the reason; staff make a new lot.
    relist    an unsold lot with no bid gets a new window (and reserve) in one conditional
              UPDATE, then `relist` on chain under `naming:lot:{id}:relist:{n}`.
    award     a paid lot is awarded to the winner's address with `awardOffchain` under
              `naming:lot:{id}:award`; `awarded_to` and `award_tx_hash` are set once.

Rules the contract checks are checked here first (name, window in the future, term), so a
staff mistake is a 422 and not a spent nonce.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.core.db import session_scope
from backend.naming import rules
from backend.naming.chain import NamingChain, lot_purpose
from backend.naming.models import Bid, LotBidder, LotOffer, Park
from backend.naming.models import Lot as LotRow
from backend.naming.staff_schemas import (
    ChainRecord,
    LotCreate,
    LotRelist,
    LotSummary,
    StaffBid,
    StaffBidder,
    StaffLot,
    StaffOffer,
)
from backend.towns.models import Municipality
from minting.errors import ContractReverted, first_line
from minting.naming_rights import LotConfig
from minting.once import OnceReceipt, call_tx
from minting.reverts import translate

log = logging.getLogger("furusato.naming")

CREATING, READY, FAILED = "creating", "ready", "failed"
AUCTION, AWAITING_PAYMENT, AWARDED, UNSOLD = "auction", "awaiting_payment", "awarded", "unsold"

#: Messages for staff, by the contract's error (anything else: its name and arguments).
_REVERT_MESSAGES = {
    "NamingRightsInvalidAuctionWindow": (
        "オークションの終了日時がチェーンの現在時刻より前です。期間を直して新しく作ってください。 "
        "(The auction window has passed on chain.)"
    ),
    "NamingRightsInvalidTerm": "期間が正しくありません。 (The term ends before it starts.)",
    "NamingRightsLotClosed": "この命名権はチェーン上ですでに決まっています。 (The lot is closed on chain.)",
    "AccessControlUnauthorizedAccount": (
        "サーバーの鍵にこのコントラクトの権限がありません。運用担当者に連絡してください。 "
        "(The server's key lacks a role on this NamingRights contract.)"
    ),
}


def bidder_pseudonym(number: int, lang: str = "ja") -> str:
    """What the public sees of a bidder: "入札者 3" / "Bidder 3" (the order of registration)."""
    return f"入札者 {number}" if lang == "ja" else f"Bidder {number}"


def lot_status(lot: LotRow, now: datetime) -> str:
    """scheduled, open, ended, awaiting_payment, awarded or unsold (`rules.public_status`)."""
    return rules.public_status(
        lot.phase,
        lot.chain_state == READY,
        rules.seconds(lot.auction_start),
        rules.seconds(lot.ends_at),
        rules.seconds(now),
    )


def minimum_bid_of(lot: LotRow) -> int:
    return rules.minimum_bid(lot.reserve_jpy, lot.highest_bid_jpy, lot.min_increment_jpy)


def revert_message(reverted: ContractReverted) -> str:
    return _REVERT_MESSAGES.get(reverted.error, f"チェーンが拒否しました: {reverted}")


class LotRefused(Exception):
    """A lot change the state does not allow (`status`, `code`), or a 422 (`errors`)."""

    def __init__(self, status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.errors = errors or []


def _invalid(field: str, message: str) -> LotRefused:
    error = {"type": "cross_field", "loc": ("body", field), "msg": message, "input": None}
    return LotRefused(422, "invalid_request", message, errors=[error])


def _in_future(window: LotRelist | LotCreate, now: datetime) -> None:
    if window.auction_end <= now:
        raise _invalid("auction_end", "auction_end must be in the future")


# ── creating and relisting (the database's part, in the staff request) ────


def overlapping_lot(session: Session, park_id: int, term_start: datetime, term_end: datetime) -> int | None:
    """A lot of the park (not failed on chain) whose term overlaps [term_start, term_end)."""
    found = session.scalar(
        select(LotRow.id).where(
            LotRow.park_id == park_id,
            LotRow.chain_state != FAILED,
            LotRow.term_start < term_end,
            LotRow.term_end > term_start,
        )
    )
    return int(found) if found is not None else None


def new_lot(
    session: Session,
    park: Park,
    body: LotCreate,
    *,
    chain_id: int,
    contract: str,
    created_by: int | None,
    now: datetime,
) -> LotRow:
    """The lot's row, "creating" (its `createLot` follows, after the caller commits)."""
    _in_future(body, now)
    clash = overlapping_lot(session, park.id, body.term_start, body.term_end)
    if clash is not None:
        raise LotRefused(
            409,
            "term_overlaps",
            f"この公園には期間の重なる命名権 (lot {clash}) があります。 (The term overlaps lot {clash} of this park.)",
        )
    lot = LotRow(
        park_id=park.id,
        municipality_id=park.municipality_id,
        term_start=body.term_start,
        term_end=body.term_end,
        auction_start=body.auction_start,
        auction_end=body.auction_end,
        ends_at=body.auction_end,
        reserve_jpy=body.reserve_jpy,
        min_increment_jpy=body.min_increment_jpy,
        soft_close_seconds=body.soft_close_seconds,
        extension_seconds=body.extension_seconds,
        phase=AUCTION,
        chain_id=chain_id,
        contract=contract,
        chain_state=CREATING,
        chain_error="",
        created_by=created_by,
    )
    session.add(lot)
    session.flush()
    return lot


def relist(session: Session, lot: LotRow, body: LotRelist, now: datetime) -> None:
    """unsold (no bid) → auction with the new window, in one conditional UPDATE; the chain's
    `relist` follows after the caller commits (`LotChain.relist`)."""
    _in_future(body, now)
    if body.auction_end >= rules.at_second(rules.seconds(lot.term_end)):
        raise _invalid("auction_end", "the auction must end before the term ends")
    if lot.phase != UNSOLD:
        raise LotRefused(
            409, "lot_not_unsold", "売れ残った命名権だけを再出品できます。 (Only an unsold lot can be relisted.)"
        )
    if lot.bid_count:
        raise LotRefused(
            409,
            "lot_has_bids",
            "入札のあった命名権は再出品できません。新しい命名権を作ってください。 "
            "(A lot that had bids cannot be relisted; create a new lot.)",
        )
    moved = session.execute(
        update(LotRow)
        .where(
            LotRow.id == lot.id,
            LotRow.phase == UNSOLD,
            LotRow.bid_count == 0,
            LotRow.relist_count == lot.relist_count,
        )
        .values(
            phase=AUCTION,
            auction_start=body.auction_start,
            auction_end=body.auction_end,
            ends_at=body.auction_end,
            reserve_jpy=body.reserve_jpy if body.reserve_jpy is not None else lot.reserve_jpy,
            relist_count=lot.relist_count + 1,
            chain_error="",
        )
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise LotRefused(
            409, "lot_state_changed", "ほかの操作と重なりました。再読み込みしてください。 (Changed meanwhile.)"
        )
    session.refresh(lot)


# ── the chain's part ────────────────────────────────────────────────────────


def lot_config(lot: LotRow, default_name: str) -> LotConfig:
    """`createLot`'s argument: the park, its default name, the term and the auction (yen as
    the contract's units; the contract needs a non-zero fixed step, the yen rule governs)."""
    return LotConfig(
        park_id=lot.park_id,
        default_name=default_name,
        term_start=rules.seconds(lot.term_start),
        term_end=rules.seconds(lot.term_end),
        auction_start=rules.seconds(lot.auction_start),
        auction_end=rules.seconds(lot.auction_end),
        reserve=lot.reserve_jpy,
        min_increment=rules.default_increment_for_chain(lot.min_increment_jpy),
        soft_close_window=lot.soft_close_seconds,
        extension=lot.extension_seconds,
    )


@dataclass
class LotChain:
    """The lots' transactions through the admin's exactly-once sender."""

    sessions: sessionmaker[Session]
    naming: NamingChain

    def _send(self, purpose: str, contract: str, function: str, *args: Any) -> OnceReceipt:
        """The purpose's receipt (stored, or sent now); a revert found by the gas estimate is
        raised as `ContractReverted` (nothing was stored: the purpose stays free)."""
        sender = self.naming.sender
        found = sender.find(purpose)
        if found is not None:
            return found
        rights = self.naming.rights(contract)
        try:
            return sender.send(purpose, call_tx(rights, function, *args))
        except Exception as exc:
            reverted = translate(rights.abi, exc)
            if reverted is None:
                raise
            raise reverted from exc

    def _note(self, lot_id: int, message: str, *, state: str | None = None, only_if: str | None = None) -> None:
        values: dict[str, Any] = {"chain_error": message[:1000]}
        if state is not None:
            values["chain_state"] = state
        query = update(LotRow).where(LotRow.id == lot_id)
        if only_if is not None:
            query = query.where(LotRow.chain_state == only_if)
        with session_scope(self.sessions) as session:
            session.execute(query.values(**values).execution_options(synchronize_session=False))

    def create(self, lot_id: int) -> str:
        """Bring a "creating" lot to "ready" (or "failed"); returns its chain state then."""
        with self.sessions() as session:
            lot = session.get(LotRow, lot_id)
            assert lot is not None
            park = session.get(Park, lot.park_id)
            assert park is not None
            if lot.chain_state != CREATING:
                return lot.chain_state
            config = lot_config(lot, park.name_ja)
        purpose = lot_purpose(lot_id, "create")
        try:
            receipt = self._send(purpose, lot.contract, "createLot", config.to_abi())
        except ContractReverted as reverted:
            log.warning("lot %s: createLot refused: %s", lot_id, reverted)
            self._note(lot_id, revert_message(reverted), state=FAILED, only_if=CREATING)
            return FAILED
        except Exception as exc:  # node down, no gas money, no receipt yet: the settle loop resumes
            log.warning("lot %s: createLot not finished: %s; will try again", lot_id, first_line(exc))
            self._note(lot_id, f"チェーンへの登録を待っています: {first_line(exc)}", only_if=CREATING)
            return CREATING
        if not receipt.ok:
            self._note(lot_id, f"createLot の取引が取り消されました (tx {receipt.tx_hash} reverted)", state=FAILED)
            return FAILED
        rights = self.naming.rights(lot.contract)
        created = receipt.events(rights.events.LotCreated(), lot.contract)
        assert len(created) == 1, f"{receipt.tx_hash}: {len(created)} LotCreated events"
        chain_lot_id = int(created[0]["args"]["lotId"])
        with session_scope(self.sessions) as session:
            session.execute(
                update(LotRow)
                .where(LotRow.id == lot_id, LotRow.chain_state == CREATING)
                .values(chain_state=READY, chain_lot_id=chain_lot_id, chain_error="")
                .execution_options(synchronize_session=False)
            )
        log.info("lot %s is on chain: lot %s of %s (tx %s)", lot_id, chain_lot_id, lot.contract, receipt.tx_hash)
        return READY

    def relist(self, lot_id: int) -> bool:
        """Send the lot's latest relist (`relist:{n}`) unless it is mined; True once it is."""
        with self.sessions() as session:
            lot = session.get(LotRow, lot_id)
            assert lot is not None
        if lot.relist_count == 0 or lot.chain_lot_id is None:
            return True
        purpose = lot_purpose(lot_id, f"relist:{lot.relist_count}")
        args = (lot.chain_lot_id, rules.seconds(lot.auction_start), rules.seconds(lot.auction_end), lot.reserve_jpy)
        try:
            receipt = self._send(purpose, lot.contract, "relist", *args)
        except ContractReverted as reverted:
            self._note(lot_id, revert_message(reverted))
            return True  # nothing to resend: the chain refuses it (staff see why)
        except Exception as exc:
            self._note(lot_id, f"再出品のチェーン登録を待っています: {first_line(exc)}")
            return False
        if not receipt.ok:
            self._note(lot_id, f"relist の取引が取り消されました (tx {receipt.tx_hash} reverted)")
        elif lot.chain_error:
            self._note(lot_id, "")
        return True

    def relist_pending(self, lot_id: int, relist_count: int) -> bool:
        """Whether the lot's relist `relist_count` still waits (not mined, not refused)."""
        return self.naming.sender.find(lot_purpose(lot_id, f"relist:{relist_count}")) is None

    def award(self, lot_id: int, winner: str) -> Award:
        """`awardOffchain(chain lot, winner)` once (see `Award`)."""
        with self.sessions() as session:
            lot = session.get(LotRow, lot_id)
            assert lot is not None
        if lot.award_tx_hash is not None:
            return Award(lot.award_tx_hash, recorded=False, refused=False)
        if lot.chain_lot_id is None:
            return Award(None, recorded=False, refused=False)  # still being created: that comes first
        purpose = lot_purpose(lot_id, "award")
        try:
            receipt = self._send(purpose, lot.contract, "awardOffchain", lot.chain_lot_id, winner)
        except ContractReverted as reverted:
            log.error("lot %s: awardOffchain refused: %s", lot_id, reverted)
            self._note(lot_id, revert_message(reverted))
            return Award(None, recorded=False, refused=True)
        except Exception as exc:
            log.warning("lot %s: award not finished: %s; will try again", lot_id, first_line(exc))
            self._note(lot_id, f"チェーンへの授与を待っています: {first_line(exc)}")
            return Award(None, recorded=False, refused=False)
        if not receipt.ok:
            self._note(lot_id, f"awardOffchain の取引が取り消されました (tx {receipt.tx_hash} reverted)")
            return Award(None, recorded=False, refused=True)
        with session_scope(self.sessions) as session:
            recorded = session.execute(
                update(LotRow)
                .where(LotRow.id == lot_id, LotRow.award_tx_hash.is_(None))
                .values(awarded_to=winner, award_tx_hash=receipt.tx_hash, chain_error="")
                .execution_options(synchronize_session=False)
            )
        return Award(receipt.tx_hash, recorded=bool(recorded.rowcount), refused=False)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Award:
    """How an award went: its transaction once mined; `recorded` for the one caller that
    stored it (who tells the winner); `refused` when the chain will not take it (staff see
    why in `chain_error`; sending again would not help)."""

    tx_hash: str | None
    recorded: bool
    refused: bool


# ── staff views ─────────────────────────────────────────────────────────────


def lot_summary(lot: LotRow, now: datetime) -> LotSummary:
    return LotSummary(
        id=lot.id,
        status=lot_status(lot, now),  # type: ignore[arg-type]
        phase=lot.phase,  # type: ignore[arg-type]
        term_start=lot.term_start,
        term_end=lot.term_end,
        auction_start=lot.auction_start,
        ends_at=lot.ends_at,
        highest_bid_jpy=lot.highest_bid_jpy,
        bid_count=lot.bid_count,
        chain_state=lot.chain_state,  # type: ignore[arg-type]
        awarded_to=lot.awarded_to,
    )


def lots_of_parks(session: Session, park_ids: list[int]) -> dict[int, list[LotRow]]:
    """Each park's lots, newest first."""
    found: dict[int, list[LotRow]] = {park_id: [] for park_id in park_ids}
    if park_ids:
        for lot in session.scalars(select(LotRow).where(LotRow.park_id.in_(park_ids)).order_by(LotRow.id.desc())):
            found[lot.park_id].append(lot)
    return found


def audit_view(lot: LotRow) -> dict[str, Any]:
    """What the audit log keeps of a lot: its terms and where it stands."""
    names = (
        "park_id",
        "term_start",
        "term_end",
        "auction_start",
        "auction_end",
        "reserve_jpy",
        "min_increment_jpy",
        "soft_close_seconds",
        "extension_seconds",
        "phase",
        "relist_count",
        "chain_state",
    )
    return {name: getattr(lot, name) for name in names}


def staff_lot(session: Session, lot: LotRow, town: Municipality, now: datetime) -> StaffLot:
    """A lot as staff see it: bidders by pseudonym and prefecture, every bid, the offers."""
    park = session.get(Park, lot.park_id)
    assert park is not None
    bidders = session.scalars(select(LotBidder).where(LotBidder.lot_id == lot.id).order_by(LotBidder.number)).all()
    numbers = {bidder.id: bidder.number for bidder in bidders}
    highest = dict(
        session.execute(
            select(Bid.bidder_id, func.max(Bid.amount_jpy)).where(Bid.lot_id == lot.id).group_by(Bid.bidder_id)
        ).all()
    )
    bids = session.scalars(select(Bid).where(Bid.lot_id == lot.id).order_by(Bid.seq.desc())).all()
    offers = session.scalars(select(LotOffer).where(LotOffer.lot_id == lot.id).order_by(LotOffer.round)).all()
    return StaffLot(
        id=lot.id,
        park_id=lot.park_id,
        park_name_ja=park.name_ja,
        municipality=town.slug,
        status=lot_status(lot, now),  # type: ignore[arg-type]
        phase=lot.phase,  # type: ignore[arg-type]
        term_start=lot.term_start,
        term_end=lot.term_end,
        auction_start=lot.auction_start,
        auction_end=lot.auction_end,
        ends_at=lot.ends_at,
        reserve_jpy=lot.reserve_jpy,
        min_increment_jpy=lot.min_increment_jpy,
        minimum_bid_jpy=minimum_bid_of(lot),
        highest_bid_jpy=lot.highest_bid_jpy,
        bid_count=lot.bid_count,
        soft_close_seconds=lot.soft_close_seconds,
        extension_seconds=lot.extension_seconds,
        relist_count=lot.relist_count,
        awarded_to=lot.awarded_to,
        chain=ChainRecord(
            chain_id=lot.chain_id,
            contract=lot.contract,
            lot_id=lot.chain_lot_id,
            state=lot.chain_state,  # type: ignore[arg-type]
            error=lot.chain_error,
            award_tx_hash=lot.award_tx_hash,
        ),
        created_at=lot.created_at,
        bidders=[
            StaffBidder(
                number=bidder.number,
                bidder=bidder_pseudonym(bidder.number),
                prefecture=bidder.prefecture,
                payment_method=bidder.payment_method,  # type: ignore[arg-type]
                payment_state=bidder.payment_state,  # type: ignore[arg-type]
                highest_bid_jpy=highest.get(bidder.id),
                registered_at=bidder.created_at,
            )
            for bidder in bidders
        ],
        bids=[
            StaffBid(
                seq=bid.seq,
                amount_jpy=bid.amount_jpy,
                bidder=bidder_pseudonym(numbers.get(bid.bidder_id, 0)),
                at=bid.placed_at,
                ends_at=bid.ends_at,
            )
            for bid in bids
        ],
        offers=[
            StaffOffer(
                id=offer.id,
                round=offer.round,
                bidder=bidder_pseudonym(numbers.get(offer.bidder_id, 0)),
                amount_jpy=offer.amount_jpy,
                state=offer.state,  # type: ignore[arg-type]
                charge_error=offer.charge_error,
                pay_deadline=offer.pay_deadline,
                at=offer.created_at,
                settled_at=offer.settled_at,
            )
            for offer in offers
        ],
    )
