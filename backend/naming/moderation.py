"""Moderators decide the primary winner's proposed name: approve or reject with a reason from
the town's list, both on chain through the exactly-once sender.

    claim     a short committed UPDATE marks the proposal as being decided by this member
              (`decided_by`, `decided_at`, the reason code and note), only if nobody else is
              deciding it: two moderators clicking at once send one decision. A claim that
              sent nothing (the process died before sending) is free again after
              `names.STALE_CLAIM`; one whose transaction is stored is never taken over, since
              `approveName(lot)` names no proposal and a late approve must not approve a later name.
    send      `approveName(lot)` or `rejectName(lot, code)`, purpose
              `naming:proposal:{id}:approve|reject`. Before it, the chain must still hold this
              name pending.
    record    mined → `names.finalize` (state, transaction, audit row: one transaction, once). A
              receipt that does not come in time leaves the proposal pending with the decision
              on its way (202); the watcher records it when it is mined.

The reasons: each town keeps its own list (`NameRejectReason`; the code goes on chain as a
uint16), seeded on first use with the usual grounds a town refuses a name for.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.core import audit
from backend.core.errors import ApiError
from backend.core.schemas import UtcDateTime
from backend.naming.chain import NamingChain, naming_chain, proposal_purpose
from backend.naming.models import Lot, NameProposal, NameRejectReason, Park
from backend.naming.names import (
    STALE_CLAIM,
    RejectReasonPublic,
    finalize,
    is_stored,
    name_record,
    reconcile_lot,
    reject_reason_of,
    send_once,
)
from backend.naming.park_view import aware
from backend.runtime import Runtime
from backend.sales.drop_schemas import Description, Title
from backend.staff.deps import StaffContext
from backend.staff.models import StaffMember
from minting.errors import ContractReverted, first_line
from minting.naming_rights import NameStatus
from minting.once import OnceSendFailed, call_tx
from minting.store import insert_for

log = logging.getLogger("furusato.naming")

#: Japan's trademark search (特許情報プラットフォーム), for the moderators' reminder.
TRADEMARK_SEARCH_URL = "https://www.j-platpat.inpit.go.jp/"
TRADEMARK_REMINDER_JA = (
    "承認の前に、J-PlatPat（特許情報プラットフォーム）で同じ・似た名前の登録商標がないか確認してください。"
)
TRADEMARK_REMINDER_EN = "Before approving, search J-PlatPat for registered trademarks with the same or a similar name."

#: Reasons every town starts with: (code, Japanese, English).
DEFAULT_REASONS: tuple[tuple[int, str, str], ...] = (
    (1, "公序良俗に反する", "Contrary to public order or morals"),
    (2, "商標権を侵害するおそれ", "May infringe a trademark"),
    (3, "特定の個人・団体の宣伝や政治・宗教", "Promotes a particular person or group, or is political or religious"),
    (4, "読みにくい・紛らわしい", "Hard to read or confusing"),
    (5, "その他", "Other"),
)
MAX_REASON_CODE = 65_535  # uint16 on chain

QueueState = Literal["pending", "relaying", "approved", "rejected", "failed", "all"]


# ── schemas ─────────────────────────────────────────────────────────────────


class TrademarkReminder(BaseModel):
    url: str
    note_ja: str
    note_en: str


class EarlierProposal(BaseModel):
    id: int
    name: str
    reading: str
    state: str
    reject_reason: RejectReasonPublic | None
    proposed_at: UtcDateTime
    decided_at: UtcDateTime | None


class StaffProposal(BaseModel):
    """A proposal in the moderators' queue, with what they need to decide it."""

    id: int
    lot_id: int
    park_id: int
    park_name: str
    term_start: UtcDateTime
    term_end: UtcDateTime
    name: str
    reading: str
    #: The proposer's own words on why this name.
    reason: str
    via: str
    state: str
    #: The winner's address (custodial or their wallet).
    proposer: str
    proposed_at: UtcDateTime
    #: While `state` is pending: a decision is being sent (by `decided_by`).
    deciding: bool
    decided_by: str | None
    decided_at: UtcDateTime | None
    reject_reason: RejectReasonPublic | None
    reject_note: str
    chain_error: str
    tx_hash: str | None
    decision_tx_hash: str | None
    trademark_search: TrademarkReminder
    #: The winner's earlier proposals for this lot and how each ended, newest first.
    history: list[EarlierProposal]


