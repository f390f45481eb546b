"""The primary winner's name for the term: proposed gaslessly (or from a wallet), relayed,
then decided by the town's moderators, with the chain as the record.

    propose     `POST /api/v1/lots/{id}/name-proposals`: the holder must be the lot's primary
                winner (`Lot.awarded_to`, and the chain's `lot(id).winner` agrees), inside the
                term, with no proposal open and none approved. The name is checked as the
                contract checks it (`_checkName`: 1–64 UTF-8 bytes, no control character). The
                server signs the EIP-712 `NameProposal` with the winner's custodial key and the
                admin relays `proposeNameWithSig` through the exactly-once sender, purpose
                `naming:proposal:{id}:relay`; the row goes "relaying" → "pending" (or "failed"
                with the contract's error). One open proposal per lot is also a unique index.
    wallet      a winner with a wallet of their own calls `proposeName` directly; the
                watcher's reconcile reads `nameRecord` of every awarded lot and enters a pending
                name it does not know as a proposal with `via="wallet"`.
    decide      `backend.naming.moderation` sends `approveName` / `rejectName`; the reconcile
                also records a decision that was mined but not recorded (a crash, a slow node)
                and one made on chain outside this backend. The chain is the truth: the record
                follows `nameRecord`.
    notices     terms that end within `rules.TERM_NOTICE_DAYS`: listed in the console, and the
                watcher mails the town's owners and editors once per lot (a conditional UPDATE
                of `Lot.term_notice_at`).

`NamingWatcher` runs the reconcile and the notices in a loop thread of `Runtime.start_worker`.
"""

from __future__ import annotations

import logging
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from web3 import Web3

from backend.core import audit, mail
from backend.core.db import utcnow
from backend.core.errors import ApiError
from backend.core.schemas import UtcDateTime
from backend.holders.custody import KeyUnavailable, holder_account
from backend.holders.models import Holder
from backend.naming import rules
from backend.naming.chain import NamingChain, naming_chain, proposal_purpose
from backend.naming.models import Lot, NameProposal, NameRejectReason, Park
from backend.naming.park_view import aware
from backend.runtime import Runtime
from backend.sales.drop_schemas import Description, Title
from backend.sales.order_search import JST
from backend.staff.models import StaffMember, StaffRole
from backend.towns.models import Municipality
from minting.errors import ContractReverted, first_line
from minting.naming_rights import NameStatus, name_problem, name_proposal_signature
from minting.once import OnceReceipt, OnceSender, OnceSendFailed, call_tx
from minting.reverts import translate
from minting.store import OnceTxRow
from minting.worker import LoopThread, start_loop

log = logging.getLogger("furusato.naming")

#: How long a signed proposal may take to reach the chain (its EIP-712 deadline).
SIGNATURE_SECONDS = 3_600
OPEN_STATES = ("relaying", "pending")
#: A moderator's claim on a decision that sent nothing (the process died before sending) may
#: be taken over by another moderator after this long.
STALE_CLAIM = timedelta(minutes=5)
#: A proposal younger than this is the relaying request's to finish (it waits this long at most).
RELAY_LEFT_TO_REQUEST = timedelta(seconds=30)
#: The watcher's round, and how long it waits for a receipt before leaving it to the next round.
WATCH_SECONDS = 2.0
WATCH_RECEIPT_WAIT = 2.0
#: What the audit log names when the chain, not a staff member, made the change.
CHAIN_ACTOR = "chain"

# ── schemas ─────────────────────────────────────────────────────────────────


class NameProposalCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "ほしかわ星空公園", "reading": "ほしかわほしぞらこうえん"}]},
    )

    name: Annotated[
        Title,
        Field(
            max_length=64,
            description="The park's name for the term: at most 64 UTF-8 bytes (21 kanji), no control "
            "character (else 422 name_invalid, as the contract would refuse it); surrounding spaces are trimmed",
        ),
    ]
    reading: Annotated[Title, Field(max_length=100, description="よみがな")]
    reason: Annotated[Description, Field(max_length=1000, description="Why this name (moderators read it)")] = ""


class RejectReasonPublic(BaseModel):
    code: int
    label_ja: str
    label_en: str


class ProposalPublic(BaseModel):
    """A proposal as its proposer (and the public record) sees it."""

    id: int
    lot_id: int
    name: str
    reading: str
    reason: str
    #: "relayed" (signed by the custodial key, sent by the town) or "wallet" (sent by the winner).
    via: str
    #: relaying → pending → approved | rejected; failed when the chain refused it.
    state: str
    #: Why the town refused it (from its list), and the moderator's note to the proposer.
    reject_reason: RejectReasonPublic | None
    reject_note: str
    #: The contract's error when `state` is "failed".
    chain_error: str
    tx_hash: str | None
    decision_tx_hash: str | None
    proposed_at: UtcDateTime
    decided_at: UtcDateTime | None


class ProposalCreated(BaseModel):
    proposal: ProposalPublic


def reject_reason_of(session: Session, town_id: int, code: int | None) -> RejectReasonPublic | None:
    if code is None:
        return None
    reason = session.scalar(
        select(NameRejectReason).where(NameRejectReason.municipality_id == town_id, NameRejectReason.code == code)
    )
    if reason is None:
        return RejectReasonPublic(code=code, label_ja=f"理由 {code}", label_en=f"Reason {code}")
    return RejectReasonPublic(code=reason.code, label_ja=reason.label_ja, label_en=reason.label_en)


def proposal_public(session: Session, proposal: NameProposal) -> ProposalPublic:
    decided = proposal.state in ("approved", "rejected")
    return ProposalPublic(
        id=proposal.id,
        lot_id=proposal.lot_id,
        name=proposal.name,
        reading=proposal.reading,
        reason=proposal.reason,
        via=proposal.via,
        state=proposal.state,
        reject_reason=reject_reason_of(session, proposal.municipality_id, proposal.reject_code)
        if proposal.state == "rejected"
        else None,
        reject_note=proposal.reject_note if proposal.state == "rejected" else "",
        chain_error=proposal.chain_error,
        tx_hash=proposal.tx_hash,
        decision_tx_hash=proposal.decision_tx_hash,
        proposed_at=proposal.proposed_at,
        decided_at=proposal.decided_at if decided else None,
    )


def proposals_of_lot(session: Session, lot_id: int) -> list[NameProposal]:
    """Every proposal of a lot, newest first (for the winner's page and the moderators)."""
    query = select(NameProposal).where(NameProposal.lot_id == lot_id).order_by(NameProposal.id.desc())
    return list(session.scalars(query))


# ── refusals ────────────────────────────────────────────────────────────────


def not_primary_winner() -> ApiError:
    return ApiError(
        409,
        "not_primary_winner",
        "この命名権を落札した方だけが名前を提案できます。 / "
        "Only the primary winner of this right may propose its name.",
    )


def outside_term() -> ApiError:
    return ApiError(
        409,
        "outside_term",
        "名前を提案できるのは命名権の期間中だけです。 / Names can be proposed only while the term runs.",
    )


def name_pending() -> ApiError:
    return ApiError(
        409,
        "name_pending",
        "提案中の名前が審査を待っています。 / A proposed name is awaiting the town's decision.",
    )


def name_already_approved() -> ApiError:
    return ApiError(
        409,
        "name_already_approved",
        "この期間の名前はすでに承認されています。 / A name has already been approved for this term.",
    )


def name_invalid(problem: str) -> ApiError:
    return ApiError(
        422,
        "name_invalid",
        f"名前は1〜64バイト（漢字21文字まで）、制御文字なしで入力してください。 / "
        f"A name is 1 to 64 UTF-8 bytes without control characters ({problem}).",
    )


#: The contract's refusals of a proposal, as the API's.
_PROPOSAL_REVERTS = {
    "NamingRightsNotPrimaryWinner": not_primary_winner,
    "NamingRightsInvalidSignature": not_primary_winner,
    "NamingRightsOutsideTerm": outside_term,
    "NamingRightsNamePending": name_pending,
    "NamingRightsNameAlreadyApproved": name_already_approved,
}
_NAME_REVERTS = ("NamingRightsEmptyName", "NamingRightsNameTooLong", "NamingRightsNameMalformed")


def refusal_of(chain_error: str) -> ApiError:
    """The API's answer to a proposal the chain refused with `chain_error`."""
    known = _PROPOSAL_REVERTS.get(chain_error)
    if known is not None:
        return known()
    if chain_error in _NAME_REVERTS:
        return name_invalid(chain_error)
    return ApiError(
        502,
        "relay_failed",
        f"チェーンが提案を受け付けませんでした（{chain_error}）。 / The chain refused the proposal ({chain_error}).",
    )