class StaffProposalsPage(BaseModel):
    items: list[StaffProposal]
    total: int
    limit: int
    offset: int


class DecisionOut(BaseModel):
    #: "approved" / "rejected" when recorded; "sending" while the transaction is on its way.
    decision: str
    proposal: StaffProposal


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason_code": 1}]})

    reason_code: Annotated[int, Field(ge=1, le=MAX_REASON_CODE, description="a code of the town's list")]
    note: Annotated[Description, Field(max_length=1000, description="shown to the proposer with the reason")] = ""


class RejectReasonOut(BaseModel):
    code: int
    label_ja: str
    label_en: str
    active: bool


class RejectReasonsOut(BaseModel):
    items: list[RejectReasonOut]


class RejectReasonCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"label_ja": "公園の名前としてふさわしくない", "label_en": "Unfit for a park"}]
        },
    )

    label_ja: Title
    label_en: Title
    code: Annotated[int | None, Field(ge=1, le=MAX_REASON_CODE, description="default: the next free code")] = None


# ── refusals ────────────────────────────────────────────────────────────────


def proposal_not_found() -> ApiError:
    return ApiError(404, "proposal_not_found", "この提案はありません。 / No proposal has this id in this town.")


def not_pending() -> ApiError:
    return ApiError(
        409, "proposal_not_pending", "この提案はすでに決定済みです。 / This proposal is no longer awaiting a decision."
    )


def in_progress() -> ApiError:
    return ApiError(
        409,
        "decision_in_progress",
        "ほかのモデレーターがこの提案を決定中です。 / Another moderator is deciding this proposal.",
    )


def chain_unavailable() -> ApiError:
    return ApiError(
        503, "chain_unavailable", "ただいまチェーンに送れません。 / Decisions cannot be sent to the chain right now."
    )


# ── reasons ─────────────────────────────────────────────────────────────────


def ensure_reasons(session: Session, town_id: int) -> None:
    """Seed the default reasons for a town that has none (safe when two requests race)."""
    if session.scalar(select(func.count()).where(NameRejectReason.municipality_id == town_id)):
        return
    insert = insert_for(session)
    for code, label_ja, label_en in DEFAULT_REASONS:
        values = {"municipality_id": town_id, "code": code, "label_ja": label_ja, "label_en": label_en, "active": True}
        session.execute(insert(NameRejectReason).values(**values).on_conflict_do_nothing())


def reasons_of(session: Session, town_id: int) -> RejectReasonsOut:
    ensure_reasons(session, town_id)
    rows = session.scalars(
        select(NameRejectReason).where(NameRejectReason.municipality_id == town_id).order_by(NameRejectReason.code)
    )
    return RejectReasonsOut(
        items=[RejectReasonOut(code=r.code, label_ja=r.label_ja, label_en=r.label_en, active=r.active) for r in rows]
    )


def add_reason(session: Session, ctx: StaffContext, body: RejectReasonCreate) -> RejectReasonOut:
    """A reason added to the town's list (in the caller's transaction, with its audit row)."""
    ensure_reasons(session, ctx.town.id)
    highest = session.scalar(
        select(func.max(NameRejectReason.code)).where(NameRejectReason.municipality_id == ctx.town.id)
    )
    code = body.code if body.code is not None else int(highest or 0) + 1
    if code > MAX_REASON_CODE:
        raise ApiError(409, "reason_code_taken", "空いている理由コードがありません。 / No reason code is free.")
    taken = session.scalar(
        select(NameRejectReason.id).where(
            NameRejectReason.municipality_id == ctx.town.id, NameRejectReason.code == code
        )
    )
    if taken is not None:
        raise ApiError(409, "reason_code_taken", "この理由コードは使われています。 / This reason code is taken.")
    label_ja, label_en = body.label_ja.strip(), body.label_en.strip()
    reason = NameRejectReason(municipality_id=ctx.town.id, code=code, label_ja=label_ja, label_en=label_en, active=True)
    session.add(reason)
    session.flush()
    view = {"code": code, "label_ja": label_ja, "label_en": label_en}
    audit.record(
        session,
        town_id=ctx.town.id,
        actor=ctx.actor,
        action="name_reject_reason.create",
        target_type="name_reject_reason",
        target_id=str(code),
        after=view,
    )
    return RejectReasonOut(code=code, label_ja=label_ja, label_en=label_en, active=True)


# ── the queue ───────────────────────────────────────────────────────────────


def trademark_reminder() -> TrademarkReminder:
    return TrademarkReminder(url=TRADEMARK_SEARCH_URL, note_ja=TRADEMARK_REMINDER_JA, note_en=TRADEMARK_REMINDER_EN)


def staff_proposal(session: Session, proposal: NameProposal) -> StaffProposal:
    lot = session.get(Lot, proposal.lot_id)
    assert lot is not None
    park = session.get(Park, lot.park_id)
    assert park is not None
    member = session.get(StaffMember, proposal.decided_by) if proposal.decided_by is not None else None
    earlier = session.scalars(
        select(NameProposal)
        .where(NameProposal.lot_id == proposal.lot_id, NameProposal.id < proposal.id)
        .order_by(NameProposal.id.desc())
    )
    rejected = proposal.state == "rejected"
    return StaffProposal(
        id=proposal.id,
        lot_id=lot.id,
        park_id=park.id,
        park_name=park.name_ja,
        term_start=lot.term_start,
        term_end=lot.term_end,
        name=proposal.name,
        reading=proposal.reading,
        reason=proposal.reason,
        via=proposal.via,
        state=proposal.state,
        proposer=proposal.proposer,
        proposed_at=proposal.proposed_at,
        deciding=proposal.state == "pending" and proposal.decided_by is not None,
        decided_by=member.email if member is not None else None,
        decided_at=proposal.decided_at if proposal.state in ("approved", "rejected") else None,
        reject_reason=reject_reason_of(session, proposal.municipality_id, proposal.reject_code) if rejected else None,
        reject_note=proposal.reject_note if rejected else "",
        chain_error=proposal.chain_error,
        tx_hash=proposal.tx_hash,
        decision_tx_hash=proposal.decision_tx_hash,
        trademark_search=trademark_reminder(),
        history=[
            EarlierProposal(
                id=item.id,
                name=item.name,
                reading=item.reading,
                state=item.state,
                reject_reason=reject_reason_of(session, item.municipality_id, item.reject_code)
                if item.state == "rejected"
                else None,
                proposed_at=item.proposed_at,
                decided_at=item.decided_at if item.state in ("approved", "rejected") else None,
            )
            for item in earlier
        ],
    )


def queue(session: Session, town_id: int, state: QueueState, limit: int, offset: int) -> StaffProposalsPage:
    """The town's proposals in `state` ("all": every one), oldest pending first, else newest first."""
    where = [NameProposal.municipality_id == town_id]
    if state != "all":
        where.append(NameProposal.state == state)
    total = int(session.scalar(select(func.count()).select_from(NameProposal).where(*where)) or 0)
    order = NameProposal.id.asc() if state == "pending" else NameProposal.id.desc()
    rows = session.scalars(select(NameProposal).where(*where).order_by(order).limit(limit).offset(offset))
    return StaffProposalsPage(
        items=[staff_proposal(session, row) for row in rows], total=total, limit=limit, offset=offset
    )


def town_proposal(session: Session, town_id: int, proposal_id: int) -> NameProposal:
    proposal = session.get(NameProposal, proposal_id)
    if proposal is None or proposal.municipality_id != town_id:
        raise proposal_not_found()
    return proposal


# ── deciding ────────────────────────────────────────────────────────────────