def checked_name(raw: str) -> str:
    """`raw` in NFC (one spelling for one look), if the contract would take it; else 422."""
    name = unicodedata.normalize("NFC", raw.strip())
    problem = name_problem(name)
    if problem is not None:
        raise name_invalid(problem)
    return name


def same_address(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()


# ── chain helpers ───────────────────────────────────────────────────────────


def chain_time(chain: NamingChain) -> int:
    return int(chain.w3.eth.get_block("latest")["timestamp"])


def name_record(chain: NamingChain, lot: Lot) -> tuple[NameStatus, str]:
    status, name = chain.rights(lot.contract).functions.nameRecord(lot.chain_lot_id).call()
    return NameStatus(int(status)), str(name)


def chain_winner(chain: NamingChain, lot: Lot) -> str | None:
    raw = chain.rights(lot.contract).functions.lot(lot.chain_lot_id).call()
    winner = str(raw[9])
    return None if int(winner, 16) == 0 else Web3.to_checksum_address(winner)


def is_stored(sender: OnceSender, purpose: str) -> bool:
    """True once `purpose`'s transaction is stored (sent, or on its way), mined or not."""
    with sender.sessions() as session:
        query = select(OnceTxRow.id).where(OnceTxRow.chain_id == sender.chain_id, OnceTxRow.purpose == purpose)
        return session.scalar(query) is not None


def why_reverted(chain: NamingChain, receipt: OnceReceipt) -> str:
    """The custom error of a mined, reverted transaction: its call replayed before its block."""
    tx = chain.w3.eth.get_transaction(receipt.tx_hash)  # type: ignore[arg-type]
    try:
        chain.w3.eth.call(
            {"from": tx["from"], "to": tx["to"], "data": tx["input"]},
            block_identifier=max(receipt.block_number - 1, 0),
        )
    except Exception as exc:
        reverted = translate(chain.abi, exc)
        if reverted is not None:
            return reverted.error
    return f"reverted in {receipt.tx_hash}"


def send_once(chain: NamingChain, purpose: str, build: Any) -> OnceReceipt:
    """`purpose`'s receipt: the stored one, the stored transaction's (resumed), or a new one
    built by `build()` (only when nothing is stored). Raises `ContractReverted` when the gas
    estimate says the contract refuses it (nothing is then stored), `OnceSendFailed` when no
    receipt came in time (the stored transaction is finished later)."""
    found = chain.sender.find(purpose)
    if found is not None:
        return found
    tx = {} if is_stored(chain.sender, purpose) else build()
    try:
        return chain.sender.send(purpose, tx)
    except OnceSendFailed:
        raise
    except Exception as exc:
        reverted = translate(chain.abi, exc)
        if reverted is None:
            raise
        raise reverted from exc


# ── proposing ───────────────────────────────────────────────────────────────


def propose(runtime: Runtime, holder: Holder, lot_id: int, body: NameProposalCreate, now: datetime) -> ProposalPublic:
    """The primary winner's proposal, relayed (module docstring); refusals as `ApiError`."""
    name = checked_name(body.name)
    with runtime.sessions() as session:
        lot = session.get(Lot, lot_id)
        if lot is None:
            raise ApiError(404, "lot_not_found", "この区画はありません。 / No lot has this id.")
        if lot.phase != "awarded" or lot.chain_lot_id is None or not same_address(lot.awarded_to, holder.address):
            raise not_primary_winner()
        if not aware(lot.term_start) <= now < aware(lot.term_end):
            raise outside_term()
        states = set(session.scalars(select(NameProposal.state).where(NameProposal.lot_id == lot.id)))
        if states & set(OPEN_STATES):
            raise name_pending()
        if "approved" in states:
            raise name_already_approved()
        stored = session.get(Holder, holder.id)
        assert stored is not None
        try:
            holder_account(runtime.vault, stored)  # the key must be usable before anything is stored
        except KeyUnavailable as exc:
            log.error("holder %s cannot sign a name proposal: %s", holder.id, exc)
            raise ApiError(
                503, "relay_unavailable", "ただいま提案を送れません。 / Proposals cannot be sent now."
            ) from None
    chain = naming_chain(runtime)
    if chain is not None:
        if not same_address(chain_winner(chain, lot), holder.address):
            raise not_primary_winner()
        status, _pending = name_record(chain, lot)
        if status is NameStatus.PENDING:
            raise name_pending()  # proposed from a wallet: the watcher enters it in the queue
        if status is NameStatus.APPROVED:
            raise name_already_approved()
    with runtime.sessions() as session:
        proposal = NameProposal(
            lot_id=lot.id,
            municipality_id=lot.municipality_id,
            proposer=Web3.to_checksum_address(holder.address),
            name=name,
            reading=unicodedata.normalize("NFC", body.reading.strip()),
            reason=body.reason.strip(),
            via="relayed",
            state="relaying",
            proposed_at=now,
        )
        session.add(proposal)
        try:
            session.commit()
        except IntegrityError:  # another proposal of this lot opened at the same moment
            session.rollback()
            raise name_pending() from None
        proposal_id = proposal.id
    if chain is None:
        log.info("proposal %s stored; a process with the admin key relays it", proposal_id)
    else:
        relay(runtime, chain, proposal_id)
    with runtime.sessions() as session:
        done = session.get(NameProposal, proposal_id)
        assert done is not None
        if done.state == "failed":
            raise refusal_of(done.chain_error)
        return proposal_public(session, done)


def signed_proposal_tx(runtime: Runtime, chain: NamingChain, proposal: NameProposal, lot: Lot) -> dict[str, Any]:
    """`proposeNameWithSig` signed now by the proposer's custodial key, for the relayer."""
    assert lot.chain_lot_id is not None
    with runtime.sessions() as session:
        holder = session.scalar(select(Holder).where(Holder.address == proposal.proposer))
        if holder is None:
            raise KeyUnavailable(f"no custodial key for {proposal.proposer}")
        account = holder_account(runtime.vault, holder)
    rights = chain.rights(lot.contract)
    nonce = int(rights.functions.nonces(account.address).call())
    deadline = max(int(time.time()), chain_time(chain)) + SIGNATURE_SECONDS
    signature = name_proposal_signature(
        account,
        contract=rights.address,
        chain_id=chain.sender.chain_id,
        lot_id=lot.chain_lot_id,
        name=proposal.name,
        nonce=nonce,
        deadline=deadline,
    )
    return call_tx(rights, "proposeNameWithSig", lot.chain_lot_id, proposal.name, deadline, signature)


def _set_state(runtime: Runtime, proposal_id: int, state: str, **values: Any) -> None:
    with runtime.sessions.begin() as session:
        session.execute(
            update(NameProposal)
            .where(NameProposal.id == proposal_id, NameProposal.state == "relaying")
            .values(state=state, **values)
            .execution_options(synchronize_session=False)
        )


def relay(runtime: Runtime, chain: NamingChain, proposal_id: int) -> None:
    """Bring a "relaying" proposal to "pending" (mined) or "failed" (refused); left
    "relaying" when no receipt came in time (the watcher's next round finishes it)."""
    with runtime.sessions() as session:
        proposal = session.get(NameProposal, proposal_id)
        lot = session.get(Lot, proposal.lot_id) if proposal is not None else None
        if proposal is None or lot is None or proposal.state != "relaying":
            return
    purpose = proposal_purpose(proposal_id, "relay")
    try:
        receipt = send_once(chain, purpose, lambda: signed_proposal_tx(runtime, chain, proposal, lot))
    except ContractReverted as reverted:
        log.info("proposal %s refused by the chain: %s", proposal_id, reverted)
        _set_state(runtime, proposal_id, "failed", chain_error=reverted.error)
        return
    except KeyUnavailable as exc:
        log.error("proposal %s cannot be signed: %s", proposal_id, exc)
        _set_state(runtime, proposal_id, "failed", chain_error="KeyUnavailable")
        return
    except OnceSendFailed as exc:
        log.info("proposal %s on its way: %s", proposal_id, first_line(exc))
        return
    if receipt.ok:
        _set_state(runtime, proposal_id, "pending", tx_hash=receipt.tx_hash)
    else:
        _set_state(runtime, proposal_id, "failed", tx_hash=receipt.tx_hash, chain_error=why_reverted(chain, receipt))


# ── decisions recorded ──────────────────────────────────────────────────────


def decision_view(proposal: NameProposal) -> dict[str, Any]:
    """What the audit log keeps of a decision."""
    return {
        "lot_id": proposal.lot_id,
        "name": proposal.name,
        "state": proposal.state,
        "reject_code": proposal.reject_code,
        "reject_note": proposal.reject_note,
    }


def finalize(
    runtime: Runtime,
    proposal_id: int,
    state: str,
    *,
    tx_hash: str | None,
    reject_code: int | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Record a decision the chain holds (pending → approved | rejected), with its audit row,
    exactly once: False if it was recorded already. `actor` defaults to the moderator who
    claimed the decision, else `CHAIN_ACTOR`; a rejection keeps the claimed reason code
    unless the chain's own (`reject_code`) says otherwise."""
    moment = now or utcnow()
    with runtime.sessions.begin() as session:
        proposal = session.get(NameProposal, proposal_id)
        if proposal is None or proposal.state != "pending":
            return False
        code = (reject_code if reject_code is not None else proposal.reject_code) if state == "rejected" else None
        changed = session.execute(
            update(NameProposal)
            .where(NameProposal.id == proposal_id, NameProposal.state == "pending")
            .values(
                state=state,
                decision_tx_hash=tx_hash,
                decided_at=moment,
                reject_code=code,
                reject_note=proposal.reject_note if state == "rejected" else "",
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            return False
        member = session.get(StaffMember, proposal.decided_by) if proposal.decided_by is not None else None
        before = decision_view(proposal)
        session.refresh(proposal)
        audit.record(
            session,
            town_id=proposal.municipality_id,
            actor=actor or (member.email if member is not None else CHAIN_ACTOR),
            action="name_proposal.approve" if state == "approved" else "name_proposal.reject",
            target_type="name_proposal",
            target_id=str(proposal.id),
            before=before,
            after=decision_view(proposal),
            at=moment,
        )
    return True


def _decision_receipt(chain: NamingChain, proposal_id: int) -> tuple[str, OnceReceipt] | None:
    """Our mined, successful approve or reject of `proposal_id`, if any (at most one can be)."""
    for step, state in (("approve", "approved"), ("reject", "rejected")):
        receipt = chain.sender.find(proposal_purpose(proposal_id, step))
        if receipt is not None and receipt.ok:
            return state, receipt
    return None


def _rejected_code(chain: NamingChain, lot: Lot, receipt: OnceReceipt) -> int | None:
    """The reason code of the `NameRejected` event in `receipt`."""
    events = receipt.events(chain.rights(lot.contract).events.NameRejected(), lot.contract)
    return int(events[0]["args"]["reason"]) if events else None


# ── the reconcile ───────────────────────────────────────────────────────────


def _lots_to_watch(session: Session, now: datetime) -> list[Lot]:
    """Awarded lots whose term has not ended, and any lot with a proposal still open."""
    open_proposal = exists().where(NameProposal.lot_id == Lot.id, NameProposal.state.in_(OPEN_STATES))
    query = select(Lot).where(
        Lot.phase == "awarded", Lot.chain_lot_id.is_not(None), (Lot.term_end > now) | open_proposal
    )
    return list(session.scalars(query.order_by(Lot.id)))


def _open_proposal(runtime: Runtime, lot_id: int) -> NameProposal | None:
    with runtime.sessions() as session:
        return session.scalar(
            select(NameProposal).where(NameProposal.lot_id == lot_id, NameProposal.state.in_(OPEN_STATES))
        )


def _enter_wallet_proposal(runtime: Runtime, chain: NamingChain, lot: Lot, name: str, state: str) -> None:
    """A name the winner proposed from their own wallet, entered in the queue (or, when it
    was approved on chain before we saw it, in the history)."""
    proposer = chain_winner(chain, lot) or lot.awarded_to or ""
    try:
        with runtime.sessions.begin() as session:
            proposal = NameProposal(
                lot_id=lot.id,
                municipality_id=lot.municipality_id,
                proposer=proposer,
                name=name,
                via="wallet",
                state=state,
                proposed_at=utcnow(),
                decided_at=utcnow() if state == "approved" else None,
            )
            session.add(proposal)
            session.flush()
            if state == "approved":
                audit.record(
                    session,
                    town_id=lot.municipality_id,
                    actor=CHAIN_ACTOR,
                    action="name_proposal.approve",
                    target_type="name_proposal",
                    target_id=str(proposal.id),
                    after=decision_view(proposal),
                )
    except IntegrityError:  # another process entered it first
        return
    log.info("lot %s: name %r proposed from a wallet entered as %s", lot.id, name, state)


def reconcile_lot(runtime: Runtime, chain: NamingChain, lot: Lot) -> None:
    """Bring the lot's proposals in line with its `nameRecord` (module docstring)."""
    open_ = _open_proposal(runtime, lot.id)
    if open_ is not None and open_.state == "relaying":
        if aware(open_.proposed_at) > utcnow() - RELAY_LEFT_TO_REQUEST:
            return  # the request that stored it is relaying it now
        relay(runtime, chain, open_.id)
        open_ = _open_proposal(runtime, lot.id)
    status, name = name_record(chain, lot)
    if open_ is not None and open_.state == "pending":
        ours = _decision_receipt(chain, open_.id)
        if ours is not None:
            state, receipt = ours
            code = _rejected_code(chain, lot, receipt) if state == "rejected" else None
            finalize(runtime, open_.id, state, tx_hash=receipt.tx_hash, reject_code=code)
        elif status is NameStatus.APPROVED and name == open_.name:
            finalize(runtime, open_.id, "approved", tx_hash=None, actor=CHAIN_ACTOR)
        elif status is NameStatus.PENDING and name == open_.name:
            return  # awaiting the town's decision
        elif not _decision_on_its_way(chain, open_.id):
            finalize(runtime, open_.id, "rejected", tx_hash=None, actor=CHAIN_ACTOR)
        else:
            return  # our decision is stored, not mined yet: the next round records it
        open_ = _open_proposal(runtime, lot.id)
    if open_ is not None:
        return
    if status is NameStatus.PENDING:
        _enter_wallet_proposal(runtime, chain, lot, name, "pending")
    elif status is NameStatus.APPROVED:
        with runtime.sessions() as session:
            known = session.scalar(
                select(NameProposal.id).where(NameProposal.lot_id == lot.id, NameProposal.state == "approved")
            )
        if known is None:
            _enter_wallet_proposal(runtime, chain, lot, name, "approved")


def _decision_on_its_way(chain: NamingChain, proposal_id: int) -> bool:
    """True while an approve or reject of ours is stored and not yet recorded as mined."""
    for step in ("approve", "reject"):
        purpose = proposal_purpose(proposal_id, step)
        if is_stored(chain.sender, purpose) and chain.sender.find(purpose) is None:
            return True
    return False


def reconcile(runtime: Runtime, chain: NamingChain, now: datetime | None = None) -> int:
    """One round over every lot to watch; returns how many were looked at. A lot the node
    cannot answer for is skipped (logged) and tried again next round."""
    with runtime.sessions() as session:
        lots = _lots_to_watch(session, now or utcnow())
    for lot in lots:
        try:
            reconcile_lot(runtime, chain, lot)
        except Exception as exc:
            log.warning("lot %s: names not reconciled: %s", lot.id, first_line(exc))
    return len(lots)


# ── term-end notices ────────────────────────────────────────────────────────


class TermNotice(BaseModel):
    lot_id: int
    park_id: int
    park_name: str
    term_start: UtcDateTime
    term_end: UtcDateTime
    days_left: int
    #: A later lot of the park (the next term), if one is already opened.
    next_lot_id: int | None
    #: When the owners and editors were mailed about it (null: not yet).
    notified_at: UtcDateTime | None


class TermNotices(BaseModel):
    notice_days: int
    items: list[TermNotice]


def _ending(town_id: int | None, now: datetime) -> Any:
    horizon = now + timedelta(days=rules.TERM_NOTICE_DAYS)
    query = (
        select(Lot, Park)
        .join(Park, Park.id == Lot.park_id)
        .where(Lot.phase == "awarded", Lot.term_end > now, Lot.term_end <= horizon)
    )
    if town_id is not None:
        query = query.where(Lot.municipality_id == town_id)
    return query.order_by(Lot.term_end, Lot.id)


def next_lot_id(session: Session, lot: Lot) -> int | None:
    """A lot of the same park for a later term that is not unsold."""
    return session.scalar(
        select(Lot.id)
        .where(Lot.park_id == lot.park_id, Lot.id != lot.id, Lot.term_start >= lot.term_end, Lot.phase != "unsold")
        .order_by(Lot.term_start)
        .limit(1)
    )


def term_notices(session: Session, town_id: int, now: datetime) -> TermNotices:
    items = []
    for lot, park in session.execute(_ending(town_id, now)).all():
        left = aware(lot.term_end) - now
        items.append(
            TermNotice(
                lot_id=lot.id,
                park_id=park.id,
                park_name=park.name_ja,
                term_start=lot.term_start,
                term_end=lot.term_end,
                days_left=max(0, -(-int(left.total_seconds()) // 86_400)),
                next_lot_id=next_lot_id(session, lot),
                notified_at=lot.term_notice_at,
            )
        )
    return TermNotices(notice_days=rules.TERM_NOTICE_DAYS, items=items)


def notice_text(town: Municipality, park: Park, lot: Lot, public_url: str) -> tuple[str, str]:
    end = aware(lot.term_end).astimezone(JST).strftime("%Y年%m月%d日")
    end_en = aware(lot.term_end).astimezone(JST).strftime("%Y-%m-%d")
    console = f"{public_url.rstrip('/')}/console/"
    subject = f"命名権の期間が{end}に終わります：{park.name_ja} / Naming term ends {end_en}"
    body = (
        f"{town.name_ja} ご担当者さま\n\n"
        f"{park.name_ja}の命名権（区画 {lot.id}）の期間が{end}に終わります。\n"
        "期間が終わると、公園の名前はチェーン上で自動的に元の名前に戻ります。\n"
        "次の期間の命名権（新しい区画）を公開し、看板の掛け替えを手配してください。\n\n"
        f"コンソール: {console}\n\n"
        "----\n\n"
        f"The naming term of {park.name_en or park.name_ja} (lot {lot.id}) ends on {end_en}.\n"
        "When it ends, the park's name returns to its default name on chain by itself.\n"
        "Open the next term's lot and arrange for the sign to be changed.\n\n"
        f"Console: {console}\n"
    )
    return subject, body


def recipients(session: Session, town_id: int) -> list[str]:
    """The town's owners and editors."""
    query = (
        select(StaffMember.email)
        .join(StaffRole, StaffRole.staff_id == StaffMember.id)
        .where(StaffRole.municipality_id == town_id, StaffRole.role.in_(("owner", "editor")))
        .order_by(StaffMember.email)
    )
    return list(session.scalars(query))


def send_term_notices(runtime: Runtime, now: datetime | None = None) -> int:
    """Mail the owners and editors of each town whose term ends within the notice days, once
    per lot: the lot is claimed by a conditional UPDATE of `term_notice_at` before any mail,
    so two processes (or rounds) never both send it. Returns the lots notified now."""
    moment = now or utcnow()
    with runtime.sessions() as session:
        due = [lot.id for lot, _park in session.execute(_ending(None, moment)).all() if lot.term_notice_at is None]
    sent = 0
    for lot_id in due:
        with runtime.sessions.begin() as session:
            claimed = session.execute(
                update(Lot)
                .where(Lot.id == lot_id, Lot.term_notice_at.is_(None))
                .values(term_notice_at=moment)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue
            lot = session.get(Lot, lot_id)
            assert lot is not None
            park = session.get(Park, lot.park_id)
            town = session.get(Municipality, lot.municipality_id)
            assert park is not None
            assert town is not None
            to = recipients(session, town.id)
            subject, body = notice_text(town, park, lot, runtime.settings.public_url)
        for address in to:
            mail.deliver(runtime.settings, address, subject, body, "term-end notice", logger=log)
        sent += 1
    return sent


# ── the watcher ─────────────────────────────────────────────────────────────


@dataclass
class NamingWatcher:
    """The naming area's loop: reconcile names with the chain, then term-end notices. Without
    the admin key (an API process given only the minter's) it sends the notices alone."""

    runtime: Runtime
    every_seconds: float = WATCH_SECONDS
    _chain: NamingChain | None = None

    def chain(self) -> NamingChain | None:
        if self._chain is None:
            self._chain = naming_chain(self.runtime, timeout=WATCH_RECEIPT_WAIT)
        return self._chain

    def round(self) -> None:
        chain = self.chain()
        if chain is not None:
            reconcile(self.runtime, chain)
        send_term_notices(self.runtime)

    def run(self, stop: Any) -> None:
        while not stop.wait(self.every_seconds):
            try:
                self.round()
            except Exception as exc:  # node down, database busy: next round
                log.warning("naming watcher round failed: %s", first_line(exc))

    def start_thread(self) -> LoopThread:
        return start_loop(self.run, "naming-watcher")