def _claim(
    runtime: Runtime,
    chain: NamingChain,
    ctx: StaffContext,
    proposal_id: int,
    code: int | None,
    note: str,
    now: datetime,
) -> None:
    """Mark the proposal as being decided by `ctx.member` (module docstring), or refuse."""
    other = "reject" if code is None else "approve"
    other_purpose = proposal_purpose(proposal_id, other)
    if is_stored(chain.sender, other_purpose) and chain.sender.find(other_purpose) is None:
        raise in_progress()  # the other decision is on its way: never send both
    with runtime.sessions.begin() as session:
        proposal = town_proposal(session, ctx.town.id, proposal_id)
        if proposal.state != "pending":
            raise not_pending()
        if proposal.decided_by is not None and proposal.decided_by != ctx.member.id:
            sent = any(is_stored(chain.sender, proposal_purpose(proposal_id, step)) for step in ("approve", "reject"))
            if sent or (proposal.decided_at is not None and aware(proposal.decided_at) > now - STALE_CLAIM):
                raise in_progress()
        claimed = session.execute(
            update(NameProposal)
            .where(
                NameProposal.id == proposal_id,
                NameProposal.state == "pending",
                NameProposal.decided_by.is_(None)
                if proposal.decided_by is None
                else NameProposal.decided_by == proposal.decided_by,
            )
            .values(decided_by=ctx.member.id, decided_at=now, reject_code=code, reject_note=note)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise in_progress()


def _release(runtime: Runtime, proposal_id: int, member_id: int) -> None:
    with runtime.sessions.begin() as session:
        session.execute(
            update(NameProposal)
            .where(
                NameProposal.id == proposal_id, NameProposal.state == "pending", NameProposal.decided_by == member_id
            )
            .values(decided_by=None, decided_at=None, reject_code=None, reject_note="")
            .execution_options(synchronize_session=False)
        )


def decide(
    runtime: Runtime,
    ctx: StaffContext,
    proposal_id: int,
    approve: bool,
    now: datetime,
    *,
    reason_code: int | None = None,
    note: str = "",
) -> DecisionOut:
    """Approve (or reject with `reason_code`) a pending proposal, on chain (module docstring)."""
    with runtime.sessions() as session:
        proposal = town_proposal(session, ctx.town.id, proposal_id)
        lot = session.get(Lot, proposal.lot_id)
        assert lot is not None
        if proposal.state != "pending":
            raise not_pending()
        if not approve:
            ensure_reasons(session, ctx.town.id)
            session.commit()
            known = session.scalar(
                select(NameRejectReason.id).where(
                    NameRejectReason.municipality_id == ctx.town.id,
                    NameRejectReason.code == reason_code,
                    NameRejectReason.active,
                )
            )
            if known is None:
                raise ApiError(
                    404,
                    "reject_reason_not_found",
                    "この理由コードは町のリストにありません。 / The town's list has no such reason code.",
                )
    chain = naming_chain(runtime)
    if chain is None:
        raise chain_unavailable()
    status, pending_name = name_record(chain, lot)
    if status is not NameStatus.PENDING or pending_name != proposal.name:
        reconcile_lot(runtime, chain, lot)  # the record catches up with the chain
        raise not_pending()
    _claim(runtime, chain, ctx, proposal_id, None if approve else reason_code, note, now)
    step = "approve" if approve else "reject"
    rights = chain.rights(lot.contract)
    args = (lot.chain_lot_id,) if approve else (lot.chain_lot_id, reason_code)
    function = "approveName" if approve else "rejectName"
    try:
        receipt = send_once(chain, proposal_purpose(proposal_id, step), lambda: call_tx(rights, function, *args))
    except ContractReverted as reverted:
        _release(runtime, proposal_id, ctx.member.id)
        log.info("proposal %s: %s refused by the chain: %s", proposal_id, step, reverted)
        reconcile_lot(runtime, chain, lot)
        if reverted.error == "NamingRightsNoPendingName":
            raise not_pending() from None
        raise ApiError(
            502,
            "chain_refused",
            f"チェーンが拒否しました（{reverted.error}）。 / The chain refused it ({reverted.error}).",
        ) from None
    except OnceSendFailed as exc:
        log.info("proposal %s: %s on its way: %s", proposal_id, step, first_line(exc))
        return DecisionOut(decision="sending", proposal=_view(runtime, proposal_id))
    if not receipt.ok:
        reconcile_lot(runtime, chain, lot)
        raise ApiError(502, "chain_refused", f"取引が取り消されました / The transaction reverted ({receipt.tx_hash}).")
    finalize(runtime, proposal_id, "approved" if approve else "rejected", tx_hash=receipt.tx_hash, now=now)
    view = _view(runtime, proposal_id)
    return DecisionOut(decision=view.state, proposal=view)


def _view(runtime: Runtime, proposal_id: int) -> StaffProposal:
    with runtime.sessions() as session:
        proposal = session.get(NameProposal, proposal_id)
        assert proposal is not None
        return staff_proposal(session, proposal)
